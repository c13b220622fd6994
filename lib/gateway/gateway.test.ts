import { describe, expect, it } from "vitest";

import { isLoopbackListen, localAdmission } from "./gateway";

describe("who may enter a local sandbox through the gateway", () => {
  it("knows loopback listen addresses from the others", () => {
    for (const h of ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"]) expect(isLoopbackListen(h), h).toBe(true);
    for (const h of ["0.0.0.0", "::", "[::]", "10.0.0.5", "192.168.1.20", "sandboxer.example.com", "128.0.0.1", "::ffff:127.0.0.1"]) {
      expect(isLoopbackListen(h), h).toBe(false);
    }
  });

  const base = { sandboxId: "k3v9q2m7x1ab", role: "admin" as const, listenHost: "127.0.0.1", sandboxMachine: "m1", thisMachine: "m1" };

  it("admits an admin while the gateway listens on loopback, on the sandbox's machine", () => {
    expect(localAdmission(base)).toBeNull();
    expect(localAdmission({ ...base, sandboxMachine: null })).toBeNull();
  });

  it("refuses members, even owners, with a one-line reason", () => {
    expect(localAdmission({ ...base, role: "member" })).toBe(
      "sandbox k3v9q2m7x1ab is a local sandbox (a directory on the sand-boxer server); only admins may enter local sandboxes",
    );
  });

  it("refuses everyone while the gateway listens beyond loopback", () => {
    for (const listenHost of ["0.0.0.0", "::", "10.1.2.3"]) {
      expect(localAdmission({ ...base, listenHost })).toMatch(
        /local sandboxes can be entered only while the gateway listens on loopback, and it listens on /,
      );
    }
  });

  it("refuses a local sandbox of another machine, naming it", () => {
    expect(localAdmission({ ...base, sandboxMachine: "m2" })).toMatch(/on machine m2; enter it through the gateway on that machine$/);
  });
});
