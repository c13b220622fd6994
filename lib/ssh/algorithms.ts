// The algorithms ssh2 may negotiate, on both of its sides here: the build-VM connections (client) and
// the SSH gateway (server). One change from ssh2's defaults: no chacha20-poly1305@openssh.com.
//
// ssh2 implements that cipher in its optional native binding (sshcrypto.node, built by npm ci), on the
// OpenSSL of the Node release that runs it. On Node 24 (OpenSSL 3.5) every packet fails with
// "digital envelope routines::invalid operation" and the connection drops, while Node 20 (OpenSSL 3.0)
// works — measured here with ssh2 1.17.0. OpenSSH's client prefers chacha20, so on Node 24 every
// `ssh` through the gateway was cut during the handshake; ssh2's client would pick it too on a CPU
// where cpu-features finds no AES instructions. AES-GCM and AES-CTR run on Node's own crypto on every
// release (and OpenSSH offers them by default), so leaving chacha20 out costs nothing where AES is in
// hardware, which is every x86 server of the last decade.
import "server-only";

import type { Algorithms } from "ssh2";

const CHACHA20_POLY1305 = "chacha20-poly1305@openssh.com";

/** ssh2's `algorithms` for every connection and server of the process. */
export const SSH2_ALGORITHMS: Algorithms = { cipher: { append: [], prepend: [], remove: [CHACHA20_POLY1305] } };
