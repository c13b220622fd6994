// The managed block of `sandboxer config-ssh`: written between markers, replaced in place, removed
// cleanly, the person's own configuration untouched; and the dry run's diff.
import { describe, expect, it } from "vitest";

import { BLOCK_END, BLOCK_START, lineDiff, managedBlock, replaceManagedBlock } from "./commands/gateway";

const gw = { host: "sbx.example.test", port: 2022, fingerprint: "SHA256:x", knownHostsLine: "[sbx.example.test]:2022 ssh-ed25519 AAAA" };

describe("config-ssh managed block", () => {
  const block = managedBlock({ gw, ids: ["k3v9q2m7x1ab"], knownHostsFile: "/home/a/.config/sandboxer/known_hosts", server: "https://sbx" });

  it("has one Host per sandbox with the gateway, the sandbox id as user and strict host key checking", () => {
    expect(block).toContain("Host sbx-k3v9q2m7x1ab\n  HostName sbx.example.test\n  Port 2022\n  User k3v9q2m7x1ab\n");
    expect(block).toContain("UserKnownHostsFile /home/a/.config/sandboxer/known_hosts");
    expect(block).toContain("StrictHostKeyChecking yes");
    expect(block.startsWith(BLOCK_START) && block.endsWith(BLOCK_END)).toBe(true);
  });

  it("is appended, replaced in place and removed, leaving the person's lines alone", () => {
    const mine = "Host work\n  HostName work.example.test\n";
    const added = replaceManagedBlock(mine, block);
    expect(added).toBe(`${mine}\n${block}\n`);
    const other = managedBlock({ gw, ids: ["a1234567", "b1234567"], knownHostsFile: "/k", server: "https://sbx" });
    const withTail = `${added}Host later\n  User me\n`;
    const replaced = replaceManagedBlock(withTail, other);
    expect(replaced).toContain("Host work\n");
    expect(replaced).toContain("Host later\n  User me\n");
    expect(replaced).toContain("Host sbx-b1234567");
    expect(replaced).not.toContain("k3v9q2m7x1ab");
    expect(replaced.split(BLOCK_START).length).toBe(2);
    const removed = replaceManagedBlock(replaced, null);
    expect(removed).not.toContain(BLOCK_START);
    expect(removed).toContain("Host work\n  HostName work.example.test\n");
    expect(removed).toContain("Host later\n  User me\n");
    expect(replaceManagedBlock("", block)).toBe(`${block}\n`);
  });

  it("refuses a block with a missing marker, and shows a dry run as a diff", () => {
    expect(() => replaceManagedBlock(`${BLOCK_START}\nHost x\n`, block)).toThrow(/damaged/);
    const d = lineDiff("Host work\n", replaceManagedBlock("Host work\n", block));
    expect(d).toContain("+Host sbx-k3v9q2m7x1ab");
    expect(d.split("\n").some((l) => l.startsWith("-Host work"))).toBe(false);
    expect(lineDiff("same\n", "same\n")).toBe("");
  });
});
