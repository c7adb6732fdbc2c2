"""Data Docs pages that render offline: no request leaves the page.

Great Expectations' page template loads bootstrap, bootstrap-table, jQuery, popper, vega and
Font Awesome from public CDNs and its logo from S3, links to its newsletter, and points at a
Data Docs site (`../index.html`, `../static/...`) that a single page written next to a run
summary does not have. On a locked-down desktop such a page renders unstyled and makes outbound
requests. `offline_page` rewrites it so that everything it shows comes from the page itself:

- every `<script>` and `<link>` goes (the CDN libraries, and the inline scripts that need
  them: the onboarding modal, the show/hide-succeeded buttons, table search and sort);
- a small stylesheet (`STYLE`) replaces the bootstrap classes the page uses: grid, cards,
  tables, badges, alerts, spacing, `collapse` shown open, modals hidden, and the Font Awesome
  status icons as characters (✔ success, ✖ failure, ⚠, ?);
- external images and CSS `url(...)` backgrounds (the logo) are dropped, and links off the page
  (external or to the missing site) keep their text without the `href`.

The validation results themselves (every expectation, its status, observed values, the
statistics) are untouched. `external_references` lists what a page would fetch or link outside
itself; the tests require it to be empty for every HTML file the project writes.
"""

from __future__ import annotations

import re

#: Bootstrap 4 classes the Data Docs page uses, in a few lines; no external fonts or images.
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       font-size: 14px; line-height: 1.45; color: #212529; margin: 0; }
a { color: #0b5ed7; }
.container, .container-fluid { padding: 0 15px; margin: 0 auto; }
.row { display: flex; flex-wrap: wrap; margin: 0 -15px; }
.row > * { padding: 0 15px; box-sizing: border-box; }
.col-12 { flex: 0 0 100%; max-width: 100%; }
@media (min-width: 768px) {
  .col-md-2 { flex: 0 0 16.667%; max-width: 16.667%; }
  .col-md-10 { flex: 0 0 83.333%; max-width: 83.333%; }
}
.card { border: 1px solid #dee2e6; border-radius: 4px; margin-bottom: 1rem; background: #fff; }
.card-header { padding: .5rem 1rem; background: #f7f7f9; border-bottom: 1px solid #dee2e6; }
.card-body { padding: 1rem; }
.table { width: 100%; border-collapse: collapse; margin-bottom: 1rem; }
.table th, .table td { padding: .4rem; border-top: 1px solid #dee2e6; vertical-align: top;
                       text-align: left; }
.table-sm th, .table-sm td { padding: .25rem; }
.table-responsive { overflow-x: auto; }
.badge { display: inline-block; padding: .2em .45em; font-size: 85%; border-radius: 3px;
         background: #6c757d; color: #fff; }
.alert { padding: .6rem 1rem; border: 1px solid #d6d8db; border-radius: 4px;
         background: #e2e3e5; margin-bottom: 1rem; }
.text-success { color: #198754; } .text-danger { color: #dc3545; }
.text-warning { color: #b8860b; } .text-muted { color: #6c757d; }
.bg-light { background: #f8f9fa; } .rounded { border-radius: 4px; }
.d-flex { display: flex; } .sticky-top, .sticky { position: sticky; top: 0; }
.d-none, .modal, .ge-walkthrough-modal, .btn, footer, #ge-cta-footer { display: none; }
.collapse { display: block; }
.navbar, .nav, .breadcrumb { list-style: none; display: flex; flex-wrap: wrap; gap: .75rem;
                             padding: .5rem 0; margin: 0; }
.nav-pills { flex-direction: column; }
.m-0 { margin: 0; } .mb-0 { margin-bottom: 0; } .mt-0 { margin-top: 0; }
.mb-1, .mt-1 { margin: .25rem 0; } .mb-2, .m-2 { margin-bottom: .5rem; }
.mb-3 { margin-bottom: 1rem; } .mb-4 { margin-bottom: 1.5rem; }
.p-1 { padding: .25rem; } .p-2 { padding: .5rem; } .p-3 { padding: 1rem; }
.fas, .far, .fa { font-style: normal; }
.fa-check-circle::before { content: "\\2714"; }
.fa-times::before { content: "\\2716"; }
.fa-exclamation-triangle::before { content: "\\26A0"; }
.fa-question-circle::before { content: "?"; }
.fa-comment::before { content: "\\2026"; }
"""

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL)
_LINK = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_OFF_PAGE_IMG = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"'](?:https?:)?//[^>]*>", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import\s+[\"'](?:https?:)?//[^\"']*[\"']\s*;?", re.IGNORECASE)
#: `href` to another host or to the Data Docs site the single page does not have.
_OFF_PAGE_HREF = re.compile(
    r"\s+href\s*=\s*([\"'])(?:(?:https?:)?//|\.\./|index\.html)[^\"']*\1", re.IGNORECASE
)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)

#: What makes a browser fetch from, or link to, another host: src=, href=, url(), @import.
_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster)\s*=\s*["']?|url\(\s*["']?|@import\s+(?:url\()?\s*["']?)"""
    r"""((?:https?:)?//[^"'\s)>]+)""",
    re.IGNORECASE,
)


def offline_page(html: str) -> str:
    """A Data Docs page rewritten to render with nothing from outside itself (module doc)."""
    page = _SCRIPT.sub("", html)
    page = _LINK.sub("", page)
    page = _OFF_PAGE_IMG.sub("", page)
    page = _CSS_URL.sub("none", page)
    page = _CSS_IMPORT.sub("", page)
    page = _OFF_PAGE_HREF.sub("", page)
    style = f"<style>{STYLE}</style>"
    if _HEAD_END.search(page):
        return _HEAD_END.sub(lambda _: style + "</head>", page, count=1)
    return style + page


def external_references(html: str) -> list[str]:
    """The URLs on other hosts that `html` loads or links to (src, href, url(), @import)."""
    return sorted(set(_EXTERNAL.findall(html)))
