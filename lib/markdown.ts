// Short Markdown from configuration (a profile's description) as HTML for the dashboard: inline code,
// emphasis, links and paragraphs. Raw HTML in the text is shown as text, and links go only to http(s)
// or to pages of this server: a profile file must never run markup in a page.
import { marked } from "marked";

const SAFE_HREF = /^(https?:\/\/|\/(?!\/)|#)/i;

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function renderShortMarkdown(text: string): string {
  const renderer = new marked.Renderer();
  renderer.html = ({ text: raw }) => escapeHtml(raw);
  renderer.image = ({ text: alt }) => escapeHtml(alt);
  const link = renderer.link.bind(renderer);
  renderer.link = (token) => (SAFE_HREF.test(token.href) ? link(token) : escapeHtml(token.text));
  return marked.parse(text, { async: false, gfm: true, breaks: false, renderer }) as string;
}
