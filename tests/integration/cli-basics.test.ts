// The `sandboxer` CLI against the built server (server.mjs, as npm start runs it), PostgreSQL and real sshd build VMs:
// login and its config file, profiles, create --wait with progress (and a failing profile), list and
// show (--json parses), extend, destroy with and without the prompt, doctor, validate, exit codes,
// and an admin's host add / confirm-key / edit / remove.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createToken } from "@/lib/auth/tokens";

import { REPO_ROOT } from "../support/app-server";
import { createCliEnv, startCliWorld, type CliWorld } from "../support/cli-harness";

describe("sandboxer CLI: account, lifecycle, doctor, validate", () => {
  let w: CliWorld;

  beforeAll(async () => {
    w = await startCliWorld({ provider: "postgresql" });
  }, 120_000);

  afterAll(async () => {
    await w?.close();
  });

  async function createReady(profile = "profile.vm"): Promise<string> {
    const r = await w.cli.run(["create", profile, "--wait"]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  }

  it("login refuses a bad token with the server's message and exit 4, and writes nothing", async () => {
    const other = createCliEnv();
    try {
      const r = await other.run(["login", "--url", w.server.url, "--token", "sbx_not-a-real-token"]);
      expect(r.code).toBe(4);
      expect(r.stderr).toContain("Sign in or present an API token");
      expect(fs.existsSync(other.configPath)).toBe(false);
      const unreachable = await other.run(["login", "--url", "http://127.0.0.1:9", "--token", w.token]);
      expect(unreachable.code).toBe(6);
      expect(unreachable.stderr).toMatch(/Cannot reach http:\/\/127\.0\.0\.1:9/);
      const notLoggedIn = await other.run(["list"]);
      expect(notLoggedIn.code).toBe(4);
      expect(notLoggedIn.stderr).toContain("Not logged in");
    } finally {
      other.cleanup();
    }
  });

  it("login stores url and token in a 0600 file (token from stdin too); logout removes it", async () => {
    const other = createCliEnv();
    try {
      const r = await other.run(["login", "--url", `${w.server.url}/`, "--token", "-"], { input: `${w.token}\n` });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`alice-${process.pid}@cli.test`);
      const stat = fs.statSync(other.configPath);
      expect(stat.mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.dirname(other.configPath)).mode & 0o077).toBe(0);
      expect(JSON.parse(fs.readFileSync(other.configPath, "utf8"))).toEqual({ url: w.server.url, token: w.token });
      const me = await other.run(["whoami", "--json"]);
      expect(JSON.parse(me.stdout)).toMatchObject({
        email: `alice-${process.pid}@cli.test`,
        role: "member",
        via: "token",
        tokenName: "cli-tests",
      });
      expect((await other.run(["logout"])).code).toBe(0);
      expect(fs.existsSync(other.configPath)).toBe(false);
      // Environment credentials work without a file (CI).
      const env = await other.run(["whoami"], { env: { SANDBOXER_URL: w.server.url, SANDBOXER_TOKEN: w.token } });
      expect(env.code, env.stderr).toBe(0);
    } finally {
      other.cleanup();
    }
  });

  it("profiles: a table, and --json that parses", async () => {
    const table = await w.cli.run(["profiles"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^PROFILE\s+EXTENSION/);
    expect(table.stdout).toContain("profile.vm-bad-key");
    const json = JSON.parse((await w.cli.run(["profiles", "--json"])).stdout) as { id: string; usable: boolean }[];
    expect(json.map((p) => p.id)).toEqual(expect.arrayContaining(["profile.vm", "profile.local", "profile.vm-bad-key"]));
  });

  it("create --wait shows the progress and prints the id; list and show find it (--json parses)", async () => {
    const r = await w.cli.run(["create", "profile.vm", "--wait"]);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[a-z][a-z0-9]{7,31}$/);
    expect(r.stderr).toContain(`Creating ${id} from profile.vm`);
    expect(r.stderr).toMatch(/→ queued/);
    expect(r.stderr).toMatch(/→ creating/);
    expect(r.stderr).toMatch(/Connecting to sbxtest@127\.0\.0\.1:\d+/);
    expect(r.stderr).toMatch(/→ ready/);
    const vm1 = w.vms.vm("vm1");
    expect(fs.statSync(path.join(vm1.workspaceRoot, `sbx-${id}`)).isDirectory()).toBe(true);

    const list = JSON.parse((await w.cli.run(["list", "--mine", "--json"])).stdout) as { rows: { id: string; status: string }[] };
    expect(list.rows.find((s) => s.id === id)?.status).toBe("ready");
    const table = await w.cli.run(["list", "--status", "ready"]);
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+ready\\s+profile\\.vm\\s`, "m"));

    const show = JSON.parse((await w.cli.run(["show", id, "--json"])).stdout) as {
      status: string;
      handle: { workspacePath: string };
      timeline: unknown[];
    };
    expect(show.status).toBe("ready");
    expect(show.handle.workspacePath).toBe(path.join(vm1.workspaceRoot, `sbx-${id}`));
    expect(show.timeline.length).toBeGreaterThanOrEqual(3);
    const human = await w.cli.run(["show", id]);
    expect(human.stdout).toContain("destroy removes:");
    expect(human.stdout).toContain(`directory ${show.handle.workspacePath} on 127.0.0.1:${vm1.port}`);
  });

  it("create --wait hints `sandboxer ssh` only where it works; list and show give no expiry once it stops mattering", async () => {
    const vm = await w.cli.run(["create", "profile.vm", "--wait"]);
    expect(vm.code, vm.stderr).toBe(0);
    const vmId = vm.stdout.trim();
    expect(vm.stderr).toContain(`; connect: sandboxer ssh ${vmId}`);
    const local = await w.cli.run(["create", "profile.local", "--wait"]);
    expect(local.code, local.stderr).toBe(0);
    const localId = local.stdout.trim();
    // A local workspace is a directory on the server's machine: no ssh (nor gateway) reaches it.
    expect(local.stderr).toMatch(new RegExp(`workspace \\S+sbx-${localId} on this server\\n`));
    expect(local.stderr).not.toContain("sandboxer ssh");
    expect((await w.cli.run(["show", localId])).stdout).toMatch(/^expires\s/m);
    expect((await w.cli.run(["show", vmId])).stdout).toMatch(new RegExp(`^ssh\\s+sandboxer ssh ${vmId}$`, "m"));
    expect((await w.cli.run(["show", localId])).stdout).not.toMatch(/^ssh\s/m);

    expect((await w.cli.run(["destroy", "--yes", vmId, localId])).code).toBe(0);
    const shown = await w.cli.run(["show", localId]);
    expect(shown.stdout).toMatch(/^status\s+destroyed/m);
    expect(shown.stdout).not.toMatch(/^expires\s/m);
    expect((await w.cli.run(["show", vmId])).stdout).not.toMatch(/^ssh\s/m);
    const list = await w.cli.run(["list", "--all", "--status", "destroyed"]);
    // EXPIRES is "-", CREATED is "…s ago": no "in 8h" on the row.
    const row = list.stdout.split("\n").find((l) => l.startsWith(localId));
    expect(row).toMatch(/\s-\s+[0-9a-z ]+ ago$/);
    expect(row).not.toContain(" in ");
  });

  it("create --wait of a failing profile exits 1 with the reason; a bad input exits 2", async () => {
    const r = await w.cli.run(["create", "profile.vm-bad-key", "--wait"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/→ failed/);
    expect(r.stderr).toContain(w.vms.vm("vm2").hostKeyFingerprint);
    const bad = await w.cli.run(["create", "profile.vm", "--input", "nope=1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("nope");
    const unknown = await w.cli.run(["create", "profile.does-not-exist"]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('Profile "profile.does-not-exist" was not found');
  });

  it("show: unknown id → 3, malformed id → 2", async () => {
    const missing = await w.cli.run(["show", "zzzzzzzzzzzz"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('Sandbox "zzzzzzzzzzzz" was not found');
    expect((await w.cli.run(["show", "NOT_AN_ID"])).code).toBe(2);
  });

  it("extend moves the expiry up to the maximum, then says so with exit 5", async () => {
    const id = await createReady();
    const before = JSON.parse((await w.cli.run(["show", id, "--json"])).stdout) as { expiresAt: string; maxExpiresAt: string };
    const r = await w.cli.run(["extend", id, "--by", "1h", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(new Date((JSON.parse(r.stdout) as { expiresAt: string }).expiresAt).getTime() - new Date(before.expiresAt).getTime()).toBe(
      3_600_000,
    );
    expect((await w.cli.run(["extend", id, "--by", "1000d"])).code).toBe(0);
    const atMax = await w.cli.run(["extend", id, "--by", "1h"]);
    expect(atMax.code).toBe(5);
    expect(atMax.stderr).toContain("maximum");
    expect((await w.cli.run(["extend", id, "--by", "soon"])).code).toBe(2);
    await w.cli.run(["destroy", "--yes", id]);
  });

  it("destroy shows what it removes and asks: no → nothing happens; yes (stdin) → destroyed and gone", async () => {
    const id = await createReady();
    const workspace = path.join(w.vms.vm("vm1").workspaceRoot, `sbx-${id}`);
    const no = await w.cli.run(["destroy", id], { input: "n\n" });
    expect(no.code).toBe(1);
    expect(no.stderr).toContain(`directory ${workspace} on 127.0.0.1:`);
    expect(no.stderr).toContain("Destroy it? [y/N]");
    expect(no.stderr).toContain("Nothing was destroyed.");
    expect(fs.existsSync(workspace)).toBe(true);
    // End of input without an answer is "no", and says how to confirm without a prompt.
    const noAnswer = await w.cli.run(["destroy", id]);
    expect(noAnswer.code).toBe(1);
    expect(noAnswer.stderr).toContain(`Nothing was destroyed: no answer on standard input. Pass --yes`);
    expect(noAnswer.stderr).toContain(`sandboxer destroy --yes ${id}`);
    expect(fs.existsSync(workspace)).toBe(true);

    const yes = await w.cli.run(["destroy", id], { input: "y\n" });
    expect(yes.code, yes.stderr).toBe(0);
    expect(yes.stdout).toContain(`${id} destroyed`);
    expect(fs.existsSync(workspace)).toBe(false);
    // Again: already destroyed, nothing to ask.
    const again = await w.cli.run(["destroy", id]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("already destroyed");
  });

  it("destroy --yes of several, and --no-wait", async () => {
    const [a, b] = [await createReady(), await createReady("profile.vm-any")];
    const r = await w.cli.run(["destroy", "--yes", a, b, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { status: string }[]).map((s) => s.status)).toEqual(["destroyed", "destroyed"]);
    const c = await createReady();
    const quick = await w.cli.run(["destroy", "--yes", "--no-wait", c]);
    expect(quick.code).toBe(0);
    expect(quick.stdout).toMatch(new RegExp(`${c} (destroying|destroyed)`));
    // A typo among the ids stops everything before anything is destroyed.
    const d = await createReady();
    const typo = await w.cli.run(["destroy", "--yes", d, "zzzzzzzzzzzz"]);
    expect(typo.code).toBe(3);
    expect((await w.database.db.sandbox.findUniqueOrThrow({ where: { id: d } })).status).toBe("ready");
    await w.cli.run(["destroy", "--yes", d]);
  });

  it("doctor: ✓ for the server, token, tools and reachable hosts, ✗ for the wrong key, exit 1", async () => {
    const r = await w.cli.run(["doctor"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✓ server: http:\/\/127\.0\.0\.1:\d+ answers/);
    expect(r.stdout).toContain(`✓ token: alice-${process.pid}@cli.test (member, token "cli-tests" with scopes full, expires 20`);
    expect(r.stdout).toMatch(/✓ ssh: OpenSSH/);
    expect(r.stdout).toMatch(/✓ rsync: rsync\s+version/);
    expect(r.stdout).toMatch(/✓ profile\.vm @ host-vm1 ssh: 127\.0\.0\.1:\d+ answers with the pinned key/);
    expect(r.stdout).toMatch(/✓ profile\.vm-any @ host-vm2 workspace root: .* MiB free/);
    expect(r.stdout).toMatch(/✓ profile\.local workspace root: .* is writable/);
    expect(r.stdout).toMatch(/✗ profile\.vm-bad-key @ host-badkey ssh: .*SHA256:/);
    const json = JSON.parse((await w.cli.run(["doctor", "--json"])).stdout) as { ok: boolean; checks: { name: string; ok: boolean }[] };
    expect(json.ok).toBe(false);
    expect(json.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["profile.vm-bad-key @ host-badkey ssh"]);
  });

  it("validate: the repository's config is valid (exit 0); a broken one names file, line and field (exit 1)", async () => {
    const ok = await w.cli.run(["validate", REPO_ROOT]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("✓ profiles/vm-haskell-build.yaml (profile.vm-haskell-build)");
    const broken = fs.mkdtempSync(path.join(w.cli.dir, "broken-"));
    fs.cpSync(path.join(REPO_ROOT, "extensions"), path.join(broken, "extensions"), { recursive: true });
    fs.mkdirSync(path.join(broken, "profiles"));
    fs.writeFileSync(
      path.join(broken, "profiles", "bad.yaml"),
      "apiVersion: sandboxer.dev/v1\nid: profile.bad\ntitle: Bad\nextension: ext.vm-packer\nparams:\n  host: host-x\n  colour: blue\nttl: 8h\n",
    );
    const r = await w.cli.run(["validate", broken], { cwd: w.cli.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✗ profiles\/bad\.yaml:7.*colour/);
    const json = JSON.parse((await w.cli.run(["validate", broken, "--json"], { cwd: w.cli.dir })).stdout) as {
      ok: boolean;
      issues: { file: string }[];
    };
    expect(json.ok).toBe(false);
    expect(json.issues[0]?.file).toBe("profiles/bad.yaml");
  });

  it("every command has --help; usage errors exit 2", async () => {
    const commands = [
      "login",
      "logout",
      "whoami",
      "profiles",
      "hosts",
      "list",
      "show",
      "create",
      "destroy",
      "extend",
      "ssh",
      "exec",
      "run",
      "doctor",
      "validate",
    ];
    const results = await Promise.all(commands.map((cmd) => w.cli.run([cmd, "--help"])));
    commands.forEach((cmd, i) => {
      expect(results[i]!.code, cmd).toBe(0);
      expect(results[i]!.stdout, cmd).toContain(`Usage: sandboxer ${cmd}`);
    });
    const top = await w.cli.run(["--help"]);
    expect(top.stdout).toContain("Exit codes:");
    expect((await w.cli.run(["frobnicate"])).code).toBe(2);
    expect((await w.cli.run(["extend", "abcdefgh"])).code).toBe(2); // --by missing
  });
  it("host add, confirm-key, edit (labels and capacity; a hosts.yaml host refused) and remove, as an admin", async () => {
    const adminId = (await w.database.db.user.findUniqueOrThrow({ where: { email: `admin-${process.pid}@cli.test` } })).id;
    const { token } = await createToken(w.database.db, adminId, {
      name: "cli-host-admin",
      scopes: ["full", "admin"],
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    const admin = createCliEnv();
    try {
      expect((await admin.run(["login", "--url", w.server.url, "--token", token])).code).toBe(0);
      const vm2 = w.vms.vm("vm2");
      const add = await admin.run(["host", "add", "cli-vm2", "--address", vm2.host, "--port", String(vm2.port), "--user", vm2.user]);
      expect(add.code, add.stderr).toBe(0);
      expect(add.stdout).toContain(`cli-vm2 offered the host key ${vm2.hostKeyFingerprint}`);
      expect((await admin.run(["host", "confirm-key", "cli-vm2", vm2.hostKeyFingerprint])).code).toBe(0);
      const edit = await admin.run(["host", "edit", "cli-vm2", "--labels", "cli,edited", "--capacity", "3", "--title", "CLI VM"]);
      expect(edit.code, edit.stderr).toBe(0);
      expect(edit.stdout.trim()).toBe("cli-vm2: changed title, labels, capacity");
      const hosts = JSON.parse((await admin.run(["hosts", "--json"])).stdout) as { id: string; labels: string[]; capacity: number }[];
      expect(hosts.find((h) => h.id === "cli-vm2")).toMatchObject({ labels: ["cli", "edited"], capacity: 3 });
      const refused = await admin.run(["host", "edit", "host-vm1", "--capacity", "2"]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("comes from hosts.yaml");
      expect((await admin.run(["host", "edit", "cli-vm2", "--capacity", "0"])).code).toBe(2);
      expect((await admin.run(["host", "remove", "cli-vm2"])).code).toBe(0);
    } finally {
      admin.cleanup();
    }
  });
});
