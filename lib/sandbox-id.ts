// Sandbox ids: short, lowercase, and strict enough that a workspace name built from one
// (`sbx-<id>`) can never carry a slash, a dot, a space or a shell metacharacter.
import { randomBytes } from "node:crypto";

import { ValidationError } from "./errors";

export const SANDBOX_ID_PATTERN = /^[a-z][a-z0-9]{7,31}$/;
export const WORKSPACE_PREFIX = "sbx-";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** A new random id: a letter, then 11 letters or digits (about 57 bits). */
export function newSandboxId(): string {
  const bytes = randomBytes(12);
  let id = ALPHABET[bytes[0]! % 26]!;
  for (let i = 1; i < 12; i++) id += ALPHABET[bytes[i]! % ALPHABET.length]!;
  return id;
}

export function isSandboxId(value: string): boolean {
  return SANDBOX_ID_PATTERN.test(value);
}

/** The workspace directory name of a sandbox (`sbx-<id>`); refuses anything that is not a sandbox id. */
export function workspaceName(id: string): string {
  if (!isSandboxId(id)) {
    throw new ValidationError(`not a sandbox id: ${JSON.stringify(id)}`, { id: ["must match " + String(SANDBOX_ID_PATTERN)] });
  }
  return `${WORKSPACE_PREFIX}${id}`;
}
