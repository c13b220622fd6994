// ext.compose-ssh's pure parts: reading `docker inspect` (status for both compose versions, published
// ports included), the probe's answer, the argv of either compose command, and the params/handle
// guards that keep paths inside the workspace and env values literal.
import { describe, expect, it } from "vitest";

import { composeArgv, orderLogLines, parseInspect, parseProbe, parseResources, stateWord, withDockerHost } from "./docker";
import { composeSshHandleSchema, composeSshParamsSchema } from "./extension";

const labels = (service: string) => ({
  "com.docker.compose.project": "sbx-abcdefgh",
  "com.docker.compose.service": service,
  "com.docker.compose.project.working_dir": "/build/sbx-abcdefgh",
  "com.docker.compose.project.config_files": "/build/sbx-abcdefgh/compose.yaml,/build/sbx-abcdefgh/extra.yaml",
});
const web = {
  Id: "a".repeat(64),
  Name: "/sbx-abcdefgh-web-1",
  State: { Status: "running", ExitCode: 0, Health: { Status: "healthy" } },
  Config: { Labels: labels("web") },
  NetworkSettings: {
    Ports: {
      "80/tcp": [
        { HostIp: "0.0.0.0", HostPort: "8080" },
        { HostIp: "::", HostPort: "8080" },
      ],
      "6379/tcp": null,
    },
  },
};
const worker = {
  Id: "b".repeat(64),
  Name: "/sbx-abcdefgh_worker_1",
  State: { Status: "exited", ExitCode: 3 },
  Config: { Labels: labels("worker") },
  NetworkSettings: { Ports: {} },
};

describe("parseInspect", () => {
  it("reads service, state, health, exit code and published ports from docker inspect (v1 and v2 containers alike)", () => {
    expect(parseInspect(JSON.stringify([web, worker], null, 2))).toEqual([
      {
        id: web.Id,
        name: "sbx-abcdefgh-web-1",
        service: "web",
        state: "running",
        health: "healthy",
        exitCode: 0,
        ports: ["0.0.0.0:8080→80/tcp", "[::]:8080→80/tcp"],
        workingDir: "/build/sbx-abcdefgh",
        configFiles: ["/build/sbx-abcdefgh/compose.yaml", "/build/sbx-abcdefgh/extra.yaml"],
      },
      expect.objectContaining({ name: "sbx-abcdefgh_worker_1", service: "worker", state: "exited", health: "", exitCode: 3, ports: [] }),
    ]);
    const [w, k] = parseInspect(JSON.stringify([web, worker]));
    expect(stateWord(w!)).toBe("running (healthy)");
    expect(stateWord(k!)).toBe("failed (exit code 3)");
  });

  it("no output is no containers; anything else unreadable is an error quoting it", () => {
    expect(parseInspect("")).toEqual([]);
    expect(parseInspect("[]\n")).toEqual([]);
    for (const bad of ["Cannot connect to the Docker daemon", '[{"Name":"x"}]', "{}"]) expect(() => parseInspect(bad), bad).toThrow();
  });

  it("cleans names a host could fill with control characters", () => {
    const [c] = parseInspect(
      JSON.stringify([{ ...web, Name: "/x\u001b[31my", Config: { Labels: { "com.docker.compose.service": "a\nb" } } }]),
    );
    expect(c!.name).toBe("x?[31my");
    expect(c!.service).toBe("a?b");
  });
});

