import { describe, expect, it } from "vitest";

import {
  CLIENT_ADDRESS_HEADER,
  FRONT_DOOR_SLOT,
  clientAddress,
  normalizeAddress,
  parseTrustedProxies,
  requestClientAddress,
} from "./client-address";

describe("parseTrustedProxies", () => {
  it("takes addresses and CIDR ranges of both families", () => {
    const t = parseTrustedProxies(" 10.0.0.5, 192.168.0.0/16 ,fd00::/8,::1");
    expect(t.has("10.0.0.5")).toBe(true);
    expect(t.has("10.0.0.6")).toBe(false);
    expect(t.has("192.168.44.1")).toBe(true);
    expect(t.has("::ffff:192.168.1.1")).toBe(true);
    expect(t.has("fd12::1")).toBe(true);
    expect(t.has("::1")).toBe(true);
    expect(t.has("not-an-ip")).toBe(false);
  });

  it("is empty by default", () => {
    expect(parseTrustedProxies(undefined).has("127.0.0.1")).toBe(false);
    expect(parseTrustedProxies("").entries).toEqual([]);
  });

  it("names the entry it cannot read", () => {
    for (const bad of ["proxy.internal", "10.0.0.0/33", "10.0.0.1/8/2", "fd00::/129", "10.0.0.0/x"]) {
      expect(() => parseTrustedProxies(`10.0.0.1, ${bad}`), bad).toThrow(`SANDBOXER_TRUSTED_PROXIES: "${bad}"`);
    }
  });
});

describe("clientAddress", () => {
  const trusted = parseTrustedProxies("10.0.0.5, 10.0.1.0/24");

  it("is the socket peer when the peer is not a trusted proxy, whatever X-Forwarded-For says", () => {
    expect(clientAddress("203.0.113.9", "6.6.6.6", trusted)).toBe("203.0.113.9");
    expect(clientAddress("::ffff:127.0.0.1", "6.6.6.6", parseTrustedProxies(""))).toBe("127.0.0.1");
  });

  it("from a trusted proxy, is the rightmost address that is not itself a trusted proxy", () => {
    expect(clientAddress("10.0.0.5", "203.0.113.9", trusted)).toBe("203.0.113.9");
    // The client prepended a forged entry; the proxy appended what it saw.
    expect(clientAddress("10.0.0.5", "6.6.6.6, 203.0.113.9", trusted)).toBe("203.0.113.9");
    // Two trusted hops.
    expect(clientAddress("10.0.0.5", "6.6.6.6, 203.0.113.9, 10.0.1.7", trusted)).toBe("203.0.113.9");
    expect(clientAddress("10.0.0.5", ["6.6.6.6", "198.51.100.1"], trusted)).toBe("198.51.100.1");
  });

  it("stops at garbage and never returns it", () => {
    expect(clientAddress("10.0.0.5", "<script>, 203.0.113.9", trusted)).toBe("203.0.113.9");
    expect(clientAddress("10.0.0.5", "203.0.113.9, nonsense", trusted)).toBe("10.0.0.5");
    expect(clientAddress("10.0.0.5", undefined, trusted)).toBe("10.0.0.5");
    expect(clientAddress("10.0.0.5", "10.0.1.8", trusted)).toBe("10.0.1.8");
  });

  it("normalises mapped and zoned addresses", () => {
    expect(normalizeAddress("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(normalizeAddress("fe80::1%eth0")).toBe("fe80::1");
    expect(normalizeAddress("[::1]")).toBe("::1");
  });
});

describe("requestClientAddress", () => {
  const headers = new Headers({ [CLIENT_ADDRESS_HEADER]: "203.0.113.9" });

  it("believes the header only behind server.mjs, which replaces any copy a client sent", () => {
    const g = globalThis as Record<symbol, unknown>;
    expect(requestClientAddress(headers)).toBeUndefined();
    g[FRONT_DOOR_SLOT] = {};
    try {
      expect(requestClientAddress(headers)).toBe("203.0.113.9");
      expect(requestClientAddress(new Headers())).toBeUndefined();
    } finally {
      delete g[FRONT_DOOR_SLOT];
    }
  });
});
