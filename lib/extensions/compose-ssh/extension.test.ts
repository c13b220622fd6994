// ext.compose-ssh's pure parts: reading `docker compose ps --format json` in both of compose's output
// styles, and the params/handle guards that keep paths inside the workspace and env values literal.
import { describe, expect, it } from "vitest";

import { hasCode } from "../../errors";
import { composeSshHandleSchema, composeSshParamsSchema, parseComposePs } from "./extension";

const web = {
  Name: "sbx-abcdefgh-web-1",
  Service: "web",
  State: "running",
  Health: "",
  ExitCode: 0,
  Publishers: [
    { URL: "0.0.0.0", TargetPort: 80, PublishedPort: 8080, Protocol: "tcp" },
    { URL: "::", TargetPort: 80, PublishedPort: 8080, Protocol: "tcp" },
    { URL: "", TargetPort: 6379, PublishedPort: 0, Protocol: "tcp" },
  ],
  Image: "traefik/whoami",
};
const redis = { Name: "sbx-abcdefgh-redis-1", Service: "redis", State: "exited", ExitCode: 137, Publishers: null };

describe("parseComposePs", () => {
  it("reads one JSON object per line (compose ≥ 2.21) and one JSON array (older), the same way", () => {
    const lines = parseComposePs(`${JSON.stringify(web)}\n${JSON.stringify(redis)}\n`);
    expect(parseComposePs(JSON.stringify([web, redis]))).toEqual(lines);
    expect(parseComposePs(JSON.stringify([web, redis], null, 2))).toEqual(lines);
    expect(lines).toEqual([
      {
        name: "sbx-abcdefgh-web-1",
        service: "web",
        state: "running",
        health: "",
        exitCode: 0,
        ports: ["0.0.0.0:8080→80/tcp", "[::]:8080→80/tcp"],
      },
      { name: "sbx-abcdefgh-redis-1", service: "redis", state: "exited", health: "", exitCode: 137, ports: [] },
    ]);
  });

  it("an empty project is no output (new) or [] (old)", () => {
    expect(parseComposePs("")).toEqual([]);
    expect(parseComposePs("[]\n")).toEqual([]);
  });

  it("anything else is a typed error quoting what was printed", () => {
    for (const bad of ["Cannot connect to the Docker daemon", '{"Name":"x"}', `${JSON.stringify(web)}\nnot json`]) {
      let error: unknown;
      try {
        parseComposePs(bad);
      } catch (e) {
        error = e;
      }
      expect(hasCode(error, "COMPOSE_PS_UNREADABLE"), bad).toBe(true);
    }
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
    });
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
  });
});
