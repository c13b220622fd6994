// What the server entry (server.mjs, behind `npm start` and `npm run dev`) does to every request
// before Next sees it, and to every response before anything writes it — two things that only the
// socket knows, or that only the outermost layer can do for every response:
//  - the client's address: from the socket, or from X-Forwarded-For when the socket is a trusted
//    proxy (lib/http/client-address.ts), handed to the app in one header that a client cannot set
//    (any copy it sent is removed first);
//  - the security headers (lib/http/security-headers.ts), with this response's CSP nonce also set on
//    the request, where Next reads it to mark its scripts (what Next's CSP guide does from a proxy;
//    done here it needs no proxy, whose body cloning would interfere with the body caps).
//
// The entry is plain JavaScript (loading TypeScript into the server process costs ~90 MB), so the app
// builds the door at start (lib/server-start.ts, with the validated environment) and hands it over
// through a slot on globalThis that the entry created.
import type { IncomingMessage, ServerResponse } from "node:http";

import { CLIENT_ADDRESS_HEADER, FRONT_DOOR_SLOT, clientAddress, type TrustedProxies } from "./client-address";
import { newNonce, securityHeaders } from "./security-headers";

export interface FrontDoorOptions {
  publicUrl: string;
  trustedProxies: TrustedProxies;
  dev: boolean;
}

export type FrontDoor = (req: IncomingMessage, res: ServerResponse) => void;

/** Prepares one request and its response; the entry calls it before handing both to Next. */
export function createFrontDoor(opts: FrontDoorOptions): FrontDoor {
  const https = new URL(opts.publicUrl).protocol === "https:";
  return (req, res) => {
    delete req.headers[CLIENT_ADDRESS_HEADER];
    const client = clientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], opts.trustedProxies);
    if (client) req.headers[CLIENT_ADDRESS_HEADER] = client;

    const nonce = newNonce();
    const headers = securityHeaders(nonce, { https, dev: opts.dev });
    // Next takes the nonce from the request's policy: never from one the client sent.
    delete req.headers["content-security-policy-report-only"];
    req.headers["content-security-policy"] = headers["Content-Security-Policy"];
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  };
}

type Slot = { door?: FrontDoor };

function slot(): Slot | undefined {
  return (globalThis as Record<symbol, Slot | undefined>)[FRONT_DOOR_SLOT];
}

/** Hands the door to the server entry; false when there is none (bare `next start`). */
export function installFrontDoor(door: FrontDoor): boolean {
  const s = slot();
  if (!s) return false;
  s.door = door;
  return true;
}
