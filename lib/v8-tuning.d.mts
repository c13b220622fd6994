// Types of lib/v8-tuning.mjs.
export function v8FlagsFor(version: string): string[];
export function applyV8Flags(): string[];
