"""Escaping helpers for submitted text."""

from __future__ import annotations

from leaderboard.text import escape_html, escape_markdown, link_markdown, safe_link


def test_escaping():
    assert escape_html('<img src=x onerror="a">&') == "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;"
    md = escape_markdown("**bold** [x](javascript:y)\n<b>")
    assert "*" not in md.replace("\\*", "") and "\n" not in md and "<" not in md.replace("\\<", "")
    assert safe_link("javascript:alert(1)") is None and safe_link("https://a.b/c") == "https://a.b/c"
    assert link_markdown("x", "javascript:alert(1)") == "x"
    assert link_markdown("paper", "https://a.b/(c)") == "[paper](https://a.b/%28c%29)"
