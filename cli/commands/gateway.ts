// The SSH gateway from the terminal: `keys add|list|remove` (the public keys the gateway accepts),
// `config-ssh` (a managed block in ~/.ssh/config and a sand-boxer-managed known_hosts holding only
// the gateway's key, so `ssh sbx-<id>`, scp, rsync and VS Code Remote-SSH work with no further
// setup), and `port-forward` (ssh -L through the gateway to the VM's loopback). The gateway's host
// key comes from the API over the logged-in connection; nothing is ever auto-accepted by ssh.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { Command } from "commander";

import type { GatewayInfo } from "@/lib/gateway/instance";
import type { ConnectionView } from "@/lib/manager/connection";
import type { SshKeyView } from "@/lib/manager/ssh-keys";
import type { SandboxListView } from "@/lib/manager/views";
import { sshOptionPath } from "@/lib/ssh/ssh-options";

import type { ApiClient } from "../api-client";
import { configPath } from "../config";
import { CliError, EXIT, isCliError } from "../exit-codes";
import { withInterrupt } from "../interrupt";
import { OK_MARK, note, out, printJson, relative, table } from "../output";
import { PinnedTarget, resolveIdentity } from "../remote";
import { apiClient, sandboxPath } from "./shared";

/** The gateway's address and key, or null when it is off. */
export async function gatewayInfoOf(client: ApiClient, signal?: AbortSignal): Promise<GatewayInfo | null> {
  try {
    return await client.get<GatewayInfo>("/ssh-gateway", { signal });
  } catch (e) {
    if (isCliError(e) && e.details?.status === 404) return null;
    throw e;
  }
}

/**
 * How ssh/exec/run connect: through the gateway when it is on and the person has registered a key;
 * straight to the VM when the gateway is off, or when no key is registered (the gateway would refuse
 * them) — then with `noKey` set, so the caller can say how to switch.
 */
export async function gatewayRoute(client: ApiClient, signal?: AbortSignal): Promise<{ gateway: GatewayInfo | null; noKey: boolean }> {
  // Both at once (one round trip); the keys matter only when the gateway is on.
  const keysRequest = client.get<{ keys: SshKeyView[] }>("/me/ssh-keys", { signal });
  keysRequest.catch(() => {}); // read below only when the gateway is on
  const info = await gatewayInfoOf(client, signal);
  if (!info) return { gateway: null, noKey: false };
  const { keys } = await keysRequest;
  return keys.length > 0 ? { gateway: info, noKey: false } : { gateway: null, noKey: true };
}

/** The public key file to suggest for `sandboxer keys add`: the identity's, else the usual ones. */
export function suggestedPublicKey(identity: string | undefined, home = os.homedir()): string {
  const candidates = identity
    ? [`${identity}.pub`]
    : ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"].map((f) => path.join(home, ".ssh", f));
  const found = candidates.find((f) => fs.existsSync(f));
  if (!found) return "<your public key file>";
  return found.startsWith(`${home}/`) ? `~/${found.slice(home.length + 1)}` : found;
}

/** Said (on stderr) when ssh/exec/run fall back to the direct path because no key is registered. */
export function noKeyNotice(identity: string | undefined): string {
  return (
    "sandboxer: you have no SSH key registered with sand-boxer, so this connects straight to the build VM " +
    "(your key must be in its authorized_keys). To go through the SSH gateway instead, register one: " +
    `sandboxer keys add ${suggestedPublicKey(identity)}  (--direct skips this note)`
  );
}

const HOST_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const KNOWN_HOSTS_LINE = /^(\[[^\]\s]+\]:\d+|[^\s[\]]+) (ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}$/;

function checkGateway(gw: GatewayInfo): void {
  if (
    !HOST_PATTERN.test(gw.host) ||
    !Number.isInteger(gw.port) ||
    gw.port < 1 ||
    gw.port > 65535 ||
    !KNOWN_HOSTS_LINE.test(gw.knownHostsLine)
  ) {
    throw new CliError(
      "BAD_GATEWAY_INFO",
      "The server's SSH gateway details are malformed; refusing to write them into ssh's configuration",
      EXIT.FAILURE,
    );
  }
}

export const BLOCK_START = "# ------------START-SANDBOXER------------";
export const BLOCK_END = "# -------------END-SANDBOXER-------------";

/** The text of ~/.ssh/config with the managed block replaced by `block` (or removed when null). */
export function replaceManagedBlock(text: string, block: string | null): string {
  const start = text.indexOf(BLOCK_START);
  const end = text.indexOf(BLOCK_END);
  let before = text;
  let after = "";
  if (start !== -1 && end > start) {
    before = text.slice(0, start);
    after = text.slice(end + BLOCK_END.length).replace(/^\r?\n/, "");
  } else if (start !== -1 || end !== -1) {
    throw new CliError(
      "SSH_CONFIG_DAMAGED",
      `The sandboxer block in the SSH config is damaged (a start or end marker is missing); fix it by hand first`,
      EXIT.FAILURE,
    );
  }
  if (block === null) return (before.replace(/\n+$/, "\n") + after).replace(/^\n+/, "");
  const sep = before === "" || before.endsWith("\n\n") ? "" : before.endsWith("\n") ? "\n" : "\n\n";
  return `${before}${sep}${block}\n${after ? `\n${after.replace(/^\n+/, "")}` : ""}`;
}

