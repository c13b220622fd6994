// The workspace scripts run here through a local stand-in for SshPool that hands the exact command
// string to /bin/sh, as sshd hands it to the login shell. This checks the scripts' logic and quoting
// quickly; ownership and permission cases need a non-root user and are in
// tests/integration/ssh-remote-workspace.test.ts against real sshd.
import { execFile } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { ValidationError } from "@/lib/errors";

import type { ExecOptions, ExecResult } from "./connection";
import type { SshConfig } from "./ssh-config";
import type { SshPool } from "./pool";
import {
  createRemoteWorkspace,
  listRemoteWorkspaces,
  remoteFreeSpace,
  remoteWorkspaceExists,
  remoteWorkspaceState,
  removeRemoteWorkspace,
} from "./remote-workspace";
import { shellCommand } from "./shell-quote";

const config: SshConfig = {
  host: "127.0.0.1",
  port: 22,
  user: "local",
  identity: { privateKeyPath: "/unused" },
  trust: { pinnedFingerprint: "SHA256:" + "A".repeat(43) },
};

function localPool(): SshPool & { commands: string[] } {
  const commands: string[] = [];
  const pool = {
    commands,
    exec(_config: SshConfig, argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
      const command = shellCommand(argv);
      commands.push(command);
      return new Promise((resolve) => {
        execFile("/bin/sh", ["-c", command], { timeout: opts.timeoutMs }, (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
          resolve({
            stdout,
            stderr,
            code,
            signal: null,
            stdoutTruncated: false,
            stderrTruncated: false,
            durationMs: 0,
          });
        });
      });
    },
  };
  return pool as unknown as SshPool & { commands: string[] };
}

let base: string;
let root: string;
let pool: ReturnType<typeof localPool>;
const ID = "abcdefgh1";

