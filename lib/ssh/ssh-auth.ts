// Loading what authenticates us to a build VM (a private key, or an agent socket) and what tells us
// its host key (a known_hosts file), with errors that name the file and the target but never a key.
import "server-only";

import { readFile, stat } from "node:fs/promises";

import ssh2 from "ssh2";

import { SshError } from "./errors";
import { describeTarget, type ResolvedSshConfig } from "./ssh-config";

const { utils } = ssh2;

export interface LoadedAuth {
  privateKey?: Buffer;
  passphrase?: string;
  agent?: string;
  describe: string;
}

type Identity = ResolvedSshConfig["identity"];

/** The agent socket an agent identity uses (its own, else $SSH_AUTH_SOCK), or SSH_KEY_UNREADABLE. */
export function agentSocketFor(identity: Extract<Identity, { agent: true }>, where: string): string {
  const socket = identity.agentSocket ?? process.env.SSH_AUTH_SOCK;
  if (!socket) {
    throw new SshError("SSH_KEY_UNREADABLE", `identity for ${where} is the ssh-agent, but SSH_AUTH_SOCK is not set for this process`);
  }
  return socket;
}

/** A key identity's passphrase from its environment variable (undefined when it has none), or SSH_KEY_UNREADABLE. */
export function passphraseFor(identity: Exclude<Identity, { agent: true }>): string | undefined {
  if (identity.passphraseEnv === undefined) return undefined;
  const passphrase = process.env[identity.passphraseEnv];
  if (passphrase === undefined) {
    throw new SshError(
      "SSH_KEY_UNREADABLE",
      `the passphrase for ${identity.privateKeyPath} should be in $${identity.passphraseEnv}, which is not set`,
      { details: { privateKeyPath: identity.privateKeyPath } },
    );
  }
  return passphrase;
}

export async function loadAuth(config: ResolvedSshConfig): Promise<LoadedAuth> {
  const where = describeTarget(config);
  const identity = config.identity;
  if ("agent" in identity) {
    const socket = agentSocketFor(identity, where);
    try {
      const st = await stat(socket);
      if (!st.isSocket()) throw new Error("not a socket");
    } catch (e) {
      throw new SshError("SSH_KEY_UNREADABLE", `ssh-agent socket ${socket} for ${where} is not usable: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return { agent: socket, describe: `ssh-agent at ${socket}` };
  }
  let raw: Buffer;
  try {
    raw = await readFile(identity.privateKeyPath);
  } catch (e) {
    throw new SshError(
      "SSH_KEY_UNREADABLE",
      `cannot read private key ${identity.privateKeyPath} for ${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e, details: { privateKeyPath: identity.privateKeyPath } },
    );
  }
  const passphrase = passphraseFor(identity);
  // Parsed here so a bad key is reported as such, with its path and without its content.
  const parsed = utils.parseKey(raw, passphrase);
  if (parsed instanceof Error) {
    throw new SshError(
      "SSH_KEY_UNREADABLE",
      `private key ${identity.privateKeyPath} for ${where} cannot be used: ${parsed.message}` +
        (/passphrase|encrypted|decrypt/i.test(parsed.message) && !passphrase
          ? " (set identity.passphraseEnv to the variable holding its passphrase)"
          : ""),
      { details: { privateKeyPath: identity.privateKeyPath } },
    );
  }
  return { privateKey: raw, passphrase, describe: `key ${identity.privateKeyPath}` };
}

export async function loadKnownHosts(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    // Missing is "nothing known" (the verdict then names the file); unreadable is a refusal too.
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw new SshError("SSH_HOST_KEY_UNKNOWN", `cannot read known_hosts file ${path}: ${(e as Error).message}`, {
      cause: e,
      details: { knownHostsPath: path },
    });
  }
}
