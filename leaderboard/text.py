"""Rendering submitted text safely.

Submitted text (model names, notes, submitter, links) is stored exactly as
given and escaped where it is rendered. Everything the leaderboard returns
(tables, records, JSON) is plain text; **a UI must escape it** with the helper
for the context it renders into: :func:`escape_html` for HTML (including plotly
hover text, which the plots here already escape), :func:`escape_markdown` for
Markdown (``gr.Dataframe(datatype="markdown")``, ``gr.Markdown``), and
:func:`safe_link` for hrefs.
"""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")


def escape_html(text: object) -> str:
    """``text`` with ``& < > " '`` escaped, safe inside HTML elements and quoted attributes."""
    return html.escape("" if text is None else str(text), quote=True)


def escape_markdown(text: object) -> str:
    """``text`` with Markdown syntax and HTML brackets backslash-escaped and newlines flattened."""
    flat = " ".join(("" if text is None else str(text)).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def safe_link(url: object) -> str | None:
    """``url`` when it is a plain http(s) URL (what metadata validation accepts), else ``None``."""
    if isinstance(url, str) and re.fullmatch(r"https?://[^\s<>\"'`]+", url):
        return url
    return None


def link_markdown(label: object, url: object) -> str:
    """A Markdown link with an escaped label, or just the escaped label when the URL is not safe."""
    href = safe_link(url)
    text = escape_markdown(label)
    if href is None:
        return text
    return f"[{text}]({href.replace('(', '%28').replace(')', '%29')})"
