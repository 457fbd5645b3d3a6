// Markdown for the page's viewer (not the service worker): markdown-it with raw HTML
// off, then DOMPurify, so a catalog's .md file is shown as a document and can carry no
// script, style or handler. Built into src/natster/web/static/markdown.js (an ES module
// the page imports when it first shows a Markdown file).
import DOMPurify from "dompurify";
import MarkdownIt from "markdown-it";

const md = new MarkdownIt({ html: false, linkify: true, typographer: false });

/** ``text`` (Markdown, a peer's: untrusted) as safe HTML. */
export function renderMarkdown(text) {
  return String(DOMPurify.sanitize(md.render(String(text)), { USE_PROFILES: { html: true } }));
}
