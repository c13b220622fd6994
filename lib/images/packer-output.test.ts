import { describe, expect, it } from "vitest";

import { manifestArtifacts, parsePackerLine } from "./packer-output";

describe("packer -machine-readable output", () => {
  it("turns ui lines into log lines, unescaping commas and newlines", () => {
    expect(parsePackerLine("1700000000,,ui,say,==> null.vm: Running provisioner%!(PACKER_COMMA) shell")).toEqual({
      kind: "log",
      level: "info",
      message: "==> null.vm: Running provisioner, shell",
    });
    expect(parsePackerLine("1700000000,,ui,error,Build 'file.x' errored: open /nope: no such file\\n")).toMatchObject({
      level: "error",
      message: "Build 'file.x' errored: open /nope: no such file",
    });
  });

  it("reads artifact ids and the error count", () => {
    expect(parsePackerLine("1700000000,vm,artifact,0,id,abc-123")).toMatchObject({ kind: "artifact", artifactId: "abc-123" });
    expect(parsePackerLine("1700000000,,error-count,1")).toMatchObject({ kind: "error-count", errorCount: 1, level: "error" });
  });

  it("removes control characters and escape sequences from remote text", () => {
    expect(parsePackerLine("1700000000,,ui,message,\u001b[31mred\u001b[0m\u0007 bell")?.message).toBe("red bell");
  });

  it("reads the manifest post-processor's artifact ids", () => {
    expect(manifestArtifacts({ builds: [{ artifact_id: "Null" }, { artifact_id: 3 }], last_run_uuid: "u-1" })).toEqual({
      artifacts: ["Null"],
      runUuid: "u-1",
    });
    expect(manifestArtifacts(null)).toEqual({ artifacts: [], runUuid: null });
  });
});
