// Test harness: a STAND-IN `docker` program for the loopback build VMs (no Docker engine runs here).
// It is NOT docker: a small Node script that records every call (argv, cwd, the env file it was given)
// and answers what ext.compose-ssh runs, the way docker 20.10 with the compose v2 plugin does:
// `docker compose` version, up -d, down (and ps --format json), and plain docker version, ps -q/--format
// with a project-label filter, inspect, logs, rm, network ls/rm and volume ls — keeping each "project"
// as a JSON file. No container ever runs. Tests steer it with control files: fail-up, fail-down,
// fail-ps, no-compose (the plugin is missing), no-daemon (dockerd does not answer),
// service-exited:<name>, up-seconds (a slow up). Compose files can steer it too, with top-level
// `x-stand-in-fail-up: <message>` and `x-stand-in-up-seconds: <n>` (compose ignores `x-` keys), so
// params alone can make a create fail or crawl. The v1 `docker-compose` is not simulated: it is
// tested against a real engine (tests/support/docker-engine.ts).
//
// It is put first on the build user's PATH by starting the VM's sshd with `SetEnv PATH=…`
// (`sshdOptions` of startBuildVms); see {@link StandInDocker.sshdOptions}.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { ensureTestUser } from "./build-vms";

/** One recorded call of the stand-in. */
export interface StandInCall {
  /** The arguments after `docker`. */
  argv: string[];
  cwd: string;
  /** The variables of `--env-file` as compose would read them, when one was given and readable. */
  envFile?: Record<string, string>;
}

export interface StandInPublisher {
  URL: string;
  TargetPort: number;
  PublishedPort: number;
  Protocol: string;
}

/** A project the stand-in considers to exist (`up` ran, `down` did not). */
export interface StandInProject {
  project: string;
  workingDir: string;
  configFiles: string[];
  state: "created" | "running";
  services: { name: string; image: string | null; publishers: StandInPublisher[] }[];
  /** Whether its default network still exists. */
  network: boolean;
  env: Record<string, string>;
}

