import { describe, expect, it } from "vitest";

import { parseHostFacts, parseMarker } from "./host-facts";

describe("host facts", () => {
  it("reads load, CPUs, available memory and the marker", () => {
    const f = parseHostFacts(
      '0.52 0.40 0.31 2/211 1234\n4\nMemAvailable:    2048000 kB\n--- sandboxer marker ---\n{"name":"haskell","version":"7","builtAt":"2026-11-30T10:00:00Z"}\n',
    );
    expect(f).toEqual({
      loadAverage: 0.52,
      cpuCount: 4,
      freeMemoryBytes: 2048000 * 1024,
      marker: { name: "haskell", version: "7", builtAt: new Date("2026-11-30T10:00:00Z") },
      markerProblem: null,
    });
  });

  it("says why there is no marker", () => {
    expect(parseMarker("marker-missing").problem).toMatch(/no image marker/);
    expect(parseMarker("{not json").problem).toMatch(/not JSON/);
    expect(parseMarker('{"name":"haskell"}').problem).toMatch(/version/);
    expect(parseMarker('{"name":"Bad Name","version":"1"}').marker).toBeNull();
  });

  it("tolerates missing lines", () => {
    const f = parseHostFacts("\n\n\n--- sandboxer marker ---\nmarker-missing\n");
    expect(f).toMatchObject({ loadAverage: null, cpuCount: null, freeMemoryBytes: null, marker: null });
  });
});
