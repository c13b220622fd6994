// ext.compose-ssh's docker side, shared by both compose commands: the constant shell scripts it runs on
// the host (each value reaches them as a quoted positional argument, never inside the script), the
// argv of a compose command for `docker compose` (v2) or `docker-compose` (v1), and the reading of
// `docker inspect` — status is read from the containers labelled com.docker.compose.project=<project>,
// which both compose versions set, never from the v2-only `compose ps --format json`.
import { z } from "zod";

import { tailLine } from "@/lib/ssh";

export const COMPOSE_COMMANDS = ["v2", "v1"] as const;
/** `v2`: the `docker compose` plugin; `v1`: the standalone `docker-compose` program. */
export type ComposeCommand = (typeof COMPOSE_COMMANDS)[number];

export const PROJECT_LABEL = "com.docker.compose.project";
const SERVICE_LABEL = "com.docker.compose.service";
const WORKING_DIR_LABEL = "com.docker.compose.project.working_dir";
const CONFIG_FILES_LABEL = "com.docker.compose.project.config_files";

/** The argv of a compose command for this project (global flags first, as both versions want them). */
export function composeArgv(
  command: ComposeCommand,
  project: string,
  files: readonly string[],
  envFile: string | null,
  sub: readonly string[],
): string[] {
  const argv = command === "v2" ? ["docker", "compose", "-p", project] : ["docker-compose", "-p", project];
  for (const f of files) argv.push("-f", f);
  if (envFile) argv.push("--env-file", envFile);
  return [...argv, ...sub];
}

/** The human name of a compose command, for messages. */
export function composeName(command: ComposeCommand): string {
  return command === "v2" ? "docker compose" : "docker-compose";
}

/** argv run with DOCKER_HOST set (an argument of `env`, quoted like every other), or argv itself. */
export function withDockerHost(dockerHost: string | null | undefined, argv: readonly string[]): string[] {
  return dockerHost ? ["env", `DOCKER_HOST=${dockerHost}`, ...argv] : [...argv];
}

// ─── Scripts (constant text; "$1"… are the arguments) ───────────────────────────────────────────

/**
 * What the host offers: `SBX:no-docker`, or `SBX:engine <server version>` (or `SBX:engine-failed
 * <why>`), then `SBX:compose v2 <version>`, `SBX:compose v1 <version>` or `SBX:no-compose <why>`.
 * "$1" is the wanted command (auto, v2, v1); "$2" is `full` to also run docker-compose's version
 * (a Python start-up, so create's quick probe only looks for the program).
 */
export const PROBE = `want=$1
if ! command -v docker >/dev/null 2>&1; then echo SBX:no-docker; exit 0; fi
if out=$(docker version --format '{{.Server.Version}}' 2>&1); then
  printf 'SBX:engine %s\\n' "$out"
else
  printf 'SBX:engine-failed %s\\n' "$(printf '%s\\n' "$out" | grep . | tail -n 2 | tr '\\n' ' ')"
  exit 0
fi
why=
if [ "$want" != v1 ]; then
  if out=$(docker compose version --short 2>&1); then printf 'SBX:compose v2 %s\\n' "$out"; exit 0; fi
  why="docker compose: $(printf '%s\\n' "$out" | grep . | head -n 1)"
fi
if [ "$want" != v2 ]; then
  if command -v docker-compose >/dev/null 2>&1; then
    if [ "$2" != full ]; then echo 'SBX:compose v1 (found)'; exit 0; fi
    if out=$(docker-compose version --short 2>&1); then printf 'SBX:compose v1 %s\\n' "$out"; exit 0; fi
    why="$why\${why:+; }docker-compose: $(printf '%s\\n' "$out" | grep . | head -n 1)"
  else
    why="$why\${why:+; }docker-compose is not on the PATH"
  fi
fi
printf 'SBX:no-compose %s\\n' "$why"`;

/** `docker inspect` of every container of project "$1" (stopped ones too); nothing when it has none. */
export const LIST_CONTAINERS = `ids=$(docker ps -a -q --no-trunc --filter "label=${PROJECT_LABEL}=$1") || exit $?
[ -n "$ids" ] || exit 0
exec docker inspect $ids`;

/**
 * Sets c, n and v to the ids of the containers, networks and volumes labelled with project "$1". The
 * three listings run at once (a docker client takes 50–60 ms to start on a slow VM, and destroy lists
 * twice), each into a file in a private temporary directory (removed on exit) ending with a marker
 * written only after the listing succeeded. A file without its marker — a listing failed, or a full
 * disk cut the file short (a full disk is a reason to destroy) — or no temporary directory at all:
 * they run again one after the other without files, and the first failure's status is the script's
 * (127: no docker). `SBX:end` cannot be in a docker id or name (no colon in those).
 */
