// What the server's memory is made of at one moment (see memorySnapshot in bench/run.ts).
export interface MemorySnapshot {
  rssMb: number;
  treeMb: number;
  processes: number;
  /** From /proc/<pid>/status: anonymous memory (heap, JIT code, malloc) vs mapped files (node, .so, .node). */
  rssAnonMb: number;
  rssFileMb: number;
  /** The process's own view (process.memoryUsage via the probe's SIGUSR2 handler). */
  heapUsedMb?: number;
  heapTotalMb?: number;
  externalMb?: number;
  arrayBuffersMb?: number;
  heapSpacesUsedMb?: Record<string, number>;
}
