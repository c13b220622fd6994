import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { readHostsFile } from "./hosts-file";

const KEY = "SHA256:N9H6nUslLrAKU+RltoeSxpIgRoxTVghRh1YFS7iZ+rg";

describe("hosts.yaml known_hosts files", () => {
  let dir: string;
  const write = (yaml: string) => {
    const file = path.join(dir, "hosts.yaml");
    fs.writeFileSync(file, yaml);
    return file;
  };
  const error = (file: string): string => {
    try {
      readHostsFile(file, "hosts.yaml");
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error("expected readHostsFile to fail");
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-hosts-file-"));
    fs.writeFileSync(path.join(dir, "team_known_hosts"), "");
    fs.writeFileSync(path.join(dir, "vm_known_hosts"), "");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("lets a host name a known_hosts file instead of a pin, relative to hosts.yaml; the top level applies to the others", () => {
    const file = write(
      [
        "apiVersion: sandboxer.dev/v1",
        "knownHosts: team_known_hosts",
        "hosts:",
        "  - { id: a, address: 10.0.0.1, user: build }",
        "  - { id: b, address: 10.0.0.2, user: build, knownHosts: vm_known_hosts }",
        `  - { id: c, address: 10.0.0.3, user: build, hostKey: "${KEY}" }`,
        "",
      ].join("\n"),
    );
    const hosts = readHostsFile(file);
    expect(hosts.map((h) => [h.id, h.hostKey, h.knownHosts])).toEqual([
      ["a", undefined, path.join(dir, "team_known_hosts")],
      ["b", undefined, path.join(dir, "vm_known_hosts")],
      // A pin besides the file: the pin decides, the file can still revoke.
      ["c", KEY, path.join(dir, "team_known_hosts")],
    ]);
  });

  it("refuses a host with neither a pin nor a known_hosts file, naming the field", () => {
    const file = write(["apiVersion: sandboxer.dev/v1", "hosts:", "  - id: a", "    address: 10.0.0.1", "    user: build", ""].join("\n"));
    expect(error(file)).toBe(
      'hosts.yaml:3: hosts.0.hostKey: host "a" needs a pinned hostKey or a knownHosts file (its own, or the top-level knownHosts)',
    );
  });

  it("refuses a known_hosts file that does not exist or is not a file, naming hosts.yaml, the line, the field and the file", () => {
    const file = write(
      [
        "apiVersion: sandboxer.dev/v1",
        "knownHosts: /nonexistent/known_hosts",
        "hosts:",
        "  - id: a",
        "    address: 10.0.0.1",
        "    user: build",
        "    knownHosts: .",
        "",
      ].join("\n"),
    );
    expect(error(file).split("\n")).toEqual([
      "hosts.yaml:2: knownHosts: known_hosts file /nonexistent/known_hosts does not exist",
      `hosts.yaml:7: hosts.0.knownHosts: known_hosts file ${dir} is not a regular file`,
    ]);
  });

  it("refuses ~ (not expanded) and an empty path", () => {
    const file = write(
      ["apiVersion: sandboxer.dev/v1", "hosts:", "  - { id: a, address: 10.0.0.1, user: build, knownHosts: ~/.ssh/known_hosts }", ""].join(
        "\n",
      ),
    );
    expect(error(file)).toContain("hosts.0.knownHosts: an absolute path, or one relative to hosts.yaml (~ is not expanded)");
    const empty = write(["apiVersion: sandboxer.dev/v1", 'knownHosts: ""', "hosts: []", ""].join("\n"));
    expect(error(empty)).toMatch(/^hosts\.yaml:2: knownHosts: /);
  });
});