describe("the probe and the argv", () => {
  it("reads each answer of the probe script", () => {
    expect(parseProbe("SBX:no-docker\n")).toEqual({ kind: "no-docker" });
    expect(parseProbe("SBX:engine-failed permission denied while trying to connect \n")).toEqual({
      kind: "engine-failed",
      reason: "permission denied while trying to connect",
    });
    expect(parseProbe("SBX:engine 20.10.24\nSBX:compose v1 1.29.2\n")).toEqual({
      kind: "ok",
      engine: "20.10.24",
      command: "v1",
      version: "1.29.2",
    });
    expect(parseProbe("SBX:engine 27.1\nSBX:compose v2 2.29.7\n")).toMatchObject({ kind: "ok", command: "v2" });
    expect(parseProbe("SBX:engine 20.10.24\nSBX:no-compose docker compose: unknown command\n")).toEqual({
      kind: "no-compose",
      engine: "20.10.24",
      reason: "docker compose: unknown command",
    });
    expect(parseProbe("something else")).toBeNull();
  });

  it("builds either compose command with the same flags, and DOCKER_HOST as an argument of env", () => {
    expect(composeArgv("v2", "sbx-abcdefgh", ["a.yaml"], ".sandboxer.env", ["up", "-d"])).toEqual([
      "docker",
      "compose",
      "-p",
      "sbx-abcdefgh",
      "-f",
      "a.yaml",
      "--env-file",
      ".sandboxer.env",
      "up",
      "-d",
    ]);
    expect(composeArgv("v1", "sbx-abcdefgh", ["a.yaml"], null, ["down"])).toEqual([
      "docker-compose",
      "-p",
      "sbx-abcdefgh",
      "-f",
      "a.yaml",
      "down",
    ]);
    expect(withDockerHost("unix:///run/x.sock", ["docker", "ps"])).toEqual(["env", "DOCKER_HOST=unix:///run/x.sock", "docker", "ps"]);
    expect(withDockerHost(null, ["docker", "ps"])).toEqual(["docker", "ps"]);
  });

  it("puts docker logs' two streams back in time order (nanoseconds with trailing zeros trimmed)", () => {
    const text = [
      "2026-11-30T17:18:52.89586542Z second",
      "2026-11-30T17:18:52.8958654Z first",
      "2026-11-30T17:18:53Z third",
      "no timestamp",
    ].join("\n");
    expect(orderLogLines(text)).toEqual(["no timestamp", "first", "second", "third"]);
  });

  it("reads the resource listing", () => {
    expect(parseResources("container abc\nnetwork def\nvolume sbx-x_data\n\n")).toEqual({
      containers: ["abc"],
      networks: ["def"],
      volumes: ["sbx-x_data"],
    });
  });
});

