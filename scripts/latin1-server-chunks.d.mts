// Types of scripts/latin1-server-chunks.mjs for next.config.ts and its test.
export function escapeBeyondLatin1(source: string): string;
export function latin1ServerChunks(distDir: string): { files: number; chars: number };
