// `sandboxer run` into a warm-pool member (real app server, real sshd VMs, PostgreSQL): the member
// already holds the profile's repository; the sync compares content and leaves exactly the working
// tree — files deleted locally are deleted there, changed and new ones arrive, ignored paths are
// neither sent (local build output) nor deleted (the VM's build cache), .git stays. The pool's counts
// follow the team event stream (`pool` frames) as members are claimed and made.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { SseParser } from "@/cli/sse";
import type { PoolCountsView } from "@/lib/manager/views";

import { runAs } from "../support/build-vms";
import { announcedId, startCliWorld, WORLD_PROFILES, type CliWorld } from "../support/cli-harness";

function write(root: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), text);
  }
}

describe("sandboxer run into a warm-pool member", () => {
  let w: CliWorld;
  let upstream: string;

  beforeAll(async () => {
    upstream = fs.mkdtempSync("/tmp/sbx-pool-upstream-");
    write(upstream, {
      ".gitignore": "build/\n*.log\n",
      "a.txt": "a, as in the repository\n",
      "b.txt": "b, deleted in the working tree\n",
      "src/x.hs": "main = pure ()\n",
      "same.txt": "unchanged\n",
    });
    w = await startCliWorld({
      provider: "postgresql",
      profiles: {
        ...WORLD_PROFILES,
        pooled: {
          extension: "ext.vm-packer",
          title: "Pooled VM workspace",
          params: { host: "host-vm1", repository: { path: upstream } },
          pool: { size: 2, refillConcurrency: 2, maxAge: "1h" },
        },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await w?.close();
    fs.rmSync(upstream, { recursive: true, force: true });
  });

  async function pooled(): Promise<string[]> {
    const rows = await w.database.db.sandbox.findMany({ where: { poolKey: { not: null }, status: "pooled" }, select: { id: true } });
    return rows.map((r) => r.id);
  }

  async function fill(): Promise<void> {
    const deadline = Date.now() + 90_000;
    while ((await pooled()).length < 2) {
      if (Date.now() > deadline) throw new Error("the pool did not fill");
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it("pool counts follow the team stream: a claim, then its refill, arrive as pool frames", async () => {
    await fill();
    const ac = new AbortController();
    const res = await fetch(`${w.server.url}/api/v1/events`, {
      headers: { accept: "text/event-stream", authorization: `Bearer ${w.token}` },
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const seen: PoolCountsView[] = [];
    let live = false;
    const reading = (async () => {
      const parser = new SseParser();
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          for (const m of parser.push(decoder.decode(chunk, { stream: true }))) {
            if (m.event === "ready") live = true;
            if (m.event === "pool") seen.push(JSON.parse(m.data) as PoolCountsView);
          }
        }
      } catch {
        // aborted
      }
    })();
    const until = async (what: string, pred: () => boolean) => {
      const deadline = Date.now() + 90_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`${what}; pool frames: ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await until("the stream did not start", () => live);
      const created = await fetch(`${w.server.url}/api/v1/sandboxes`, {
        method: "POST",
        headers: { authorization: `Bearer ${w.token}`, "content-type": "application/json" },
        body: JSON.stringify({ profile: "profile.pooled" }),
      });
      const s = (await created.json()) as { id: string; status: string };
      expect(s.status).toBe("ready");
      // The claim took one member out of the pool; the refill put one back.
      await until("no frame with one member ready", () => seen.some((f) => f.profiles["profile.pooled"]?.ready === 1));
      const claimedAt = seen.findIndex((f) => f.profiles["profile.pooled"]?.ready === 1);
      await until("no frame with the pool full again", () =>
        seen.slice(claimedAt).some((f) => f.profiles["profile.pooled"]?.ready === 2 && f.hosts["host-vm1"]?.ready === 2),
      );
      expect(seen.at(-1)).toEqual({
        profiles: { "profile.pooled": { ready: 2, filling: 0 } },
        hosts: { "host-vm1": { ready: 2, total: 2 } },
      });
      const destroy = await fetch(`${w.server.url}/api/v1/sandboxes/${s.id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${w.token}` },
      });
      expect(destroy.status).toBe(202);
    } finally {
      ac.abort();
      await reading;
    }
  }, 180_000);

  it("leaves exactly the working tree: deleted files gone, ignored paths neither sent nor deleted", async () => {
    await fill();
    const root = w.vms.vm("vm1").workspaceRoot;
    // The VM's build cache in every member (ignored: it must survive the sync).
    for (const id of await pooled()) {
      const r = await runAs(w.vms.user, [
        "sh",
        "-c",
        'mkdir -p "$1/build" && echo cache > "$1/build/cache.o"',
        "sh",
        path.join(root, `sbx-${id}`),
      ]);
      expect(r.code, r.stderr).toBe(0);
    }
    const project = fs.mkdtempSync(path.join(w.cli.dir, "checkout-"));
    fs.cpSync(upstream, project, { recursive: true });
    fs.rmSync(path.join(project, "b.txt"));
    write(project, {
      "a.txt": "a, changed in the working tree\n",
      "c.txt": "c, new\n",
      "debug.log": "local, ignored\n",
      "build/local.o": "local build output, ignored\n",
    });
    const r = await w.cli.run(
      ["run", "profile.pooled", "--keep", "--identity", w.vms.identityFile, "--", "sh", "-c", "find . -type f | sort; cat a.txt"],
      { cwd: project },
    );
    expect(r.code, r.stderr).toBe(0);
    const id = announcedId(r.stderr);
    const events = await w.database.db.event.findMany({ where: { sandboxId: id, type: "state" }, orderBy: { id: "asc" } });
    expect(events.map((e) => e.message).join("\n")).toMatch(/Claimed from the warm pool/);
    expect(r.stdout).toBe(
      ["./.gitignore", "./a.txt", "./build/cache.o", "./c.txt", "./same.txt", "./src/x.hs", "a, changed in the working tree", ""].join(
        "\n",
      ),
    );
    const destroy = await w.cli.run(["destroy", id, "--yes"]);
    expect(destroy.code, destroy.stderr).toBe(0);
    expect(fs.existsSync(path.join(root, `sbx-${id}`))).toBe(false);
  }, 180_000);
});
