// hosts.yaml: the build VMs sand-boxer may attach to. Parsed strictly (file, line and field in every
// error). Hosts reached through a reverse tunnel give `tunnelPort` (a number, or "auto" to take a free
// one from SANDBOXER_TUNNEL_PORTS); the manager then connects to 127.0.0.1:<tunnelPort>.
//
// A host's key is trusted through a pinned fingerprint (`hostKey`), a known_hosts file (`knownHosts`,
// per host or for every host at the top level; plain, hashed `|1|…` and `@revoked` entries as OpenSSH
// reads them), or both — then the pin decides and the file can still revoke the key. The file must
// exist and be readable when hosts.yaml is read; it is read again at every connection, so edits to it
// (a revocation, a rotated key) apply without a restart.
import "server-only";

import fs from "node:fs";
import path from "node:path";

import { z } from "zod";

import { API_VERSION } from "../extensions/manifest";
import { ConfigFileError, readYamlFile, zodIssues, type ConfigIssue } from "../extensions/yaml-config";

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

const knownHostsField = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.startsWith("~"), { error: "an absolute path, or one relative to hosts.yaml (~ is not expanded)" })
  .refine((p) => !/[\0\r\n]/.test(p), { error: "a file path" });

export const hostEntrySchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: "lowercase letters, digits and dashes" }),
    title: z.string().min(1).max(80).optional(),
    address: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9.:-]*$/, { error: "a host name or IP address" })
      .optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, { error: "a user name" }),
    hostKey: z
      .string()
      .regex(FINGERPRINT, { error: 'the pinned host key fingerprint, "SHA256:…" (ssh-keygen -lf <key>.pub -E sha256)' })
      .optional(),
    /** A known_hosts file (absolute, or relative to hosts.yaml); after readHostsFile: the absolute path in effect. */
    knownHosts: knownHostsField.optional(),
    workspaceRoot: z
      .string()
      .refine((p) => p.startsWith("/") && p !== "/" && !p.endsWith("/") && path.posix.normalize(p) === p, {
        error: "an absolute, normalised directory other than /",
      })
      .default("/build"),
    labels: z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,40}$/, { error: "labels are lowercase words" })).default([]),
    capacity: z.number().int().min(1).max(10_000).default(10),
    tunnelPort: z.union([z.number().int().min(1).max(65535), z.literal("auto")]).optional(),
    identityFile: z
      .string()
      .refine((p) => p.startsWith("/"), { error: "an absolute path" })
      .optional(),
    /** Where the VM's image marker is (written by its image build; see docs/images.md). */
    markerPath: z
      .string()
      .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "an absolute file path" })
      .optional(),
  })
  .refine((h) => h.address !== undefined || h.tunnelPort !== undefined, {
    error: "give the VM's address, or a tunnelPort (the manager then connects to 127.0.0.1:<tunnelPort>)",
    path: ["address"],
  });

export type HostEntry = z.output<typeof hostEntrySchema>;

const hostsFileSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `must be "${API_VERSION}"` }),
  /** The known_hosts file for every host that does not name its own. */
  knownHosts: knownHostsField.optional(),
  hosts: z.array(hostEntrySchema).default([]),
});

/** Why a known_hosts file cannot be used, or null when it is a readable regular file. */
function knownHostsProblem(file: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? `${file} does not exist` : `${file} cannot be read: ${(e as Error).message}`;
  }
  if (!st.isFile()) return `${file} is not a regular file`;
  try {
    fs.closeSync(fs.openSync(file, "r"));
  } catch (e) {
    return `${file} is not readable by this user (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  return null;
}

/** Reads hosts.yaml; a missing file means no build hosts (local profiles still work). */
export function readHostsFile(file: string, displayName = file): HostEntry[] {
  if (!fs.existsSync(file)) return [];
  const parsed = readYamlFile(file, displayName);
  const result = hostsFileSchema.safeParse(parsed.data);
  if (!result.success) throw new ConfigFileError(zodIssues(parsed, result.error));
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  const ports = new Map<number, string>();
  const dir = path.dirname(path.resolve(file));
  const checkKnownHosts = (value: string | undefined, at: (string | number)[]): string | undefined => {
    if (value === undefined) return undefined;
    const abs = path.resolve(dir, value);
    const problem = knownHostsProblem(abs);
    if (problem) issues.push({ file: displayName, field: at.join("."), line: parsed.lineOf(at), message: `known_hosts file ${problem}` });
    return abs;
  };
  const defaultKnownHosts = checkKnownHosts(result.data.knownHosts, ["knownHosts"]);
  const hosts = result.data.hosts.map((h, i) => {
    const knownHosts = h.knownHosts !== undefined ? checkKnownHosts(h.knownHosts, ["hosts", i, "knownHosts"]) : defaultKnownHosts;
    if (h.hostKey === undefined && knownHosts === undefined)
      issues.push({
        file: displayName,
        field: `hosts.${i}.hostKey`,
        line: parsed.lineOf(["hosts", i]),
        message: `host "${h.id}" needs a pinned hostKey or a knownHosts file (its own, or the top-level knownHosts)`,
      });
    return { ...h, knownHosts };
  });
  result.data.hosts.forEach((h, i) => {
    if (seen.has(h.id))
      issues.push({
        file: displayName,
        field: `hosts.${i}.id`,
        line: parsed.lineOf(["hosts", i, "id"]),
        message: `duplicate host id "${h.id}"`,
      });
    seen.set(h.id, i);
    if (typeof h.tunnelPort === "number") {
      const other = ports.get(h.tunnelPort);
      if (other)
        issues.push({
          file: displayName,
          field: `hosts.${i}.tunnelPort`,
          line: parsed.lineOf(["hosts", i, "tunnelPort"]),
          message: `tunnel port ${h.tunnelPort} is already held by "${other}"`,
        });
      ports.set(h.tunnelPort, h.id);
    }
  });
  if (issues.length) throw new ConfigFileError(issues);
  return hosts;
}
