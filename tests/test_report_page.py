"""report.html is safe to mail: every value from run records and study.json is escaped text,
and only the figures the report wrote are embedded."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from imbalance_gan.reporting.build import build_report

from .conftest import ROOT
from .test_report import PNG, make_study


def hostile(secret: Path) -> list[str]:
    """Strings that would run script, smuggle markup or embed another file if passed raw."""
    return [
        "<script>alert(1)</script>",
        f'<img src="{secret}" onerror="alert(2)">',
        f"![leak]({secret})",
        "[click](javascript:alert(3))",
        "<a href='javascript:alert(4)'>x</a>",
        "../../../escape",
        "[unc](/\\evil.example/x) [tab](/&#9;/evil.example) [web](https://evil.example)",
    ]


def poison(value, bad: list[str], k: list[int]):
    """``value`` with every string replaced by the next hostile string (cycling)."""
    if isinstance(value, dict):
        return {key: poison(v, bad, k) for key, v in value.items()}
    if isinstance(value, list):
        return [poison(v, bad, k) for v in value]
    if isinstance(value, str):
        k[0] += 1
        return bad[k[0] % len(bad)]
    return value


#: the tags the report's own markdown makes, and the page around it
PAGE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "h1",
    "h2",
    "h3",
    "p",
    "ul",
    "ol",
    "li",
}
PAGE_TAGS |= {"table", "thead", "tbody", "tr", "th", "td", "strong", "em", "code", "a", "img"}
PAGE_TAGS |= {"figure", "figcaption", "br", "hr", "pre", "blockquote"}


class Tags(HTMLParser):
    """The tags and attributes of a page, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_hostile_strings_in_every_field_reach_the_page_as_text(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG + b"do not embed me" * 20)
    bad = hostile(secret)
    root = make_study(tmp_path / "study")
    for i, path in enumerate(sorted(root.rglob("runs/*/*/metrics.json"))):
        record = json.loads(path.read_text())
        keep = {key: record[key] for key in ("kind", "seed", "experiment")}
        record = poison(record, bad, [i])
        record.update(keep, scenario=bad[i % len(bad)])
        path.write_text(json.dumps(record))
    (root / "study.json").write_text(
        json.dumps(poison({"hardware": "", "deviations": ["", "", ""], "experiment": ""}, bad, [0]))
    )
    failed = root / "runs" / "seed9" / "bad"
    failed.mkdir(parents=True)
    (failed / "failed.json").write_text(
        json.dumps({"kind": "classify", "scenario": bad[0], "seed": 9, "error": bad[1]})
    )
    out = tmp_path / "out"
    build_report(root, out)
    page = (out / "report.html").read_text()
    parsed = Tags()
    parsed.feed(page)
    # no markup from the records: only the report's own tags, no handler, no script link
    assert {tag for tag, _ in parsed.tags} <= PAGE_TAGS
    assert not [a for _, attrs in parsed.tags for a in attrs if a.startswith("on")]
    hrefs = [a.get("href", "") for t, a in parsed.tags if t == "a"]
    assert not [h for h in hrefs if "javascript" in h or "evil.example" in h]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    # the smuggled file is not embedded; every image is a figure the report wrote
    assert base64.b64encode(secret.read_bytes()).decode()[:40] not in page
    sources = [a["src"] for t, a in parsed.tags if t == "img"]
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert len(sources) == len(list((out / "figures").glob("*.png"))) > 0
    # figures named after hostile scenario names stay inside figures/
    assert {p.parent for p in tmp_path.rglob("*.png")} - {secret.parent} <= {
        out / "figures",
        *{p.parent for p in root.rglob("*.png")},
    }


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: appended to a copy of the page: lists every element wider than its box or the window
PROBE = """<script>
window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('table, img, figure, pre, p, li, h1, h2')]
    .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > width + 1)
    .map(e => e.tagName + ': ' + (e.textContent || '').trim().slice(0, 60));
  const out = document.createElement('pre');
  out.id = 'overflow';
  out.textContent = JSON.stringify({width: width, wide: wide});
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
@pytest.mark.parametrize("study", ["compare_300", "fixes_30"])
def test_the_report_of_a_real_study_fits_a_1400px_window(tmp_path, study):
    """The committed 300-zero comparison (10 scenarios, 3 GANs) and the study of every long-tail
    fix (17 classic scenarios), rendered as a person sees them: no table, figure or paragraph is
    wider than the page or needs its own scroll bar."""
    out = tmp_path / "report"
    build_report(ROOT / "results" / study, out)
    page = (out / "report.html").read_text()
    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,3000"]
        + ["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r'<pre id="overflow">([^<]*)</pre>', dom)
    assert found, dom[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    assert result["width"] > 1000 and result["wide"] == []
