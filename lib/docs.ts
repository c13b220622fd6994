// Serves the repository's Markdown docs (runbooks, guides) inside the dashboard, so a profile's
// runbook link works where people are. Only *.md files under docs/ are readable; the path is built
// from checked segments and re-checked after resolving links. The docs' examples are written for the
// default address (http://127.0.0.1:3000); inside the dashboard they show this server's public URL.
import "server-only";

import fs from "node:fs";
import path from "node:path";

import { marked } from "marked";

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The address the docs' examples are written for (the default HOST and PORT). */
export const DOCS_EXAMPLE_URL = "http://127.0.0.1:3000";

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function docsRoot(): string {
  return path.resolve(process.cwd(), "docs");
}

/**
 * The HTML of docs/<segments>.md, or null when there is no such document. `serverUrl` (this server's
 * public URL, no trailing slash) replaces the examples' default address.
 */
export function renderDoc(segments: string[], serverUrl?: string): { title: string; html: string } | null {
  if (segments.length === 0 || segments.length > 4 || !segments.every((s) => SEGMENT.test(s) && !s.includes(".."))) return null;
  const last = segments.at(-1)!;
  const rel = [...segments.slice(0, -1), last.endsWith(".md") ? last : `${last}.md`];
  const root = docsRoot();
  const file = path.join(root, ...rel);
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return null;
  }
  if (!real.startsWith(`${fs.realpathSync(root)}${path.sep}`) || !fs.statSync(real).isFile()) return null;
  const text = fs.readFileSync(real, "utf8");
  const title = /^#\s+(.+)$/m.exec(text)?.[1]?.replace(/`/g, "") ?? last;
  // Raw HTML in the docs is shown as text: the docs are ours, but a page must never run markup.
  const renderer = new marked.Renderer();
  renderer.html = ({ text: raw }) => raw.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const html = marked.parse(text, { async: false, gfm: true, renderer }) as string;
  // Code blocks scroll sideways: focusable, so a keyboard can scroll them too.
  const focusable = html.replaceAll("<pre>", '<pre tabindex="0">');
  // Replaced in the HTML (escaped), not in the Markdown: a URL cannot turn into markup either way.
  return { title, html: serverUrl ? focusable.replaceAll(DOCS_EXAMPLE_URL, escapeHtml(serverUrl)) : focusable };
}
