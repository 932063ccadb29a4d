"""report.html: the report's markdown as one self-contained page that is safe to mail.

Every value in the report comes from run records and configs that a user may have copied from
anywhere, so the page is built from escaped text: the markdown converter runs without its raw
HTML passes (``<script>`` in a scenario name stays text), links keep only relative targets,
and images are embedded only when they are figures the report itself wrote, named by their
path inside the report folder (an ``<img src="/any/file.png">`` smuggled into a record
embeds nothing)."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit

import markdown

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
    "table{border-collapse:collapse;font-size:0.85em;display:block;overflow-x:auto;margin:0.8em 0}"
    "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"
    "figure{margin:1em 0}figcaption{font-size:0.9em;color:#444}"
)
_IMG = re.compile(r"<img\b[^>]*>")
_ATTR = re.compile(r'\b(alt|src)="([^"]*)"')
_HREF = re.compile(r'<a href="([^"]*)"')


def escaped_markdown(text: str) -> str:
    """``text`` converted with tables, every raw HTML tag or block left as escaped text."""
    md = markdown.Markdown(extensions=["tables"])
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md.convert(text)


def _safe_href(target: str) -> bool:
    """A path inside the report (the report writes no other link); nothing a browser would read
    as a scheme or another host (a web page included) (``javascript:``, ``//host``, ``/\\host``, ``\\\\share``),
    after the clean-up browsers do (entities, tabs and newlines dropped, control characters and
    spaces stripped, backslashes read as slashes)."""
    url = re.sub(r"[\t\r\n]", "", html.unescape(target))
    url = url.strip("".join(map(chr, range(33)))).replace("\\", "/")
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


def to_html(text: str, base: Path, figures: Collection[str]) -> str:
    """``text`` (report markdown) as one HTML page; the images whose path is in ``figures``
    (relative to ``base``, the report folder) are embedded as data URIs, with their alt text as
    a caption; any other image becomes its escaped alt text."""
    body = escaped_markdown(text)
    own = {str(Path(f)) for f in figures}

    def embed(match: re.Match) -> str:
        attrs = dict(_ATTR.findall(match.group(0)))
        alt, src = attrs.get("alt", ""), html.unescape(attrs.get("src", ""))
        path = base / src
        if str(Path(src)) not in own or not path.is_file():
            return f"[image not embedded: {alt}]"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return (
            f'<figure><img alt="{alt}" src="data:image/png;base64,{data}" />'
            f"<figcaption>{alt}</figcaption></figure>"
        )

    body = _IMG.sub(embed, body)
    body = _HREF.sub(lambda m: m.group(0) if _safe_href(m.group(1)) else '<a href="#"', body)
    title = html.escape(text.splitlines()[0].lstrip("# ")) if text else "report"
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
