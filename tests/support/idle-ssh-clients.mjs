// Bad SSH clients for the gateway's bounded-memory test, in their own process (a process's descriptors
// are limited): opens COUNT TCP connections to HOST:PORT and never authenticates. Even-numbered ones
// stay silent; odd ones send an SSH identification line and then stall. None closes a connection
// itself: each is held until the server closes it. Prints one JSON line when all are open
// ({"opened":n,"failed":n}) and one when all are closed or GIVE_UP_MS has passed
// ({"closed":n,"open":n,"minLifeMs":…,"maxLifeMs":…}), then exits.
//
//   node tests/support/idle-ssh-clients.mjs HOST PORT COUNT GIVE_UP_MS
import net from "node:net";

const [host, portText, countText, giveUpText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const giveUpMs = Number(giveUpText);
if (!host || !Number.isInteger(port) || !Number.isInteger(count) || !Number.isInteger(giveUpMs)) {
  process.stderr.write("usage: idle-ssh-clients.mjs HOST PORT COUNT GIVE_UP_MS\n");
  process.exit(2);
}

const sockets = [];
let opened = 0;
let failed = 0;
let closed = 0;
let settled = 0;
const lives = [];

function report(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function finish() {
  clearTimeout(giveUp);
  const open = sockets.filter((s) => !s.destroyed).length;
  for (const s of sockets) s.destroy();
  report({
    closed,
    open,
    minLifeMs: lives.length ? Math.min(...lives) : null,
    maxLifeMs: lives.length ? Math.max(...lives) : null,
  });
  process.exit(0);
}

const giveUp = setTimeout(finish, giveUpMs);

function settle() {
  settled++;
  if (settled === count) report({ opened, failed });
}

for (let i = 0; i < count; i++) {
  // A connection's life is timed from before its SYN: never shorter than the gateway's hold on it.
  const startedAt = performance.now();
  const socket = net.connect({ host, port });
  sockets.push(socket);
  let connected = false;
  socket.on("connect", () => {
    connected = true;
    opened++;
    if (i % 2 === 1) socket.write("SSH-2.0-OpenSSH_9.2p1 idle\r\n");
    settle();
  });
  // Whatever the server says is read and ignored (its identification line, its KEXINIT).
  socket.on("data", () => {});
  socket.on("error", () => {});
  socket.on("close", () => {
    if (!connected) {
      failed++;
      settle();
    } else {
      closed++;
      lives.push(Math.round(performance.now() - startedAt));
    }
    if (closed + failed === count) finish();
  });
}
