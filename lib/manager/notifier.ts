// In-process signals: "an operation was queued" wakes the local worker at once (no poll delay);
// "sandbox X changed" wakes the event streams that follow X; "team event" wakes the team stream hub;
// "cancel requested for operation X" stops X if it runs here. Other processes learn of a change from
// the database at once — on PostgreSQL through its notifications (lib/db/wake.ts), on SQLite by a
// watch of the file's commits (lib/db/sqlite-wake.ts); both pass them to this notifier and say
// whether they are working (crossProcessWake) — otherwise at their next poll.
import { EventEmitter } from "node:events";

export class Notifier {
  private readonly emitter = new EventEmitter();
  private wakeUp = false;

  constructor() {
    // One listener per open event stream; hundreds of browsers following sandboxes is normal.
    this.emitter.setMaxListeners(0);
  }

  operationQueued(): void {
    this.emitter.emit("operation");
  }

  onOperationQueued(fn: () => void): () => void {
    this.emitter.on("operation", fn);
    return () => this.emitter.off("operation", fn);
  }

  sandboxChanged(id: string): void {
    this.emitter.emit(`sandbox:${id}`);
    this.emitter.emit("sandbox:*", id);
  }

  onSandboxChanged(id: string | "*", fn: (id: string) => void): () => void {
    const name = `sandbox:${id}`;
    const listener = id === "*" ? fn : () => fn(id);
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  /** A team notice was stored (lib/manager/team-events.ts). */
  teamEvent(): void {
    this.emitter.emit("team");
  }

  onTeamEvent(fn: () => void): () => void {
    this.emitter.on("team", fn);
    return () => this.emitter.off("team", fn);
  }

  /** A destroy asked operation `opId` to stop (another process's; this process aborts its own directly). */
  cancelRequested(opId: string): void {
    this.emitter.emit(`cancel:${opId}`);
  }

  onCancelRequested(opId: string, fn: () => void): () => void {
    const name = `cancel:${opId}`;
    this.emitter.on(name, fn);
    return () => this.emitter.off(name, fn);
  }

  /** The operations that something here would stop on a cancel request (the ones running here). */
  cancelListeners(): string[] {
    const ids: string[] = [];
    for (const name of this.emitter.eventNames()) {
      if (typeof name === "string" && name.startsWith("cancel:") && this.emitter.listenerCount(name) > 0) ids.push(name.slice(7));
    }
    return ids;
  }

  /**
   * Whether other processes' changes reach this notifier as they commit (PostgreSQL's wake-up
   * connection is up, or the embedded database's watch runs). While false, only the polls see them.
   */
  get crossProcessWake(): boolean {
    return this.wakeUp;
  }

  setCrossProcessWake(up: boolean): void {
    this.wakeUp = up;
  }

  /**
   * How long a poll for other processes' changes may wait: `withoutWake`, or — while wake-ups bring
   * those changes and the poll is only the fallback for a lost one — `withWake` (never shorter).
   */
  fallbackPollMs(withoutWake: number, withWake: number): number {
    return this.wakeUp ? Math.max(withoutWake, withWake) : withoutWake;
  }
}
