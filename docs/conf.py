"""Sphinx configuration of memwise's documentation site (`nox -s docs` builds it, strict).

The pages are the markdown files of this folder, read by MyST; facts kept elsewhere (the
README's quick start, the toolkit's session and settings tables) are included, not copied.
"""

project = "memwise"
author = "the memwise developers"
copyright = "memwise developers"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
# The source folder is the repository's root, so that a link between the README, the changelog
# and docs/ works the same here as on the forge; only these files are pages.
root_doc = "docs/index"
include_patterns = ["README.md", "CHANGELOG.md", "docs/**.md"]
exclude_patterns = ["docs/_build/**"]

# `#a-heading` links between pages resolve to the heading's anchor, as on GitHub.
myst_heading_anchors = 3
# A reference that resolves to nothing is a warning, and `-W` makes it an error.
nitpicky = True

html_theme = "furo"
html_title = "memwise"
html_static_path: list[str] = []
# Pages are read offline (file://) as well as served: no source links to a forge.
html_show_sourcelink = False
# Search shows titles only: the summary under each hit is fetched from its page, which a browser
# refuses for a site opened as files (the search itself reads searchindex.js and works there).
html_show_search_summary = False


def _redirect_to_the_entry_page(app, exception) -> None:
    """The site's root opens the entry page (docs/index.html), served or opened as a file."""
    if exception is None and app.builder.format == "html":
        from pathlib import Path

        Path(app.outdir, "index.html").write_text(
            '<!DOCTYPE html><meta charset="utf-8"><title>memwise</title>'
            '<meta http-equiv="refresh" content="0; url=docs/index.html">'
            '<a href="docs/index.html">memwise documentation</a>\n',
            encoding="utf-8",
        )


def setup(app):
    app.connect("build-finished", _redirect_to_the_entry_page)