// The stand-in itself. Plain CommonJS for /usr/bin/node, no dependencies; `__STATE_DIR__` is replaced
// at install. Written as a string so the file on the "VM" is exactly what runs there.
const SCRIPT = String.raw`#!/usr/bin/node
// STAND-IN for docker, installed by sand-boxer's tests (tests/support/stand-in-docker.ts). NOT docker:
// it records each call and answers like docker with the compose v2 plugin for what sand-boxer runs.
// No container ever runs; projects are JSON files under the state directory.
"use strict";
const fs = require("fs");
const path = require("path");

const STATE = __STATE_DIR__;
const args = process.argv.slice(2);
const entry = { argv: args, cwd: process.cwd() };

function record() {
  fs.appendFileSync(path.join(STATE, "calls.jsonl"), JSON.stringify(entry) + "\n");
}
function control(name) {
  try {
    return fs.readFileSync(path.join(STATE, "control", name), "utf8").trim() || true;
  } catch {
    return null;
  }
}
function die(message, code) {
  process.stderr.write(message + "\n");
  process.exit(code === undefined ? 1 : code);
}
function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// compose-go's env-file reading, for the forms sand-boxer writes (and plain KEY=value).
function parseEnvFile(text) {
  const out = {};
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z0-9_.]+)\s*=\s*(.*)$/.exec(line);
    if (!m) die("failed to read env file: unexpected line " + JSON.stringify(raw));
    let v = m[2];
    if (v.startsWith("'")) {
      const end = v.indexOf("'", 1);
      if (end < 0) die("failed to read env file: unterminated quoted value " + v);
      v = v.slice(1, end);
    } else if (v.startsWith('"')) {
      const end = v.indexOf('"', 1);
      if (end < 0) die("failed to read env file: unterminated quoted value " + v);
      v = v.slice(1, end);
    } else {
      v = v.split("#")[0].replace(/\s+$/, "");
    }
    out[m[1]] = v;
  }
  return out;
}

function interpolate(s, env) {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, def, b) => {
    const v = env[a || b];
    return v !== undefined && v !== "" ? v : def !== undefined ? def : "";
  });
}

function unquote(s) {
  const t = s.trim();
  return (t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'")) ? t.slice(1, -1) : t;
}

// A line-based reading of a compose file: top-level x-stand-in-* keys, and under "services:" each
// service's image and ports. Enough for a stand-in; real compose parses YAML.
function parseCompose(text, env) {
  const out = { services: {}, x: {} };
  let inServices = false;
  let serviceIndent = null;
  let keyIndent = null;
  let current = null;
  let inPorts = false;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*(#.*)?$/.test(raw)) continue;
    const indent = raw.length - raw.replace(/^ +/, "").length;
    const line = raw.trim();
    if (indent === 0) {
      inServices = /^services:\s*$/.test(line);
      serviceIndent = keyIndent = current = null;
      inPorts = false;
      const x = /^(x-stand-in-[a-z-]+):\s*(.*)$/.exec(line);
      if (x) out.x[x[1]] = unquote(x[2]);
      continue;
    }
    if (!inServices) continue;
    if (serviceIndent === null) serviceIndent = indent;
    if (indent === serviceIndent) {
      const m = /^([A-Za-z0-9._-]+):\s*$/.exec(line);
      current = m ? (out.services[m[1]] = out.services[m[1]] || { image: null, ports: [] }) : null;
      keyIndent = null;
      inPorts = false;
      continue;
    }
    if (!current) continue;
    if (keyIndent === null) keyIndent = indent;
    if (indent === keyIndent && !line.startsWith("- ")) {
      const m = /^([A-Za-z_]+):\s*(.*)$/.exec(line);
      inPorts = !!m && m[1] === "ports";
      if (m && m[1] === "image") current.image = interpolate(unquote(m[2]), env);
      if (m && m[1] === "ports" && m[2].startsWith("[")) {
        current.ports = m[2].replace(/^\[|\]$/g, "").split(",").map((p) => interpolate(unquote(p), env)).filter(Boolean);
        inPorts = false;
      }
      continue;
    }
    if (inPorts && line.startsWith("- ")) current.ports.push(interpolate(unquote(line.slice(2)), env));
  }
  return out;
}

function publisher(spec) {
  const [mapping, proto] = spec.split("/");
  const parts = mapping.split(":");
  const target = Number(parts[parts.length - 1]);
  const published = parts.length >= 2 ? Number(parts[parts.length - 2]) : 0;
  return { URL: parts.length === 3 ? parts[0] : "0.0.0.0", TargetPort: target, PublishedPort: published, Protocol: proto || "tcp" };
}

const sha = (s) => require("crypto").createHash("sha256").update(s).digest("hex");
const containerId = (project, service) => sha(project + "-" + service + "-1");
const networkId = (project) => sha("network:" + project);
function projects() {
  const dir = path.join(STATE, "projects");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")));
}
function saveProject(p) {
  const file = path.join(STATE, "projects", p.project + ".json");
  if (p.services.length === 0 && !p.network) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.writeFileSync(file + ".tmp", JSON.stringify(p, null, 2));
  fs.renameSync(file + ".tmp", file);
}
function containerState(p, s) {
  const exited = control("service-exited:" + s.name) !== null;
  return exited ? "exited" : p.state;
}
// Every container the stand-in knows: { p, s, id }.
function containers() {
  return projects().flatMap((p) => p.services.map((s) => ({ p, s, id: containerId(p.project, s.name) })));
}
// --filter label=K or label=K=V (the only filter sand-boxer uses).
function labelFilter(rest) {
  const k = rest.indexOf("--filter");
  if (k < 0) return () => true;
  const m = /^label=([^=]+)(?:=(.*))?$/.exec(rest[k + 1] || "");
  if (!m) die("stand-in docker: only --filter label=… is simulated");
  if (m[1] !== "com.docker.compose.project") return () => false;
  return (project) => m[2] === undefined || m[2] === project;
}
function needsDaemon() {
  const failure = control("no-daemon");
  if (failure) die(failure === true ? "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" : failure);
}

if (args[0] !== "compose") {
  record();
  const [cmd, ...rest] = args;
  if (cmd === "version") {
    needsDaemon();
    process.stdout.write("20.10.24-stand-in\n");
    process.exit(0);
  }
  needsDaemon();
  if (cmd === "ps") {
    const failure = control("fail-ps");
    if (failure) die(failure === true ? "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" : failure);
    const match = labelFilter(rest);
    const all = rest.includes("-a");
    const shown = containers().filter((c) => match(c.p.project) && (all || containerState(c.p, c.s) === "running"));
    const k = rest.indexOf("--format");
    if (k >= 0) {
      if (rest[k + 1] !== '{{.Label "com.docker.compose.project"}}') die("stand-in docker: only the project-label --format is simulated");
      process.stdout.write(shown.map((c) => c.p.project + "\n").join(""));
    } else if (rest.includes("-q")) {
      process.stdout.write(shown.map((c) => (rest.includes("--no-trunc") ? c.id : c.id.slice(0, 12)) + "\n").join(""));
    } else die("stand-in docker: only ps -q and ps --format are simulated");
    process.exit(0);
  }
  if (cmd === "inspect") {
    const known = containers();
    const out = [];
    let missing = false;
    for (const id of rest) {
      const c = known.find((k) => k.id === id || k.id.startsWith(id));
      if (!c) {
        process.stderr.write("Error: No such object: " + id + "\n");
        missing = true;
        continue;
      }
      const state = containerState(c.p, c.s);
      const ports = {};
      for (const pub of c.s.publishers) {
        const key = pub.TargetPort + "/" + pub.Protocol;
        ports[key] = ports[key] || [];
        if (state === "running" && pub.PublishedPort > 0) {
          ports[key].push({ HostIp: pub.URL, HostPort: String(pub.PublishedPort) });
          if (pub.URL === "0.0.0.0") ports[key].push({ HostIp: "::", HostPort: String(pub.PublishedPort) });
        }
      }
      out.push({
        Id: c.id,
        Name: "/" + c.p.project + "-" + c.s.name + "-1",
        State: { Status: state, Running: state === "running", ExitCode: state === "exited" ? 1 : 0 },
        Config: {
          Image: c.s.image || "",
          Labels: {
            "com.docker.compose.project": c.p.project,
            "com.docker.compose.service": c.s.name,
            "com.docker.compose.project.working_dir": c.p.workingDir,
            "com.docker.compose.project.config_files": c.p.configFiles.join(","),
          },
        },
        NetworkSettings: { Ports: ports },
      });
    }
    process.stdout.write(JSON.stringify(out, null, 4) + "\n");
    process.exit(missing ? 1 : 0);
  }
  if (cmd === "logs") {
    const id = rest[rest.length - 1];
    const c = containers().find((k) => k.id === id);
    if (!c) die("Error: No such container: " + id);
    process.stdout.write("stand-in " + c.s.name + ": starting\n");
    if (containerState(c.p, c.s) === "exited") process.stderr.write("stand-in " + c.s.name + ": fatal: could not start, exiting with 1\n");
    process.exit(0);
  }
  if (cmd === "rm") {
    const known = containers();
    for (const id of rest.filter((a) => !a.startsWith("-"))) {
      const c = known.find((k) => k.id === id);
      if (!c) die("Error: No such container: " + id);
      const p = projects().find((x) => x.project === c.p.project);
      p.services = p.services.filter((s) => s.name !== c.s.name);
      saveProject(p);
    }
    process.exit(0);
  }
  if ((cmd === "network" || cmd === "volume") && rest[0] === "ls") {
    const match = labelFilter(rest);
    if (cmd === "network") process.stdout.write(projects().filter((p) => p.network && match(p.project)).map((p) => networkId(p.project) + "\n").join(""));
    process.exit(0);
  }
  if (cmd === "network" && rest[0] === "rm") {
    for (const id of rest.slice(1)) {
      const p = projects().find((x) => x.network && networkId(x.project) === id);
      if (!p) die("Error: No such network: " + id);
      p.network = false;
      saveProject(p);
    }
    process.exit(0);
  }
  die("stand-in docker (sand-boxer tests): " + JSON.stringify(args.join(" ")) + " is not simulated");
}

if (control("no-compose")) {
  // What a docker client without the compose plugin says (docker 28).
  record();
  die("docker: unknown command: docker compose\n\nRun 'docker --help' for more information");
}

const g = { project: null, files: [], envFile: null };
let i = 1;
for (; i < args.length && args[i].startsWith("-"); i++) {
  const flag = args[i];
  const value = () => {
    if (i + 1 >= args.length) {
      record();
      die("flag needs an argument: " + flag);
    }
    return args[++i];
  };
  if (flag === "-p" || flag === "--project-name") g.project = value();
  else if (flag === "-f" || flag === "--file") g.files.push(value());
  else if (flag === "--env-file") g.envFile = value();
  else {
    record();
    die("unknown flag: " + flag);
  }
}
const command = args[i];
const rest = args.slice(i + 1);
let env = {};
if (g.envFile !== null) {
  const file = path.resolve(g.envFile);
  if (!fs.existsSync(file)) {
    record();
    die("couldn't find env file: " + file);
  }
  env = parseEnvFile(fs.readFileSync(file, "utf8"));
  entry.envFile = env;
}
record();

if (command === "version") {
  process.stdout.write(rest.includes("--short") ? "2.29.7-stand-in\n" : "Docker Compose version v2.29.7 (sand-boxer test stand-in, not docker)\n");
  process.exit(0);
}

if (g.project === null) die("stand-in docker: give -p <project>; this stand-in does not derive project names");
if (!/^[a-z0-9][a-z0-9_-]*$/.test(g.project)) die("invalid project name " + JSON.stringify(g.project) + ": must contain only lowercase letters, decimal digits, dashes, and underscores");
const project = g.project;
const stateFile = path.join(STATE, "projects", project + ".json");
const load = () => (fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, "utf8")) : null);
const save = (p) => {
  fs.writeFileSync(stateFile + ".tmp", JSON.stringify(p, null, 2));
  fs.renameSync(stateFile + ".tmp", stateFile);
};
const containerName = (service) => project + "-" + service + "-1";
function flags(allowed) {
  const seen = new Set();
  for (let k = 0; k < rest.length; k++) {
    const a = rest[k];
    if (!allowed.includes(a)) die("unknown flag: " + a);
    seen.add(a);
  }
  return seen;
}

if (command === "up") {
  const f = flags(["-d", "--detach", "--remove-orphans"]);
  if (!f.has("-d") && !f.has("--detach")) die("stand-in docker: only \"up -d\" is simulated");
  const files = g.files.length ? g.files : ["compose.yaml"];
  const services = {};
  const x = {};
  const configFiles = [];
  for (const name of files) {
    const file = path.resolve(name);
    if (!fs.existsSync(file)) die("open " + file + ": no such file or directory");
    configFiles.push(file);
    const parsed = parseCompose(fs.readFileSync(file, "utf8"), env);
    Object.assign(x, parsed.x);
    for (const [svc, def] of Object.entries(parsed.services)) {
      const prev = services[svc] || { image: null, ports: [] };
      services[svc] = { image: def.image || prev.image, ports: prev.ports.concat(def.ports) };
    }
  }
  const names = Object.keys(services).sort();
  if (names.length === 0) die("no service selected");
  const state = {
    project,
    workingDir: process.cwd(),
    configFiles,
    state: "created",
    services: names.map((n) => ({ name: n, image: services[n].image, publishers: services[n].ports.map(publisher) })),
    network: true,
    env,
  };
  process.stderr.write(" stand-in docker: simulating \"compose up\" of " + project + " (no containers really run)\n");
  process.stderr.write(" Network " + project + "_default  Created\n");
  save(state);
  for (const n of names) process.stderr.write(" Container " + containerName(n) + "  Created\n");
  const failure = control("fail-up") || x["x-stand-in-fail-up"];
  if (failure) {
    const why = failure === true ? "pull access denied for stand-in/missing, repository does not exist or may require 'docker login'" : failure;
    die("Error response from daemon: " + why);
  }
  const seconds = Number(control("up-seconds") || x["x-stand-in-up-seconds"] || 0);
  for (let waited = 0; waited < seconds * 1000; waited += 100) sleep(100);
  state.state = "running";
  save(state);
  for (const n of names) process.stderr.write(" Container " + containerName(n) + "  Started\n");
  process.exit(0);
}

if (command === "ps") {
  const f = flags(["--all", "-a", "--format", "json"]);
  const json = f.has("--format");
  if (json && rest[rest.indexOf("--format") + 1] !== "json") die("stand-in docker: only \"--format json\" is simulated");
  const failure = control("fail-ps");
  if (failure) die(failure === true ? "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" : failure);
  const p = load();
  const containers = (p ? p.services : []).map((s) => {
    const exited = control("service-exited:" + s.name) !== null;
    const state = exited ? "exited" : p.state;
    return {
      Command: "\"stand-in\"",
      ExitCode: exited ? 1 : 0,
      Health: "",
      ID: require("crypto").createHash("sha256").update(containerName(s.name)).digest("hex").slice(0, 12),
      Image: s.image || "",
      Name: containerName(s.name),
      Project: project,
      Publishers: state === "running" ? s.publishers : [],
      Service: s.name,
      State: state,
      Status: state === "running" ? "Up 2 seconds" : state === "exited" ? "Exited (1) 1 second ago" : "Created",
    };
  });
  const shown = f.has("--all") || f.has("-a") ? containers : containers.filter((c) => c.State === "running");
  if (!json) {
    process.stdout.write("NAME\tIMAGE\tSERVICE\tSTATUS\n" + shown.map((c) => [c.Name, c.Image, c.Service, c.Status].join("\t") + "\n").join(""));
  } else if (control("ps-format-array")) {
    process.stdout.write(JSON.stringify(shown) + "\n");
  } else {
    process.stdout.write(shown.map((c) => JSON.stringify(c) + "\n").join(""));
  }
  process.exit(0);
}

if (command === "down") {
  const f = flags(["--volumes", "-v", "--remove-orphans"]);
  const p = load();
  const failure = control("fail-down");
  if (failure) {
    die("Error response from daemon: " + (failure === true ? "cannot stop container " + containerName(p ? p.services[0].name : "web") + ": permission denied" : failure));
  }
  if (!p) {
    process.stderr.write("Warning: No resource found to remove for project \"" + project + "\".\n");
    process.exit(0);
  }
  for (const s of p.services) process.stderr.write(" Container " + containerName(s.name) + "  Removed\n");
  if (f.has("--volumes") || f.has("-v")) process.stderr.write(" Volume " + project + "_data  Removed\n");
  process.stderr.write(" Network " + project + "_default  Removed\n");
  fs.rmSync(stateFile);
  process.exit(0);
}

die("stand-in docker: \"compose " + command + "\" is not simulated");
`;

