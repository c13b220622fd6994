import { describe, expect, it } from "vitest";

import { renderShortMarkdown } from "./markdown";

describe("renderShortMarkdown", () => {
  it("renders inline code and emphasis instead of showing backticks", () => {
    const html = renderShortMarkdown("A `/build/sbx-<id>` workspace, *fast*.");
    expect(html).toContain("<code>/build/sbx-&lt;id&gt;</code>");
    expect(html).toContain("<em>fast</em>");
    expect(html).not.toContain("`");
  });

  it("shows raw HTML as text and drops unsafe links", () => {
    const html = renderShortMarkdown('<img src=x onerror="alert(1)"> [x](javascript:alert(1)) [docs](/docs/cli)');
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img");
    expect(html).not.toContain("javascript:");
    expect(html).toContain('<a href="/docs/cli">docs</a>');
  });
});