const LIST_LABELLED = `f="label=${PROJECT_LABEL}=$1"
list_c() { docker ps -a -q --no-trunc --filter "$f"; }
list_n() { docker network ls -q --no-trunc --filter "$f"; }
list_v() { docker volume ls -q --filter "$f"; }
ended() { r=$(cat "$1") || return 1; case $r in *SBX:end) r=\${r%SBX:end}; return 0 ;; esac; return 1; }
listed=
if d=$(mktemp -d 2>/dev/null); then
  trap 'rm -rf "$d"' EXIT
  (list_c && echo SBX:end) >"$d/c" 2>/dev/null &
  (list_n && echo SBX:end) >"$d/n" 2>/dev/null &
  (list_v && echo SBX:end) >"$d/v" 2>/dev/null &
  wait
  ended "$d/c" && c=$r && ended "$d/n" && n=$r && ended "$d/v" && v=$r && listed=1
fi
if [ -z "$listed" ]; then
  c=$(list_c) || exit $?
  n=$(list_n) || exit $?
  v=$(list_v) || exit $?
fi`;

/** Every container, network and volume labelled with project "$1": `container <id>`, `network <id>`, `volume <name>`. */
export const LIST_RESOURCES = `${LIST_LABELLED}
for x in $c; do echo "container $x"; done
for x in $n; do echo "network $x"; done
for x in $v; do echo "volume $x"; done`;

/**
 * Removes what carries project "$1"'s label — containers (with their anonymous volumes), then networks,
 * then volumes — printing `removed <kind> <name>`; when it removed anything it lists again and fails
 * naming whatever is left (nothing found: three listings and done, the usual case after a `down`).
 * It lists everything first ({@link LIST_LABELLED}); the removals keep their order, as a network is in
 * use until its containers go.
 * This is how a project goes when its compose files are gone (v1's `down` refuses to run without
 * them), and the sweep after a `down` (v1 removes only the volumes its files declare).
 */
export const REMOVE_BY_LABEL = `${LIST_LABELLED}
did=
if [ -n "$c" ]; then docker rm -f -v $c >/dev/null || exit $?; did=1; for x in $c; do echo "removed container $x"; done; fi
if [ -n "$n" ]; then docker network rm $n >/dev/null || exit $?; did=1; for x in $n; do echo "removed network $x"; done; fi
if [ -n "$v" ]; then docker volume rm -f $v >/dev/null || exit $?; did=1; for x in $v; do echo "removed volume $x"; done; fi
[ -n "$did" ] || exit 0
left="$(docker ps -a -q --filter "$f") $(docker network ls -q --filter "$f") $(docker volume ls -q --filter "$f")"
if [ -n "$(echo $left)" ]; then echo "still there after removal: $(echo $left)" >&2; exit 75; fi`;

/** The compose projects on the host (any container labelled with a project), one name a line. */
export const LIST_PROJECTS = `out=$(docker ps -a --filter label=${PROJECT_LABEL} --format '{{.Label "${PROJECT_LABEL}"}}') || exit $?
printf '%s\\n' "$out" | sort -u`;

/**
 * The last "$2" lines a container "$1" wrote to stdout and stderr, with docker's timestamps: the two
 * streams reach us through separate pipes, so their lines are put back in order by time
 * ({@link orderLogLines}). Docker stamps a line when it reads it from the container, so two lines
 * written microseconds apart on different streams can still come back swapped.
 */
export const LOG_TAIL = `exec docker logs --timestamps --tail "$2" "$1" 2>&1`;