export interface StandInDocker {
  /** Holds bin/docker (the stand-in) and state/ (its records); removed by {@link StandInDocker.remove}. */
  dir: string;
  binDir: string;
  stateDir: string;
  /** Give to `startBuildVms` as the VM's `sshdOptions`: puts the stand-in first on the PATH of every session. */
  sshdOptions: Record<string, string>;
  /** Every call so far, oldest first. */
  calls(): StandInCall[];
  /** Forgets the calls so far (each test asserts its own). */
  clearCalls(): void;
  /** The project as the stand-in keeps it, or null when it does not exist. */
  project(name: string): StandInProject | null;
  /** Sets (a string or true) or clears (null) a control file, e.g. "fail-down" or "service-exited:redis". */
  control(name: string, value: string | true | null): void;
  remove(): void;
}

/**
 * Installs a stand-in docker into a fresh directory. Call it before starting the VM (whose sshd needs
 * {@link StandInDocker.sshdOptions}); the state directory is made writable by the test user.
 */
export async function createStandInDocker(opts: { user?: string } = {}): Promise<StandInDocker> {
  const { uid, gid } = await ensureTestUser(opts.user);
  const dir = mkdtempSync(path.join(tmpdir(), "sbx-stand-in-docker-"));
  // sshd_config cannot hold whitespace in a SetEnv value.
  if (/\s/.test(dir)) throw new Error(`stand-in dir ${dir} contains whitespace`);
  chmodSync(dir, 0o755);
  const binDir = path.join(dir, "bin");
  const stateDir = path.join(dir, "state");
  const controlDir = path.join(stateDir, "control");
  const callsFile = path.join(stateDir, "calls.jsonl");
  mkdirSync(binDir, { mode: 0o755 });
  mkdirSync(path.join(stateDir, "projects"), { recursive: true, mode: 0o755 });
  mkdirSync(controlDir, { mode: 0o755 });
  writeFileSync(callsFile, "");
  for (const p of [stateDir, path.join(stateDir, "projects"), callsFile]) chownSync(p, uid, gid);
  writeFileSync(path.join(binDir, "docker"), SCRIPT.replace("__STATE_DIR__", JSON.stringify(stateDir)), { mode: 0o755 });

  return {
    dir,
    binDir,
    stateDir,
    sshdOptions: { SetEnv: `PATH=${binDir}:/usr/local/bin:/usr/bin:/bin` },
    calls() {
      return readFileSync(callsFile, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as StandInCall);
    },
    clearCalls() {
      truncateSync(callsFile, 0);
    },
    project(name) {
      const file = path.join(stateDir, "projects", `${name}.json`);
      return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as StandInProject) : null;
    },
    control(name, value) {
      if (!/^[a-z0-9:._-]+$/.test(name)) throw new Error(`bad control name ${name}`);
      const file = path.join(controlDir, name);
      if (value === null) rmSync(file, { force: true });
      else writeFileSync(file, value === true ? "" : value, { mode: 0o644 });
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
