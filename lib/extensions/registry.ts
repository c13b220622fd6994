// Implementation keys → extension classes. Built-ins are listed here; a manifest whose
// `implementation` is not a known key does not load. Tests add their own (ext.fake) through
// `createRegistry({ extra })`; production code never registers test implementations.
import "server-only";

import type { ExtensionClass } from "./base";
import { ComposeSshExtension } from "./compose-ssh/extension";
import { LocalExtension } from "./local/extension";
import { VmPackerExtension } from "./vm-packer/extension";

export interface ExtensionRegistry {
  get(key: string): ExtensionClass | undefined;
  keys(): string[];
}

export const BUILT_IN_IMPLEMENTATIONS: Record<string, ExtensionClass> = {
  "compose-ssh": ComposeSshExtension,
  local: LocalExtension,
  "vm-packer": VmPackerExtension,
};

export function createRegistry(opts: { extra?: Record<string, ExtensionClass> } = {}): ExtensionRegistry {
  const map = new Map<string, ExtensionClass>(Object.entries(BUILT_IN_IMPLEMENTATIONS));
  for (const [key, cls] of Object.entries(opts.extra ?? {})) {
    if (map.has(key)) throw new Error(`implementation key "${key}" is already registered`);
    map.set(key, cls);
  }
  return {
    get: (key) => map.get(key),
    keys: () => [...map.keys()].sort(),
  };
}
