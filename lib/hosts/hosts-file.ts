// hosts.yaml: the build VMs sand-boxer may attach to. Parsed strictly (file, line and field in every
// error). Hosts reached through a reverse tunnel give `tunnelPort` (a number, or "auto" to take a free
// one from SANDBOXER_TUNNEL_PORTS); the manager then connects to 127.0.0.1:<tunnelPort>.
import "server-only";

import fs from "node:fs";
import path from "node:path";

import { z } from "zod";

import { API_VERSION } from "../extensions/manifest";
import { ConfigFileError, readYamlFile, zodIssues, type ConfigIssue } from "../extensions/yaml-config";

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

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
    hostKey: z.string().regex(FINGERPRINT, { error: 'the pinned host key fingerprint, "SHA256:…" (ssh-keygen -lf <key>.pub -E sha256)' }),
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
  hosts: z.array(hostEntrySchema).default([]),
});

/** Reads hosts.yaml; a missing file means no build hosts (local profiles still work). */
export function readHostsFile(file: string, displayName = file): HostEntry[] {
  if (!fs.existsSync(file)) return [];
  const parsed = readYamlFile(file, displayName);
  const result = hostsFileSchema.safeParse(parsed.data);
  if (!result.success) throw new ConfigFileError(zodIssues(parsed, result.error));
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  const ports = new Map<number, string>();
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
  return result.data.hosts;
}
