// Who is on the other end of a request. The socket's peer address is a fact; X-Forwarded-For is a
// claim anyone can make. The claim is believed only from proxies the operator named
// (SANDBOXER_TRUSTED_PROXIES: IPs and CIDRs), and then only as far as it was written by trusted
// proxies: the list is read from the right (each proxy appends the address it saw), skipping trusted
// hops, and the first address that is not a trusted proxy is the client.
// Pure (no server-only): the server entry uses it before Next sees the request.

import net from "node:net";

/** The header the server entry sets (after removing any copy the client sent) for the app to trust. */
export const CLIENT_ADDRESS_HEADER = "x-sandboxer-client-ip";

/**
 * The client's address as server.mjs determined it (the socket peer, or X-Forwarded-For from a
 * trusted proxy); a client cannot set this header itself. Unknown under a bare `next start`, where
 * nothing removes a copy the client sent.
 */
export function requestClientAddress(headers: Headers): string | undefined {
  if (!behindFrontDoor()) return undefined;
  return headers.get(CLIENT_ADDRESS_HEADER)?.trim() || undefined;
}

/** True when this process serves through server.mjs (npm start / npm run dev), not a bare `next start`. */
export function behindFrontDoor(): boolean {
  return (globalThis as Record<symbol, unknown>)[FRONT_DOOR_SLOT] !== undefined;
}

/** The slot server.mjs puts on globalThis before Next loads; the app puts the door in it (lib/http/front-door.ts). */
export const FRONT_DOOR_SLOT = Symbol.for("sand-boxer.front-door");

export interface TrustedProxies {
  /** True when `address` is one of the configured proxies. */
  has(address: string): boolean;
  /** The configured entries, for messages. */
  readonly entries: readonly string[];
}

/** Strips `::ffff:` from an IPv4-mapped IPv6 address and the zone from a link-local one. */
export function normalizeAddress(address: string): string {
  const a = address.trim().replace(/^\[|\]$/g, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) return mapped[1]!;
  return a.replace(/%.*$/, "");
}

/**
 * Parses SANDBOXER_TRUSTED_PROXIES: a comma-separated list of addresses and CIDR ranges
 * (`10.0.0.5, 10.1.0.0/16, fd00::/8`). Throws with the offending entry named.
 */
export function parseTrustedProxies(text: string | undefined): TrustedProxies {
  const list = new net.BlockList();
  const entries = (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const [addr, bits, extra] = entry.split("/");
    const address = normalizeAddress(addr ?? "");
    const family = net.isIP(address);
    const prefix = bits === undefined ? undefined : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!family || extra !== undefined || (prefix !== undefined && (Number.isNaN(prefix) || prefix > (family === 4 ? 32 : 128)))) {
      throw new Error(`SANDBOXER_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR range (e.g. 10.0.0.5 or 10.0.0.0/8)`);
    }
    const type = family === 4 ? "ipv4" : "ipv6";
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, prefix, type);
  }
  return {
    entries,
    has(address: string): boolean {
      const a = normalizeAddress(address);
      const family = net.isIP(a);
      return family !== 0 && list.check(a, family === 4 ? "ipv4" : "ipv6");
    },
  };
}

/** At most this many X-Forwarded-For entries are looked at (a header is not a place to store a novel). */
const MAX_HOPS = 20;

/**
 * The client's address: the socket peer, unless the peer is a trusted proxy — then the rightmost
 * X-Forwarded-For entry that is not itself a trusted proxy (or the leftmost, when all are). A
 * malformed entry stops the walk at the last address known to be good.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: TrustedProxies,
): string | undefined {
  const socket = peer ? normalizeAddress(peer) : undefined;
  if (!socket || !trusted.has(socket)) return socket;
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(",") : (forwardedFor ?? "");
  const hops = header
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .slice(-MAX_HOPS);
  let client = socket;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]!);
    if (!net.isIP(hop)) break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}
