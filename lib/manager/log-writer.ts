// Batches a sandbox's log lines into few inserts: an rsync can print hundreds of lines a second, and
// one INSERT per line would make the log the slowest part of a create. Lines keep their order;
// `flush()` is awaited before every state change so the log never lags behind the status.
import "server-only";

import type { Db } from "../db/client";
import { appendEvents, type EventInput, type EventLevel } from "../db/events";
import type { Logger } from "../logger";
import type { Notifier } from "./notifier";

const FLUSH_MS = 150;
const MAX_BATCH = 200;
const MAX_LINE = 2_000;

export class LogWriter {
  private buffer: EventInput[] = [];
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly sandboxId: string,
    private readonly logger: Logger,
    private readonly notifier?: Notifier,
  ) {}

  /** Queues a line; never throws (a failing log write must not fail the operation). */
  readonly log = (line: string, level: EventLevel = "info"): void => {
    const message = line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
    this.buffer.push({ sandboxId: this.sandboxId, type: "log", level, message, createdAt: new Date() });
    if (this.buffer.length >= MAX_BATCH) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  };

  /** Writes what is buffered; resolves when everything logged so far is stored. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length > 0) {
      this.chain = this.chain.then(async () => {
        try {
          await appendEvents(this.db, batch);
          this.notifier?.sandboxChanged(this.sandboxId);
        } catch (e) {
          this.logger.warn({ err: e, sandboxId: this.sandboxId, lines: batch.length }, "could not store log lines");
        }
      });
    }
    return this.chain;
  }
}