/** Lines of `docker logs --timestamps` in the order they were written, without the timestamps. */
export function orderLogLines(text: string): string[] {
  const TS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ?/;
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line, i) => {
      const m = TS.exec(line);
      // RFC 3339 with nanoseconds trims trailing zeros: pad the fraction so that keys compare as text.
      const key = m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}${m[3]}` : "";
      return { key, i, text: m ? line.slice(m[0].length) : line };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i))
    .map((l) => l.text);
}

// ─── Reading the probe ───────────────────────────────────────────────────────────────────────────

export type ProbeResult =
  | { kind: "no-docker" }
  | { kind: "engine-failed"; reason: string }
  | { kind: "no-compose"; engine: string; reason: string }
  | { kind: "ok"; engine: string; command: ComposeCommand; version: string };

export function parseProbe(stdout: string): ProbeResult | null {
  const lines = stdout.split("\n");
  const value = (tag: string) => lines.find((l) => l.startsWith(`SBX:${tag} `))?.slice(tag.length + 5);
  if (lines.includes("SBX:no-docker")) return { kind: "no-docker" };
  const failed = value("engine-failed");
  if (failed !== undefined) return { kind: "engine-failed", reason: failed.trim() };
  const engine = value("engine");
  if (engine === undefined) return null;
  const compose = value("compose");
  if (compose !== undefined) {
    const [command, ...version] = compose.split(" ");
    if (command === "v2" || command === "v1") return { kind: "ok", engine: engine.trim(), command, version: version.join(" ").trim() };
  }
  const no = value("no-compose");
  if (no !== undefined) return { kind: "no-compose", engine: engine.trim(), reason: no.trim() };
  return null;
}

// ─── Reading `docker inspect` ────────────────────────────────────────────────────────────────────

const portBindingSchema = z.object({ HostIp: z.string().optional(), HostPort: z.string().optional() });
const inspectSchema = z.object({
  Id: z.string(),
  Name: z.string(),
  State: z.object({
    Status: z.string(),
    ExitCode: z.number().optional(),
    Health: z.object({ Status: z.string() }).nullable().optional(),
  }),
  Config: z.object({ Labels: z.record(z.string(), z.string()).nullable().optional() }),
  NetworkSettings: z
    .object({ Ports: z.record(z.string(), z.array(portBindingSchema).nullable()).nullable().optional() })
    .nullable()
    .optional(),
});

/** One container of a compose project, as `docker inspect` describes it. */
export interface ComposeContainer {
  id: string;
  name: string;
  service: string;
  /** docker's state: created, running, restarting, paused, exited, dead. */
  state: string;
  /** The health check's status (healthy, unhealthy, starting), or "" when the service has none. */
  health: string;
  exitCode: number | null;
  /** Published ports, e.g. "0.0.0.0:8080→80/tcp" (none under host networking). */
  ports: string[];
  /** The project's working directory and compose files, as compose recorded them in the labels. */
  workingDir: string | null;
  configFiles: string[];
}

export class InspectUnreadable extends Error {}

function clean(s: string, max = 200): string {
  // Names and labels come from the host: printable ASCII only, bounded.
  return s.replace(/[^\x20-\x7e]/g, "?").slice(0, max);
}

/** Reads `docker inspect`'s JSON array (empty output: no containers). */
export function parseInspect(stdout: string): ComposeContainer[] {
  const text = stdout.trim();
  if (text === "") return [];
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch {
    throw new InspectUnreadable(`docker inspect printed something that is not JSON: ${tailLine(text, 2)}`);
  }
  if (!Array.isArray(items)) throw new InspectUnreadable("docker inspect printed JSON that is not an array");
  return items.map((item) => {
    const parsed = inspectSchema.safeParse(item);
    if (!parsed.success) {
      throw new InspectUnreadable(
        `docker inspect printed an entry without Id, Name, State or Config: ${JSON.stringify(item).slice(0, 200)}`,
      );
    }
    const c = parsed.data;
    const labels = c.Config.Labels ?? {};
    const ports: string[] = [];
    for (const [target, bindings] of Object.entries(c.NetworkSettings?.Ports ?? {})) {
      const [port, proto = "tcp"] = target.split("/");
      for (const b of bindings ?? []) {
        if (!b.HostPort) continue;
        const ip = b.HostIp ?? "";
        ports.push(
          `${ip.includes(":") ? `[${ip}]` : ip}${ip ? ":" : ""}${clean(b.HostPort, 8)}→${clean(port ?? "", 8)}/${clean(proto, 8)}`,
        );
      }
    }
    return {
      id: c.Id,
      name: clean(c.Name.replace(/^\//, "")),
      service: clean(labels[SERVICE_LABEL] ?? c.Name.replace(/^\//, "")),
      state: clean(c.State.Status, 40),
      health: clean(c.State.Health?.Status ?? "", 40),
      exitCode: c.State.ExitCode ?? null,
      ports: [...new Set(ports)],
      workingDir: labels[WORKING_DIR_LABEL] ?? null,
      configFiles: (labels[CONFIG_FILES_LABEL] ?? "").split(",").filter((f) => f !== ""),
    };
  });
}

/** Up: running and not unhealthy. */
export function isUp(c: ComposeContainer): boolean {
  return c.state === "running" && c.health !== "unhealthy";
}

/** Failed: stopped with a non-zero exit code, dead, or unhealthy. */
export function isFailed(c: ComposeContainer): boolean {
  return (c.state === "exited" && (c.exitCode ?? 0) !== 0) || c.state === "dead" || (c.state === "running" && c.health === "unhealthy");
}

/** The state in one word or two, as the page and the log show it. */
export function stateWord(c: ComposeContainer): string {
  if (c.state === "running") return c.health ? `running (${c.health})` : "running";
  if (c.state === "exited") return c.exitCode ? `failed (exit code ${c.exitCode})` : "exited (exit code 0)";
  return c.state;
}

export function describeContainer(c: ComposeContainer): string {
  return `${c.service} (${c.name}): ${stateWord(c)}${c.ports.length ? `; published ${c.ports.join(", ")}` : ""}`;
}

/** Names the resources LIST_RESOURCES printed. */
export function parseResources(stdout: string): { containers: string[]; networks: string[]; volumes: string[] } {
  const out = { containers: [] as string[], networks: [] as string[], volumes: [] as string[] };
  for (const line of stdout.split("\n")) {
    const [kind, name] = line.trim().split(" ");
    if (!name) continue;
    if (kind === "container") out.containers.push(name);
    else if (kind === "network") out.networks.push(name);
    else if (kind === "volume") out.volumes.push(name);
  }
  return out;
}