/** The managed block: one Host per ready sandbox of the person's, through the gateway. */
export function managedBlock(opts: { gw: GatewayInfo; ids: string[]; knownHostsFile: string; identity?: string; server: string }): string {
  const lines = [
    BLOCK_START,
    `# Written by \`sandboxer config-ssh\` for ${opts.server}; do not edit. Run it again after creating sandboxes;`,
    "# `sandboxer config-ssh --remove` takes this block out.",
  ];
  for (const id of opts.ids) {
    lines.push(
      `Host sbx-${id}`,
      `  HostName ${opts.gw.host}`,
      `  Port ${opts.gw.port}`,
      `  User ${id}`,
      `  UserKnownHostsFile ${opts.knownHostsFile}`,
      "  StrictHostKeyChecking yes",
      "  ForwardAgent no",
      "  ForwardX11 no",
    );
    if (opts.identity) lines.push(`  IdentityFile ${opts.identity}`, "  IdentitiesOnly yes");
  }
  lines.push(BLOCK_END);
  return lines.join("\n");
}

/** A line diff good enough for a dry run (the block is small). */
export function lineDiff(before: string, after: string): string {
  const a = before.split("\n");
  const b = after.split("\n");
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const removed = a.slice(head, a.length - tail).map((l) => `-${l}`);
  const added = b.slice(head, b.length - tail).map((l) => `+${l}`);
  if (removed.length === 0 && added.length === 0) return "";
  return [`@@ line ${head + 1} @@`, ...removed, ...added].join("\n");
}

function sshConfigFile(flag: string | undefined): string {
  return path.resolve(flag ?? path.join(os.homedir(), ".ssh", "config"));
}

function knownHostsFile(): string {
  return path.join(path.dirname(configPath()), "known_hosts");
}