describe("params", () => {
  const base = { hostLabel: "docker", composeFiles: [{ name: "compose.yaml", content: "services: {}\n" }] };
  const ok = (p: Record<string, unknown>) => composeSshParamsSchema.safeParse(p);
  const messages = (p: Record<string, unknown>) => {
    const r = ok(p);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("fills in defaults and turns numeric env values into strings", () => {
    const r = composeSshParamsSchema.parse({ ...base, env: { WEB_PORT: 8080, DEBUG: true } });
    expect(r).toMatchObject({
      host: null,
      workspaceRoot: null,
      repository: null,
      composeFilePaths: [],
      upTimeoutSeconds: 1200,
      env: { WEB_PORT: "8080", DEBUG: "true" },
      composeCommand: "auto",
      dockerHost: null,
    });
  });

  it("takes a compose command and a DOCKER_HOST, refusing anything that is not a docker address", () => {
    expect(ok({ ...base, composeCommand: "v1", dockerHost: "unix:///run/user/1000/docker.sock" }).success).toBe(true);
    expect(ok({ ...base, dockerHost: "tcp://127.0.0.1:2375" }).success).toBe(true);
    for (const dockerHost of ["/var/run/docker.sock", "unix:///a b", "http://x", "unix://relative", ""])
      expect(messages({ ...base, dockerHost })[0], dockerHost).toMatch(/^dockerHost: must be unix/);
    expect(messages({ ...base, composeCommand: "v3" })[0]).toMatch(/^composeCommand/);
  });

  it("accepts odd but harmless names and values: they only ever travel as quoted arguments or literal env-file values", () => {
    expect(
      ok({ ...base, composeFiles: [{ name: `web "edge" $(id) 'v1'.yaml`, content: "x" }], env: { A: 'a "b" $(c) `d` #e' } }).success,
    ).toBe(true);
  });

  it("refuses compose paths that leave the repository or read as flags", () => {
    for (const p of [
      "../compose.yaml",
      "deploy/../../x.yaml",
      "/etc/compose.yaml",
      "./compose.yaml",
      "deploy//compose.yaml",
      "deploy/",
      "-f.yaml",
      "a\nb",
    ]) {
      expect(messages({ hostLabel: "docker", repository: { path: "/srv/repo" }, composeFilePaths: [p] }).length, p).toBeGreaterThan(0);
    }
    expect(ok({ hostLabel: "docker", repository: { path: "/srv/repo" }, composeFilePaths: ["deploy/compose.yaml"] }).success).toBe(true);
  });

  it("refuses inline names that are paths or dot files (the env file's namespace)", () => {
    for (const name of ["deploy/compose.yaml", ".sandboxer.env", "..", ""]) {
      expect(ok({ ...base, composeFiles: [{ name, content: "x" }] }).success, name).toBe(false);
    }
  });

  it("refuses env values compose's env file cannot carry literally, and bad keys", () => {
    for (const v of ["it's", "a\nb", "trailing\\"]) expect(ok({ ...base, env: { A: v } }).success, v).toBe(false);
    for (const k of ["1A", "A-B", "A B", ""]) expect(ok({ ...base, env: { [k]: "x" } }).success, k).toBe(false);
  });

  it("needs exactly one of host and hostLabel, some compose file, a repository for composeFilePaths, and no unknown keys", () => {
    expect(messages({ ...base, host: "vm1" })).toEqual(["host: give exactly one of host or hostLabel"]);
    expect(messages({ hostLabel: "docker" })).toEqual([
      "composeFiles: give the compose file(s): inline composeFiles, or composeFilePaths inside a repository",
    ]);
    expect(messages({ hostLabel: "docker", composeFilePaths: ["compose.yaml"] })).toEqual([
      "composeFilePaths: composeFilePaths are relative to a repository: set repository.path too",
    ]);
    expect(messages({ ...base, composeFiles: [...base.composeFiles, ...base.composeFiles] })).toEqual([
      'composeFiles: compose file "compose.yaml" is given twice',
    ]);
    expect(ok({ ...base, composeFile: "compose.yaml" }).success).toBe(false);
  });
});

describe("handle", () => {
  const handle = {
    extension: "ext.compose-ssh",
    host_id: "docker-1",
    vm_target: "127.0.0.1",
    ssh_port: 12222,
    ssh_user: "build",
    workspace_root: "/build",
    workspace_path: "/build/sbx-abcdefgh",
    host_key: "SHA256:x",
    compose_project: "sbx-abcdefgh",
    compose_files: ["compose.yaml"],
    compose_env_file: null,
  };

  it("is strict, and names only a sandbox's own project and workspace-relative files", () => {
    expect(composeSshHandleSchema.parse(handle)).toEqual(handle);
    expect(composeSshHandleSchema.safeParse({ ...handle, extra: 1 }).success).toBe(false);
    for (const compose_project of ["other", "sbx-ABC", "sbx-abcdefgh_x", "sbx-"])
      expect(composeSshHandleSchema.safeParse({ ...handle, compose_project }).success, compose_project).toBe(false);
    expect(composeSshHandleSchema.safeParse({ ...handle, compose_files: ["../x.yaml"] }).success).toBe(false);
    expect(composeSshHandleSchema.safeParse({ ...handle, compose_env_file: "../../etc/passwd" }).success).toBe(false);
    // v1 or v2 and a DOCKER_HOST are recorded; handles from before them still parse.
    expect(composeSshHandleSchema.safeParse({ ...handle, compose_command: "v1", docker_host: "unix:///d.sock" }).success).toBe(true);
    expect(composeSshHandleSchema.safeParse({ ...handle, compose_command: "v3" }).success).toBe(false);
    expect(composeSshHandleSchema.safeParse({ ...handle, docker_host: "x y" }).success).toBe(false);
  });
});
