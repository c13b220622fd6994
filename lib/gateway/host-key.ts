// The gateway's own host key: generated once (ed25519, OpenSSH format) into the data directory with
// mode 0600, or read from SANDBOXER_SSH_GATEWAY_HOST_KEY, which several instances behind one address
// must share. A key file others can read is refused, like OpenSSH refuses it.
import "server-only";

import fs from "node:fs";
import path from "node:path";

import ssh2 from "ssh2";

import { ValidationError } from "../errors";
import { sha256Fingerprint } from "./public-keys";

export const DEFAULT_HOST_KEY_FILE = "ssh-gateway-host-key";

export interface GatewayHostKey {
  /** The private key in OpenSSH format (what ssh2's server takes). */
  privateKey: string;
  /** `ssh-ed25519 AAAA…` */
  publicKeyLine: string;
  /** SHA256:… */
  fingerprint: string;
  file: string;
  /** True when this call generated the file. */
  generated: boolean;
}

function describe(file: string, text: string, generated: boolean): GatewayHostKey {
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error) {
    throw new ValidationError(`SSH gateway host key ${file} cannot be read: ${parsed.message}`, {
      SANDBOXER_SSH_GATEWAY_HOST_KEY: [parsed.message],
    });
  }
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  if (!key.isPrivateKey()) {
    throw new ValidationError(`SSH gateway host key ${file} is not a private key`, {
      SANDBOXER_SSH_GATEWAY_HOST_KEY: ["not a private key"],
    });
  }
  const blob = key.getPublicSSH();
  return {
    privateKey: text,
    publicKeyLine: `${key.type} ${blob.toString("base64")}`,
    fingerprint: sha256Fingerprint(blob),
    file,
    generated,
  };
}

/** Reads the configured key, or the data directory's (generating it on first start). */
export function loadGatewayHostKey(opts: { file?: string | undefined; dataDir: string }): GatewayHostKey {
  if (opts.file) {
    const file = path.resolve(opts.file);
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      throw new ValidationError(`SSH gateway host key ${file} (SANDBOXER_SSH_GATEWAY_HOST_KEY) cannot be read: ${(e as Error).message}`, {
        SANDBOXER_SSH_GATEWAY_HOST_KEY: ["file not readable"],
      });
    }
    checkMode(file, st);
    return describe(file, fs.readFileSync(file, "utf8"), false);
  }
  const file = path.join(opts.dataDir, DEFAULT_HOST_KEY_FILE);
  if (!fs.existsSync(file)) {
    const privateKey = generateHostKey();
    // Another process sharing the data directory (an instance, `npm run worker`) may be generating it
    // at the same moment, and must never read a half-written file: the key is written whole to a file
    // of this process's own, then linked into place (link fails if the name exists: the first one wins).
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    fs.writeFileSync(tmp, privateKey, { mode: 0o600, flag: "wx" });
    try {
      fs.linkSync(tmp, file);
      return describe(file, privateKey, true);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  checkMode(file, fs.statSync(file));
  return describe(file, fs.readFileSync(file, "utf8"), false);
}

/**
 * A new ed25519 key in OpenSSH format. ssh2's generator writes a key its own parser rejects
 * ("Malformed OpenSSH private key") about once in 250 (measured: 13 of 3,000), which made a server's
 * first start fail now and then: a key that does not parse back is generated again.
 */
export function generateHostKey(
  generate = () => ssh2.utils.generateKeyPairSync("ed25519", { comment: "sand-boxer ssh gateway" }).private,
): string {
  for (let attempt = 0; attempt < 20; attempt++) {
    const key = generate();
    if (!(ssh2.utils.parseKey(key) instanceof Error)) return key;
  }
  throw new Error("could not generate an SSH gateway host key that parses (20 attempts)");
}

function checkMode(file: string, st: fs.Stats): void {
  if ((st.mode & 0o077) !== 0) {
    throw new ValidationError(
      `SSH gateway host key ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
      { SANDBOXER_SSH_GATEWAY_HOST_KEY: ["mode must be 0600"] },
    );
  }
}
