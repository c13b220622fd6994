import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { configPath, credentials, readConfig, writeConfig } from "./config";

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-cli-config-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("CLI config", () => {
  it("lives under SANDBOXER_CONFIG, else XDG_CONFIG_HOME, else ~/.config", () => {
    expect(configPath({ SANDBOXER_CONFIG: "/x/y.json", XDG_CONFIG_HOME: "/xdg" })).toBe("/x/y.json");
    expect(configPath({ XDG_CONFIG_HOME: "/xdg" })).toBe("/xdg/sandboxer/config.json");
    expect(configPath({})).toBe(path.join(os.homedir(), ".config", "sandboxer", "config.json"));
  });

  it("creates its directory 0700 and writes the file 0600", () => {
    const env = { SANDBOXER_CONFIG: path.join(tmp(), "new", "config.json") };
    writeConfig({ url: "http://127.0.0.1:3000", token: "sbx_secret" }, env);
    expect(fs.statSync(path.dirname(env.SANDBOXER_CONFIG)).mode & 0o777).toBe(0o700);
    expect(fs.statSync(env.SANDBOXER_CONFIG).mode & 0o777).toBe(0o600);
  });

  it("is written 0600 over a file that was world-readable, leaving an existing directory's mode alone", () => {
    const env = { SANDBOXER_CONFIG: path.join(tmp(), "nested", "config.json") };
    fs.mkdirSync(path.dirname(env.SANDBOXER_CONFIG), { recursive: true, mode: 0o755 });
    fs.writeFileSync(env.SANDBOXER_CONFIG, "{}", { mode: 0o644 });
    writeConfig({ url: "http://127.0.0.1:3000", token: "sbx_secret" }, env);
    expect(fs.statSync(env.SANDBOXER_CONFIG).mode & 0o777).toBe(0o600);
    // SANDBOXER_CONFIG may point into a directory the person uses for other things: not ours to chmod.
    expect(fs.statSync(path.dirname(env.SANDBOXER_CONFIG)).mode & 0o777).toBe(0o755 & ~process.umask());
    expect(readConfig(env)).toEqual({ url: "http://127.0.0.1:3000", token: "sbx_secret" });
  });

  it("environment credentials win; none at all is a 'not logged in' error (exit 4)", () => {
    const env = { SANDBOXER_CONFIG: path.join(tmp(), "none.json") };
    expect(() => credentials(env)).toThrow(expect.objectContaining({ code: "NOT_LOGGED_IN", exitCode: 4 }));
    expect(credentials({ ...env, SANDBOXER_URL: "http://h:1/", SANDBOXER_TOKEN: "t" })).toEqual({ url: "http://h:1", token: "t" });
  });
});