beforeEach(() => {
  base = mkdtempSync(path.join(tmpdir(), "sbx-rw-"));
  // Metacharacters in the root prove it is only ever data to the scripts.
  root = path.join(base, "build $(touch pwned) 'q' ;x");
  mkdirSync(root);
  pool = localPool();
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe("createRemoteWorkspace", () => {
  it("creates <root>/sbx-<id> with mode 0700 and treats the root as data", async () => {
    const r = await createRemoteWorkspace(pool, config, root, ID);
    expect(r).toEqual({ path: `${root}/sbx-${ID}`, result: "created" });
    expect(statSync(r.path).mode & 0o777).toBe(0o700);
    expect(existsSync(path.join(process.cwd(), "pwned"))).toBe(false);
    expect(existsSync(path.join(base, "pwned"))).toBe(false);
  });

  it("honours mode 0755", async () => {
    const r = await createRemoteWorkspace(pool, config, root, ID, { mode: "0755" });
    expect(statSync(r.path).mode & 0o777).toBe(0o755);
  });

  it("reuses an empty directory we own (a retried create) but refuses a non-empty one", async () => {
    await createRemoteWorkspace(pool, config, root, ID);
    expect((await createRemoteWorkspace(pool, config, root, ID)).result).toBe("reused");
    writeFileSync(path.join(root, `sbx-${ID}`, "file"), "x");
    await expect(createRemoteWorkspace(pool, config, root, ID)).rejects.toMatchObject({ code: "SSH_WORKSPACE_EXISTS" });
  });

  it("refuses a file or a symlink at the workspace path", async () => {
    writeFileSync(path.join(root, `sbx-${ID}`), "x");
    await expect(createRemoteWorkspace(pool, config, root, ID)).rejects.toMatchObject({ code: "SSH_WORKSPACE_EXISTS" });
    symlinkSync(base, path.join(root, "sbx-bcdefghi2"));
    await expect(createRemoteWorkspace(pool, config, root, "bcdefghi2")).rejects.toMatchObject({
      code: "SSH_WORKSPACE_UNSAFE",
    });
  });

  it("refuses a missing root or a root that is a file, naming it", async () => {
    const missing = path.join(base, "missing");
    await expect(createRemoteWorkspace(pool, config, missing, ID)).rejects.toMatchObject({
      code: "SSH_WORKSPACE_ROOT_INVALID",
      message: expect.stringContaining(missing),
    });
    const file = path.join(base, "file");
    writeFileSync(file, "x");
    await expect(createRemoteWorkspace(pool, config, file, ID)).rejects.toMatchObject({
      code: "SSH_WORKSPACE_ROOT_INVALID",
    });
  });

  it("validates root and id before sending anything", async () => {
    for (const [r, id] of [
      ["/", ID],
      ["", ID],
      ["relative", ID],
      [root, "../../etc"],
      [root, "ABC"],
    ] as const) {
      await expect(createRemoteWorkspace(pool, config, r, id)).rejects.toBeInstanceOf(ValidationError);
    }
    expect(pool.commands).toEqual([]);
  });
});

describe("removeRemoteWorkspace", () => {
  it("removes the workspace, then reports it absent", async () => {
    const { path: ws } = await createRemoteWorkspace(pool, config, root, ID);
    mkdirSync(path.join(ws, "deep/er"), { recursive: true });
    writeFileSync(path.join(ws, "deep/er/f"), "x");
    symlinkSync("/etc", path.join(ws, "link-to-etc"));
    expect(await removeRemoteWorkspace(pool, config, root, ID)).toEqual({ result: "removed", path: ws });
    expect(existsSync(ws)).toBe(false);
    expect(existsSync("/etc/passwd")).toBe(true);
    expect((await removeRemoteWorkspace(pool, config, root, ID)).result).toBe("absent");
  });

  it("leaves siblings and neighbouring files alone", async () => {
    await createRemoteWorkspace(pool, config, root, ID);
    await createRemoteWorkspace(pool, config, root, "sibling12");
    writeFileSync(path.join(root, `sbx-${ID}.txt`), "neighbour");
    writeFileSync(path.join(root, "sbx-sibling12", "keep"), "keep");
    await removeRemoteWorkspace(pool, config, root, ID);
    expect(readFileSync(path.join(root, "sbx-sibling12", "keep"), "utf8")).toBe("keep");
    expect(readFileSync(path.join(root, `sbx-${ID}.txt`), "utf8")).toBe("neighbour");
  });

  it("refuses a symlink at the workspace path and leaves both link and target intact", async () => {
    const victim = path.join(base, "victim");
    mkdirSync(victim);
    writeFileSync(path.join(victim, "canary"), "alive");
    symlinkSync(victim, path.join(root, `sbx-${ID}`));
    await expect(removeRemoteWorkspace(pool, config, root, ID)).rejects.toMatchObject({
      code: "SSH_WORKSPACE_UNSAFE",
      message: expect.stringMatching(/symlink/),
    });
    expect(readFileSync(path.join(victim, "canary"), "utf8")).toBe("alive");
    expect(lstatSync(path.join(root, `sbx-${ID}`)).isSymbolicLink()).toBe(true);
  });

  it("refuses a file at the workspace path", async () => {
    writeFileSync(path.join(root, `sbx-${ID}`), "not a dir");
    await expect(removeRemoteWorkspace(pool, config, root, ID)).rejects.toMatchObject({ code: "SSH_WORKSPACE_UNSAFE" });
    expect(readFileSync(path.join(root, `sbx-${ID}`), "utf8")).toBe("not a dir");
  });

  it("works through a root that is itself a symlink (compares physical paths)", async () => {
    const link = path.join(base, "root-link");
    symlinkSync(root, link);
    await createRemoteWorkspace(pool, config, link, ID);
    expect(existsSync(path.join(root, `sbx-${ID}`))).toBe(true);
    expect((await removeRemoteWorkspace(pool, config, link, ID)).result).toBe("removed");
    expect(existsSync(path.join(root, `sbx-${ID}`))).toBe(false);
  });

  it("treats a missing root as absent", async () => {
    expect((await removeRemoteWorkspace(pool, config, path.join(base, "gone"), ID)).result).toBe("absent");
  });

  it("never sends a command for / or an empty root", async () => {
    await expect(removeRemoteWorkspace(pool, config, "/", ID)).rejects.toBeInstanceOf(ValidationError);
    await expect(removeRemoteWorkspace(pool, config, "", ID)).rejects.toBeInstanceOf(ValidationError);
    await expect(removeRemoteWorkspace(pool, config, "/build/..", ID)).rejects.toBeInstanceOf(ValidationError);
    expect(pool.commands).toEqual([]);
  });

  it("re-checks its arguments on the host (the script alone refuses / and bad names)", async () => {
    // Capture the fixed script from a real call, then feed it what a buggy caller might send.
    let script = "";
    const capture = localPool();
    capture.exec = ((_c: SshConfig, argv: readonly string[]) => {
      script = argv[2] ?? "";
      return Promise.resolve({
        stdout: "SBX:absent",
        stderr: "",
        code: 0,
        signal: null,
        stdoutTruncated: false,
        stderrTruncated: false,
        durationMs: 0,
      });
    }) as typeof capture.exec;
    await removeRemoteWorkspace(capture, config, root, ID);
    expect(script).toContain("rm -rf");
    const victim = path.join(base, "victim");
    mkdirSync(victim);
    for (const [r, n] of [
      ["/", "tmp"],
      ["", "tmp"],
      ["relative", "sbx-abcdefgh1"],
      [base, ".."],
      [base, "victim"],
      [base, "sbx-../victim"],
      [base, "sbx-a/../../victim"],
    ] as const) {
      const result = await pool.exec(config, ["sh", "-c", script, "sh", r, n], { timeoutMs: 5_000 });
      expect(result.code).toBe(64);
    }
    expect(existsSync(victim)).toBe(true);
  });
});

describe("remoteWorkspaceState / Exists / list / free space", () => {
  it("tells directories, symlinks, files and absence apart", async () => {
    expect(await remoteWorkspaceState(pool, config, root, ID)).toBe("absent");
    await createRemoteWorkspace(pool, config, root, ID);
    expect(await remoteWorkspaceState(pool, config, root, ID)).toBe("directory");
    expect(await remoteWorkspaceExists(pool, config, root, ID)).toBe(true);
    symlinkSync(base, path.join(root, "sbx-linkedws1"));
    expect(await remoteWorkspaceState(pool, config, root, "linkedws1")).toBe("symlink");
    expect(await remoteWorkspaceExists(pool, config, root, "linkedws1")).toBe(false);
    writeFileSync(path.join(root, "sbx-fileonly1"), "");
    expect(await remoteWorkspaceState(pool, config, root, "fileonly1")).toBe("other");
    expect(await remoteWorkspaceState(pool, config, path.join(base, "nope"), ID)).toBe("root-missing");
  });

  it("lists only sbx-<id> directories", async () => {
    await createRemoteWorkspace(pool, config, root, ID);
    await createRemoteWorkspace(pool, config, root, "zzzzzzzz9");
    mkdirSync(path.join(root, "sbx-NOTANID"));
    mkdirSync(path.join(root, "other"));
    mkdirSync(path.join(root, "sbx-short"));
    writeFileSync(path.join(root, "sbx-filefile1"), "");
    symlinkSync(base, path.join(root, "sbx-symlinked1"));
    expect(await listRemoteWorkspaces(pool, config, root)).toEqual([`sbx-${ID}`, "sbx-zzzzzzzz9"]);
    await expect(listRemoteWorkspaces(pool, config, path.join(base, "nope"))).rejects.toMatchObject({
      code: "SSH_WORKSPACE_ROOT_INVALID",
    });
  });

  it("reports free space in bytes", async () => {
    const bytes = await remoteFreeSpace(pool, config, root);
    expect(bytes).toBeGreaterThan(1024 * 1024);
    expect(bytes % 1024).toBe(0);
  });
});
