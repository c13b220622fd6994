import { describe, expect, it } from "vitest";

import { DOCS_EXAMPLE_URL, renderDoc } from "./docs";

describe("renderDoc", () => {
  it("shows the runbook's API examples with this server's URL instead of the default address", () => {
    const plain = renderDoc(["runbooks", "local"]);
    expect(plain?.html).toContain(`${DOCS_EXAMPLE_URL}/api/v1/sandboxes`);
    const here = renderDoc(["runbooks", "local"], "https://sandboxer.example.com/team&a");
    expect(here?.html).not.toContain(DOCS_EXAMPLE_URL);
    expect(here?.html).toContain("https://sandboxer.example.com/team&amp;a/api/v1/sandboxes");
  });

  it("makes code blocks focusable (they scroll sideways; a keyboard must reach them)", () => {
    const html = renderDoc(["cli"])!.html;
    expect(html).toContain('<pre tabindex="0"><code');
    expect(html).not.toContain("<pre>");
  });

  it("reads only Markdown under docs/", () => {
    expect(renderDoc(["..", "package.json"])).toBeNull();
    expect(renderDoc(["runbooks", "nope"])).toBeNull();
  });
});
