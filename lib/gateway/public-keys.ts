// People's SSH public keys as the gateway accepts them: one OpenSSH public-key line
// (`<type> <base64> [comment]`), Ed25519, ECDSA (P-256/384/521) or RSA of at least 3072 bits. Every
// refusal says what was wrong in words a person can act on (a private key pasted by mistake, an
// authorized_keys line with options, DSA, a short RSA key, a blob whose inner type disagrees).
import crypto from "node:crypto";

export const MIN_RSA_BITS = 3072;

export const ACCEPTED_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;
export type AcceptedKeyType = (typeof ACCEPTED_KEY_TYPES)[number];

export interface ParsedPublicKey {
  type: AcceptedKeyType;
  /** The wire blob. */
  blob: Buffer;
  /** Base64 of the blob, as it appears in the line. */
  base64: string;
  /** SHA256:… without padding, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  bits: number;
  comment: string;
}

/** A key line that cannot be registered; `message` is the field error. */
export class PublicKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PublicKeyError";
  }
}

/** Longest accepted line: an RSA 16384-bit key is about 2.8 KB. */
const MAX_LINE = 8 * 1024;
const MAX_COMMENT = 100;

export function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Reads an SSH wire-format string list (RFC 4251 §5) from a key blob; throws on a malformed blob. */
function readStrings(blob: Buffer, count: number): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 4 > blob.length) throw new PublicKeyError("the key data is truncated (not a valid public key)");
    const len = blob.readUInt32BE(off);
    off += 4;
    if (off + len > blob.length) throw new PublicKeyError("the key data is truncated (not a valid public key)");
    out.push(blob.subarray(off, off + len));
    off += len;
  }
  if (off !== blob.length) throw new PublicKeyError("the key data has trailing bytes (not a valid public key)");
  return out;
}

function mpintBits(mpint: Buffer): number {
  let i = 0;
  while (i < mpint.length && mpint[i] === 0) i++;
  if (i === mpint.length) return 0;
  return (mpint.length - i - 1) * 8 + (32 - Math.clz32(mpint[i]!));
}

/** Strips what must not reach a page or a terminal from a comment, and bounds it. */
export function cleanComment(s: string): string {
  return s
    .replace(/[^\x20-\x7e\u00a0-\uffff]/g, "")
    .replace(/[\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, "")
    .trim()
    .slice(0, MAX_COMMENT);
}

/** Parses one public-key line; throws PublicKeyError naming the problem. */
export function parsePublicKey(text: string): ParsedPublicKey {
  const trimmed = text.trim();
  if (!trimmed) throw new PublicKeyError("paste a public key (the contents of a .pub file, e.g. ~/.ssh/id_ed25519.pub)");
  if (trimmed.length > MAX_LINE) throw new PublicKeyError(`too long for a public key (over ${MAX_LINE} characters)`);
  if (/PRIVATE KEY-----/.test(trimmed)) {
    throw new PublicKeyError("this is a PRIVATE key — never share it; paste the .pub file next to it instead");
  }
  const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() && !l.trim().startsWith("#"));
  if (lines.length !== 1) throw new PublicKeyError("one key per request: the text has several lines");
  const parts = lines[0]!.trim().split(/\s+/);
  const [type, base64, ...rest] = parts;
  if (!type || !base64) throw new PublicKeyError("expected `<type> <base64> [comment]`, e.g. `ssh-ed25519 AAAAC3Nz… you@laptop`");
  if (type.startsWith("sk-")) {
    throw new PublicKeyError(`security-key types (${type}) are not supported by the gateway yet; use an ed25519 or ecdsa key`);
  }
  if (type === "ssh-dss") throw new PublicKeyError("DSA keys are not accepted (OpenSSH disabled them); use ed25519");
  if (!(ACCEPTED_KEY_TYPES as readonly string[]).includes(type)) {
    if (ACCEPTED_KEY_TYPES.some((t) => base64 === t) || /[=,"]/.test(type)) {
      throw new PublicKeyError("authorized_keys options are not accepted: paste the bare key line (`<type> <base64> [comment]`)");
    }
    throw new PublicKeyError(
      `unsupported key type "${type.slice(0, 40)}": use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (≥ ${MIN_RSA_BITS} bits)`,
    );
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new PublicKeyError("the key data is not base64 (was the line cut or wrapped?)");
  const blob = Buffer.from(base64, "base64");
  if (blob.toString("base64").replace(/=+$/, "") !== base64.replace(/=+$/, "")) {
    throw new PublicKeyError("the key data is not valid base64 (was the line cut or wrapped?)");
  }
  const keyType = type as AcceptedKeyType;
  const innerLen = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const innerType = innerLen >= 0 && innerLen <= 64 && 4 + innerLen <= blob.length ? blob.subarray(4, 4 + innerLen).toString("latin1") : "";
  if (innerType !== keyType) {
    throw new PublicKeyError(
      innerType && /^[\x20-\x7e]+$/.test(innerType)
        ? `the key data is a ${innerType} key, not ${keyType}`
        : "the key data is not a valid public key",
    );
  }
  let bits: number;
  if (keyType === "ssh-ed25519") {
    const [inner, pub] = readStrings(blob, 2);
    if (inner!.toString() !== keyType) throw new PublicKeyError(`the key data is a ${inner!.toString().slice(0, 40)} key, not ${keyType}`);
    if (pub!.length !== 32) throw new PublicKeyError("an ed25519 public key is 32 bytes; this one is not (malformed key)");
    bits = 256;
  } else if (keyType === "ssh-rsa") {
    const [inner, e, n] = readStrings(blob, 3);
    if (inner!.toString() !== keyType) throw new PublicKeyError(`the key data is a ${inner!.toString().slice(0, 40)} key, not ${keyType}`);
    bits = mpintBits(n!);
    if (mpintBits(e!) === 0 || bits === 0) throw new PublicKeyError("malformed RSA key");
    if (bits < MIN_RSA_BITS) {
      throw new PublicKeyError(
        `RSA keys need at least ${MIN_RSA_BITS} bits; this one has ${bits}. Make an ed25519 key: ssh-keygen -t ed25519`,
      );
    }
  } else {
    const [inner, curve, point] = readStrings(blob, 3);
    const want = keyType.slice("ecdsa-sha2-".length);
    if (inner!.toString() !== keyType || curve!.toString() !== want) {
      throw new PublicKeyError(`the key data does not match its type ${keyType} (malformed key)`);
    }
    bits = { nistp256: 256, nistp384: 384, nistp521: 521 }[want as "nistp256" | "nistp384" | "nistp521"];
    const coord = Math.ceil(bits / 8);
    if (point!.length !== 1 + 2 * coord || point![0] !== 4) throw new PublicKeyError("malformed ECDSA key (bad curve point)");
  }
  return {
    type: keyType,
    blob,
    base64: blob.toString("base64"),
    fingerprint: sha256Fingerprint(blob),
    bits,
    comment: cleanComment(rest.join(" ")),
  };
}
