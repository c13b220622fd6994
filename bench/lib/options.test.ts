import { describe, expect, it } from "vitest";

import { parseOptions } from "./options";

describe("bench options: --server-flag", () => {
  it("passes Node/V8 flags through, in order", () => {
    const o = parseOptions(
      ["--server-flag=--no-memory-reducer", "--server-flag=--bytecode-old-age=8", "--server-flag=--max_old_space_size=512"],
      "/repo",
    );
    expect(o).not.toBe("help");
    expect((o as Exclude<typeof o, "help">).serverNodeFlags).toEqual([
      "--no-memory-reducer",
      "--bytecode-old-age=8",
      "--max_old_space_size=512",
    ]);
    expect((parseOptions([], "/repo") as Exclude<typeof o, "help">).serverNodeFlags).toEqual([]);
  });

  it("refuses what is not one flag, naming the option", () => {
    expect(() => parseOptions(["--server-flag=--trace-gc --import=x.mjs"], "/repo")).toThrow(/--server-flag needs one Node\/V8 flag/);
    expect(() => parseOptions(["--server-flag=server.mjs"], "/repo")).toThrow(/--server-flag/);
  });
});

describe("bench options: --only", () => {
  it("runs one part alone, its results under a name of its own", () => {
    const gateway = parseOptions(["--only", "gateway"], "/repo") as Exclude<ReturnType<typeof parseOptions>, "help">;
    expect(gateway).toMatchObject({ only: "gateway", name: "gateway-only", outDir: "/repo/bench/results" });
    const create = parseOptions(["--only", "create", "--windows"], "/repo") as Exclude<ReturnType<typeof parseOptions>, "help">;
    expect(create).toMatchObject({ only: "create", windows: true, name: "create-only" });
    expect((parseOptions([], "/repo") as Exclude<ReturnType<typeof parseOptions>, "help">).only).toBeNull();
  });

  it("refuses another part, and --windows outside --only create", () => {
    expect(() => parseOptions(["--only", "dashboard"], "/repo")).toThrow(/--only must be create or gateway, not "dashboard"/);
    expect(() => parseOptions(["--only", "gateway", "--windows"], "/repo")).toThrow(/--windows needs --only create/);
  });

  it("seasons the server only for the create part, with a whole number", () => {
    const seasoned = parseOptions(["--only", "create", "--seasoned", "100"], "/repo") as Exclude<ReturnType<typeof parseOptions>, "help">;
    expect(seasoned.seasoned).toBe(100);
    expect((parseOptions(["--only", "create"], "/repo") as Exclude<ReturnType<typeof parseOptions>, "help">).seasoned).toBe(0);
    expect(() => parseOptions(["--seasoned", "100"], "/repo")).toThrow(/--seasoned needs --only create/);
    expect(() => parseOptions(["--only", "create", "--seasoned", "lots"], "/repo")).toThrow(/--seasoned must be a whole number/);
  });
});
