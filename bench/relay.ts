// A latency-injecting TCP relay for the bench (this kernel has no netem): every byte that passes is
// held for half the round-trip time in each direction, so a build VM behind it answers as if it were
// `rttMs` away. Order is kept per direction (a FIFO released by one timer), half-closes are forwarded
// after the same delay, and a direction that holds more than HIGH_WATER bytes pauses its reader.
// Loopback only.
//
//   node --import tsx bench/relay.ts --to 127.0.0.1:2222 --rtt 20 [--listen 127.0.0.1:0]
import net from "node:net";
import { parseArgs } from "node:util";

const HIGH_WATER = 8 * 1024 * 1024;

export interface Relay {
  host: string;
  port: number;
  rttMs: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Leaves the next `n` connections unanswered (never forwarded), as a VM too busy to answer its handshake. */
  stallNext(n: number): void;
  /** Connections accepted from now on get this round-trip time (open ones keep theirs). */
  setRtt(ms: number): void;
  /**
   * The connections open now go silent: whatever either side sends from now on is dropped and neither
   * side is told, as on a network path that died without a reset. Connections accepted later work.
   */
  silenceOpen(): void;
  close(): Promise<void>;
}

function assertLoopback(host: string): void {
  if (!(host === "::1" || host === "localhost" || /^127\./.test(host)))
    throw new Error(`the relay is for loopback addresses only, not ${host}`);
}

/** Forwards `from` → `to`, delivering each chunk `delayMs` after it arrived (nothing once `silent()`). */
function pipeDelayed(from: net.Socket, to: net.Socket, delayMs: number, silent: () => boolean = () => false): void {
  const queue: { at: number; chunk: Buffer | null }[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | null = null;
  const pump = () => {
    timer = null;
    const now = performance.now();
    while (queue.length && queue[0]!.at <= now) {
      const { chunk } = queue.shift()!;
      if (chunk === null) {
        to.end();
        continue;
      }
      queued -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (queued < HIGH_WATER / 2 && from.isPaused()) from.resume();
    if (queue.length) timer = setTimeout(pump, Math.max(0, queue[0]!.at - performance.now()));
  };
  const push = (chunk: Buffer | null) => {
    if (silent()) return;
    queue.push({ at: performance.now() + delayMs, chunk });
    if (chunk) queued += chunk.length;
    if (queued > HIGH_WATER) from.pause();
    timer ??= setTimeout(pump, delayMs);
  };
  from.on("data", (chunk: Buffer) => push(chunk));
  from.on("end", () => push(null));
}

export async function startRelay(opts: {
  upstreamHost: string;
  upstreamPort: number;
  rttMs: number;
  listenHost?: string;
  listenPort?: number;
}): Promise<Relay> {
  const listenHost = opts.listenHost ?? "127.0.0.1";
  assertLoopback(listenHost);
  assertLoopback(opts.upstreamHost);
  const checkRtt = (ms: number) => {
    if (!(ms >= 0)) throw new Error(`--rtt must be a number of milliseconds ≥ 0, not ${ms}`);
  };
  checkRtt(opts.rttMs);
  let rttMs = opts.rttMs;
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let stall = 0;
  const silencers = new Set<() => void>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const oneWay = rttMs / 2;
    if (stall > 0) {
      stall--;
      sockets.add(client);
      client.on("close", () => sockets.delete(client));
      client.on("error", () => client.destroy());
      return;
    }
    const upstream = net.connect({ host: opts.upstreamHost, port: opts.upstreamPort, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    let silent = false;
    const silence = () => (silent = true);
    silencers.add(silence);
    client.on("close", () => silencers.delete(silence));
    pipeDelayed(client, upstream, oneWay, () => silent);
    pipeDelayed(upstream, client, oneWay, () => silent);
    const closeBoth = () => {
      if (client.destroyed && upstream.destroyed) return;
      // Both halves ended (or one side went away): let delayed bytes drain first.
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, oneWay + 50);
    };
    client.on("close", closeBoth);
    upstream.on("close", closeBoth);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.listenPort ?? 0, listenHost, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: listenHost,
    port,
    get rttMs() {
      return rttMs;
    },
    connections: () => accepted,
    stallNext: (n) => {
      stall = n;
    },
    setRtt: (ms) => {
      checkRtt(ms);
      rttMs = ms;
    },
    silenceOpen: () => {
      for (const silence of silencers) silence();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// Run as a program: relay until Ctrl-C.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { to: { type: "string" }, rtt: { type: "string" }, listen: { type: "string" } } });
  const [upHost, upPort] = (values.to ?? "").split(/:(?=\d+$)/);
  const [lHost, lPort] = (values.listen ?? "127.0.0.1:0").split(/:(?=\d+$)/);
  if (!upHost || !upPort) {
    console.error("usage: bench/relay.ts --to HOST:PORT --rtt MS [--listen HOST:PORT]");
    process.exit(2);
  }
  const relay = await startRelay({
    upstreamHost: upHost,
    upstreamPort: Number(upPort),
    rttMs: Number(values.rtt ?? 20),
    listenHost: lHost,
    listenPort: Number(lPort ?? 0),
  });
  console.log(`relay ${relay.host}:${relay.port} → ${upHost}:${upPort}, round trip +${relay.rttMs} ms`);
  process.on("SIGINT", () => void relay.close().then(() => process.exit(0)));
}
