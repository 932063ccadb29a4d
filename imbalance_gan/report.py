"""``python -m imbalance_gan.report <dir> [--out DIR]``: the report of a folder of classify runs.
``python -m imbalance_gan.report --findings <dir>... [--readme README.md]``: the README's
"What it found" section from committed studies.
``python -m imbalance_gan.report <short>... --agreement <long>``: whether short-protocol studies
draw the paired conclusions a long-protocol study of the same runs draws.

Turns the runs' ``metrics.json`` files into results.csv, summary.csv, report.md and figures/.
Reads nothing but the run folders' ``metrics.json`` / ``failed.json`` and the planned runs:
``<dir>/study.json``, or else a Hydra sweep's ``<dir>/multirun.yaml``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from imbalance_gan.reporting.agreement import agreement_report
from imbalance_gan.reporting.build import build_report
from imbalance_gan.reporting.findings import findings, replace_in
from imbalance_gan.runtime.errors import report_user_errors
from imbalance_gan.runtime.files import write_text


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write the report; exit 0, 1 when some runs failed, 2 on a user error."""
    parser = argparse.ArgumentParser(prog="python -m imbalance_gan.report", description=__doc__)
    parser.add_argument("dir", nargs="+", help="a study or multirun folder holding classify runs")
    parser.add_argument("--out", default=None, help="where to write (default: DIR)")
    parser.add_argument(
        "--findings",
        action="store_true",
        help="print the README's 'What it found' section for the DIRs' committed results "
        "(results.csv, study.json) instead of writing a report",
    )
    parser.add_argument(
        "--readme", default=None, help="with --findings: rewrite that section of this file"
    )
    parser.add_argument(
        "--agreement",
        metavar="LONG",
        default=None,
        help="print how each DIR's paired comparisons agree in sign and verdict with those of "
        "the study LONG (the same runs under a longer protocol) instead of writing a report",
    )
    args = parser.parse_args(argv)
    if args.readme and not args.findings:
        parser.error("--readme goes with --findings")
    if args.agreement:
        return report_user_errors(_agreement)(args.dir, args.agreement)
    if args.findings:
        return report_user_errors(_findings)(args.dir, args.readme)
    if len(args.dir) > 1:
        parser.error("one DIR at a time, except with --findings")
    args.dir = args.dir[0]
    path, table, failures = report_user_errors(build_report)(args.dir, args.out)
    print(path)
    print(table)
    if failures:
        print(f"{len(failures)} run(s) failed or missing (report written anyway):", file=sys.stderr)
        for f in failures:
            print(f"  {f['scenario']} seed {f['seed']}: {f['error']}", file=sys.stderr)
        return 1
    return 0


def _agreement(dirs: Sequence[str], long: str) -> int:
    print(agreement_report([Path(d) for d in dirs], Path(long)))
    return 0


def _findings(dirs: Sequence[str], readme: str | None) -> int:
    """Print (or write into ``readme``) the findings of ``dirs``, linked relative to the README."""
    base = Path(readme).resolve().parent if readme else Path.cwd()
    studies = [(Path(d), os.path.relpath(Path(d).resolve() / "report.md", base)) for d in dirs]
    text = findings(studies)
    if readme:
        path = Path(readme)
        write_text(path, replace_in(path.read_text(), text))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