function writePrivate(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.sandboxer-${process.pid}`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function registerGatewayCommands(program: Command, setExit: (code: number) => void): void {
  const keys = program.command("keys").description("Your SSH public keys for the server's SSH gateway");
  keys
    .command("add")
    .description("Register a public key (default: ~/.ssh/id_ed25519.pub); ed25519, ecdsa or rsa ≥ 3072 bits")
    .argument("[file]", "a .pub file")
    .option("--comment <text>", "a label (default: the key's own comment)")
    .action(async (file: string | undefined, opts: { comment?: string }) => {
      const pub = path.resolve(file ?? path.join(os.homedir(), ".ssh", "id_ed25519.pub"));
      let text: string;
      try {
        text = fs.readFileSync(pub, "utf8");
      } catch {
        throw new CliError(
          "KEY_UNREADABLE",
          `${pub} does not exist or is not readable (make a key with: ssh-keygen -t ed25519)`,
          EXIT.USAGE,
        );
      }
      const key = await apiClient().post<SshKeyView>("/me/ssh-keys", {
        publicKey: text,
        ...(opts.comment ? { comment: opts.comment } : {}),
      });
      out(`${OK_MARK} added ${key.type} ${key.fingerprint}${key.comment ? ` (${key.comment})` : ""} — id ${key.id}`);
      setExit(EXIT.OK);
    });
  keys
    .command("list")
    .description("List your keys")
    .option("--json", "JSON output")
    .action(async (opts: { json?: boolean }) => {
      const { keys: list } = await apiClient().get<{ keys: SshKeyView[] }>("/me/ssh-keys");
      if (opts.json) printJson(list);
      else if (list.length === 0) note("No SSH keys yet: sandboxer keys add ~/.ssh/id_ed25519.pub");
      else
        out(
          table(
            ["ID", "TYPE", "FINGERPRINT", "COMMENT", "ADDED", "LAST USED"],
            list.map((k) => [
              k.id,
              k.type,
              k.fingerprint,
              k.comment,
              relative(k.createdAt),
              k.lastUsedAt ? relative(k.lastUsedAt) : "never",
            ]),
          ),
        );
      setExit(EXIT.OK);
    });
  keys
    .command("remove")
    .description("Remove one of your keys (the gateway refuses it from then on)")
    .argument("<id>", "key id (see `sandboxer keys list`)")
    .action(async (id: string) => {
      const key = await apiClient().delete<SshKeyView>(`/me/ssh-keys/${encodeURIComponent(id)}`);
      out(`${OK_MARK} removed ${key.fingerprint}`);
      setExit(EXIT.OK);
    });

  program
    .command("config-ssh")
    .description("Write a managed block into ~/.ssh/config so `ssh sbx-<id>`, scp, rsync and VS Code reach your sandboxes")
    .option("--dry-run", "show the change as a diff, write nothing")
    .option("--remove", "take the managed block out")
    .option("-i, --identity <file>", "use this private key for the sandboxes (IdentityFile)")
    .option("--ssh-config <file>", "the SSH config file (default: ~/.ssh/config)")
    .addHelpText(
      "after",
      "\nThe gateway's host key goes into a sand-boxer-managed known_hosts next to the CLI's config, and the block\n" +
        "has StrictHostKeyChecking yes: ssh never asks to accept a key. Run it again after creating sandboxes.",
    )
    .action(async (opts: { dryRun?: boolean; remove?: boolean; identity?: string; sshConfig?: string }) => {
      const file = sshConfigFile(opts.sshConfig);
      const before = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
      let after: string;
      let gw: GatewayInfo | null = null;
      if (opts.remove) {
        after = replaceManagedBlock(before, null);
      } else {
        const client = apiClient();
        gw = await gatewayInfoOf(client);
        if (!gw) throw new CliError("GATEWAY_OFF", "The server's SSH gateway is off (SANDBOXER_SSH_GATEWAY=off)", EXIT.FAILURE);
        checkGateway(gw);
        const identity = resolveIdentity(opts.identity);
        if (identity && sshOptionPath(identity) !== identity) {
          throw new CliError("BAD_PATH", `identity file ${JSON.stringify(identity)} cannot be written into ssh_config`, EXIT.USAGE);
        }
        const kh = knownHostsFile();
        if (sshOptionPath(kh) !== kh) throw new CliError("BAD_PATH", `${kh} cannot be written into ssh_config`, EXIT.USAGE);
        const list = await client.get<SandboxListView>("/sandboxes?mine=1&status=ready&pageSize=200");
        const ids = list.rows.map((r) => r.id);
        after = replaceManagedBlock(
          before,
          managedBlock({ gw, ids, knownHostsFile: kh, server: client.url, ...(identity ? { identity } : {}) }),
        );
        if (ids.length === 0) note("You have no ready sandboxes yet: the block is empty; run this again after creating one.");
      }
      const diff = lineDiff(before, after);
      if (opts.dryRun) {
        out(diff || "(no change)");
        setExit(EXIT.OK);
        return;
      }
      if (diff) {
        if (before && !fs.existsSync(`${file}.sandboxer.bak`)) fs.copyFileSync(file, `${file}.sandboxer.bak`);
        writePrivate(file, after);
      }
      if (gw) writePrivate(knownHostsFile(), `${gw.knownHostsLine}\n`);
      out(
        opts.remove
          ? `${OK_MARK} removed the sandboxer block from ${file}`
          : `${OK_MARK} ${file} updated; the gateway's key (${gw!.fingerprint}) is in ${knownHostsFile()}. Try: ssh sbx-<id>`,
      );
      setExit(EXIT.OK);
    });

  program
    .command("port-forward")
    .description("Forward a local port to a port on the sandbox's VM loopback (previews), through the SSH gateway")
    .argument("<id>", "sandbox id")
    .argument("<ports>", "<local>[:<remote>] — e.g. 8080 or 8080:3000")
    .option("-i, --identity <file>", "private key to log in with (default: $SANDBOXER_SSH_IDENTITY, else ssh's own)")
    .action(async (id: string, ports: string, opts: { identity?: string }) => {
      const m = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(ports);
      const local = Number(m?.[1]);
      const remote = Number(m?.[2] ?? m?.[1]);
      if (!m || local < 1 || local > 65535 || remote < 1 || remote > 65535) {
        throw new CliError("BAD_PORTS", `${JSON.stringify(ports)}: expected <local>[:<remote>], e.g. 8080 or 8080:3000`, EXIT.USAGE);
      }
      const identity = resolveIdentity(opts.identity);
      const client = apiClient();
      const gw = await gatewayInfoOf(client);
      if (!gw) throw new CliError("GATEWAY_OFF", "The server's SSH gateway is off (SANDBOXER_SSH_GATEWAY=off)", EXIT.FAILURE);
      checkGateway(gw);
      // The sandbox must be ready with an SSH endpoint; the gateway decides who may enter.
      const conn = await client.get<ConnectionView>(`${sandboxPath(id)}/connection`);
      const target = await PinnedTarget.open(
        { ...conn, host: gw.host, port: gw.port, user: id, hostKey: gw.fingerprint, knownHostsLine: gw.knownHostsLine },
        identity,
      );
      try {
        note(`▸ forwarding 127.0.0.1:${local} → ${id}:localhost:${remote} (Ctrl-C stops)`);
        const code = await withInterrupt(
          (signal) =>
            new Promise<number>((resolve) => {
              const child = spawn(
                "ssh",
                [
                  ...target.sshOptions({ batch: true }),
                  "-N",
                  "-o",
                  "ExitOnForwardFailure=yes",
                  "-L",
                  `127.0.0.1:${local}:localhost:${remote}`,
                  target.destination,
                ],
                { stdio: ["ignore", "inherit", "inherit"] },
              );
              signal.addEventListener("abort", () => child.kill("SIGTERM"), { once: true });
              child.on("close", (c) => resolve(signal.aborted ? 130 : (c ?? 1)));
            }),
        );
        setExit(code);
      } finally {
        await target.close();
      }
    });
}
