// `npm run validate:config` checks the directory the server reads: $SANDBOXER_CONFIG_DIR when set.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-validate-dir-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function validateConfig(env: Record<string, string>, args: string[] = []) {
  return spawnSync(process.execPath, ["--conditions=react-server", "--import", "tsx", "scripts/validate-config.ts", ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", NODE_ENV: "test", ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
}

describe("validate:config", () => {
  it("reads SANDBOXER_CONFIG_DIR when no directory is given; an argument still wins", () => {
    fs.cpSync(path.join(ROOT, "extensions"), path.join(dir, "extensions"), { recursive: true });
    fs.mkdirSync(path.join(dir, "profiles"));
    fs.writeFileSync(
      path.join(dir, "profiles", "bad.yaml"),
      "apiVersion: sandboxer.dev/v1\nid: profile.bad\ntitle: Bad\nextension: ext.vm-packer\nparams:\n  host: host-x\n  colour: blue\nttl: 8h\n",
    );
    const broken = validateConfig({ SANDBOXER_CONFIG_DIR: dir });
    expect(broken.status, broken.stdout + broken.stderr).toBe(1);
    expect(broken.stderr).toMatch(/profiles\/bad\.yaml:7.*colour/);
    const explicit = validateConfig({ SANDBOXER_CONFIG_DIR: dir }, [ROOT]);
    expect(explicit.status, explicit.stdout + explicit.stderr).toBe(0);
  });
});
