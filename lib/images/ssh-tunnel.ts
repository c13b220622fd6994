// The verified hop for Packer's SSH. Packer's communicator does not check host keys, so it never
// crosses the network itself: it connects to a local port that sand-boxer forwards over its own
// connection to the VM — opened with the pinned host key (lib/ssh) — to the VM's sshd as the VM
// sees it (`direct-tcpip`, like `ssh -L`). The local listener is on 127.0.0.1 only and closed with
// the build.
import "server-only";

import net from "node:net";

import type { SshConfig, SshPool } from "../ssh";

export interface LocalTunnel {
  port: number;
  /** Connections forwarded so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function openLocalTunnel(
  pool: SshPool,
  config: SshConfig,
  dst: { host: string; port: number },
  opts: { signal: AbortSignal; onError?: (message: string) => void },
): Promise<LocalTunnel> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((sock) => {
    sockets.add(sock);
    connections++;
    sock.on("close", () => sockets.delete(sock));
    sock.pause();
    pool
      .openChannel(
        config,
        { type: "direct-tcpip", srcHost: "127.0.0.1", srcPort: sock.remotePort ?? 0, dstHost: dst.host, dstPort: dst.port },
        { signal: opts.signal },
      )
      .then((channel) => {
        sock.pipe(channel).pipe(sock);
        channel.on("close", () => sock.destroy());
        sock.on("close", () => channel.close());
        sock.on("error", () => channel.close());
        channel.on("error", () => sock.destroy());
        sock.resume();
      })
      .catch((e: unknown) => {
        opts.onError?.(`the tunnel could not reach ${dst.host}:${dst.port} on the VM: ${(e as Error).message}`);
        sock.destroy();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  opts.signal.addEventListener("abort", () => void close(), { once: true });
  return {
    port,
    get connections() {
      return connections;
    },
    close,
  };
}
