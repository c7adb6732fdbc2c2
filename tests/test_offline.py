"""Data Docs pages rewritten to render offline (`txcat.validate.offline`), without Spark or GE.

`tests/storage/test_validate.py` checks the page Great Expectations really renders.
"""

from __future__ import annotations

from txcat.validate.offline import STYLE, external_references, offline_page

#: The shape of Great Expectations' page template: CDN styles and scripts, an S3 logo, inline
#: jQuery code, a newsletter link, links into a Data Docs site, and the results.
LOGO = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com"
GE_LIKE = f"""<!DOCTYPE html>
<html>
  <head>
    <title>Data documentation compiled by Great Expectations</title>
    <link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
    <link rel="stylesheet" type="text/css" href="//cdnjs.cloudflare.com/x/all.min.css">
    <link rel="shortcut icon" href="../../../static/images/favicon.ico">
    <style>
    .navbar-brand {{ background: url('{LOGO}/full_logo_dark.png') 0 0 no-repeat; }}
    @import url("https://fonts.googleapis.com/css?family=Roboto");
    @import "https://fonts.googleapis.com/css?family=Lato";
    </style>
    <script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
    <script
      src="https://cdn.jsdelivr.net/npm/vega@5"></script>
  </head>
  <body>
    <nav><a href="../../../../index.html">Home</a><a href="#section-1">Overview</a></nav>
    <img src="{LOGO}/logo-long.png?d=1" alt="logo">
    <div class="collapse" id="c1"><table class="table"><tr><td>
      <i class="fas fa-times text-danger"></i> values must be unique: 1 unexpected value
    </td></tr></table></div>
    <a href="https://greatexpectations.io/newsletter?utm=1" target="_blank">newsletter</a>
    <script>$(".ge-walkthrough-modal").modal();</script>
  </body>
</html>
"""


def test_the_template_fetches_from_other_hosts():
    assert external_references(GE_LIKE) == [
        "//cdnjs.cloudflare.com/x/all.min.css",
        "https://cdn.jsdelivr.net/npm/vega@5",
        "https://code.jquery.com/jquery-3.7.1.min.js",
        "https://fonts.googleapis.com/css?family=Lato",
        "https://fonts.googleapis.com/css?family=Roboto",
        "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png",
        "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1",
        "https://greatexpectations.io/newsletter?utm=1",
        "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css",
    ]


def test_the_offline_page_needs_nothing_from_outside_and_keeps_the_results():
    page = offline_page(GE_LIKE)
    assert external_references(page) == []
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "../" not in page  # no link into a Data Docs site the single page does not have
    assert '<a href="#section-1">Overview</a>' in page  # links within the page stay
    assert '<i class="fas fa-times text-danger"></i> values must be unique' in page
    assert '<a target="_blank">newsletter</a>' in page
    assert page.count(STYLE) == 1 and page.index(STYLE) < page.index("</head>")


def test_the_status_icons_are_characters():
    assert '.fa-times::before { content: "\\2716"; }' in STYLE
    assert '.fa-check-circle::before { content: "\\2714"; }' in STYLE
    assert ".collapse { display: block; }" in STYLE
    assert external_references(f"<style>{STYLE}</style>") == []
