"""The report's prose lives in template files beside the code: each is read as named blocks,
every block the code asks for exists and every block is asked for, the files ship with the
package, and report.md is its title and SECTIONS, each a function of one ReportData."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from imbalance_gan.reporting import markdown, prose
from imbalance_gan.reporting.collect import collect_runs
from imbalance_gan.reporting.report_data import ReportData

from .conftest import ROOT
from .test_report import make_study

REPORTING = ROOT / "imbalance_gan" / "reporting"
TEMPLATES = sorted((REPORTING / prose.FOLDER).glob("*.md"))
#: every prose("part", "block" ...) call with literal names, and every other literal block name
CALL = re.compile(r'prose\(\s*"([a-z_]+)",\s*"([a-z_]+)"')
LITERAL = re.compile(r'"([a-z_]+)"')


def _code() -> str:
    return "\n".join(p.read_text() for p in sorted(REPORTING.glob("*.py")))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_a_template_file_is_named_blocks_of_valid_placeholders(path: Path) -> None:
    blocks = prose.blocks(path.stem)
    assert blocks, f"{path.name} holds no block"
    for name, template in blocks.items():
        assert template.is_valid(), f"{path.name}: block {name} has a stray $"
        assert template.template == template.template.strip("\n")


def test_every_block_the_code_asks_for_exists_and_every_block_is_asked_for() -> None:
    code = _code()
    asked = CALL.findall(code)
    assert asked
    for part, block in asked:
        assert block in prose.blocks(part), f"templates/{part}.md has no block {block}"
    named = set(LITERAL.findall(code))
    for path in TEMPLATES:
        assert path.stem in named, f"no code reads {path.name}"
        unused = set(prose.blocks(path.stem)) - named
        assert not unused, f"{path.name}: blocks no code reads: {sorted(unused)}"


def test_a_block_fills_every_placeholder_and_keeps_a_dollar_in_a_value_as_text() -> None:
    assert prose.prose("report", "failed", n=2, table="$n | $$") == (
        "## Failed runs\n\n2 run(s) failed or are missing; the tables above exclude them.\n\n$n | $$"
    )
    with pytest.raises(KeyError):
        prose.prose("report", "failed", n=2)


def test_the_templates_ship_with_the_package() -> None:
    """An editable install reads them from the source tree whatever pyproject says: check the
    package data itself."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["imbalance_gan.reporting"]
    for path in TEMPLATES:
        relative = path.relative_to(REPORTING).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


def test_report_md_is_its_title_and_each_section_of_one_report_data(tmp_path: Path) -> None:
    rows, failures, minority = collect_runs(make_study(tmp_path))
    data = ReportData(study={}, rows=rows, summary=[], minority=minority, failures=failures)
    text = markdown.render_report(data)
    parts = [markdown.prose("report", "title", plural="", classes="0"), ""]
    for section in markdown.SECTIONS:
        parts += [*section(data), ""]
    assert text == "\n".join(parts)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Protocol" and headings[-1] == "## Figures"
