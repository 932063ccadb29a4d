"""``python -m imbalance_gan.report <dir> [--out DIR]``: the report of a folder of classify runs.

Turns the runs' ``metrics.json`` files into results.csv, summary.csv, report.md and figures/.
Reads nothing but the run folders' ``metrics.json`` / ``failed.json`` and the planned runs:
``<dir>/study.json``, or else a Hydra sweep's ``<dir>/multirun.yaml``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from imbalance_gan.reporting.build import build_report
from imbalance_gan.runtime.errors import report_user_errors


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write the report; exit 0, 1 when some runs failed, 2 on a user error."""
    parser = argparse.ArgumentParser(prog="python -m imbalance_gan.report", description=__doc__)
    parser.add_argument("dir", help="a study or multirun folder holding classify runs")
    parser.add_argument("--out", default=None, help="where to write (default: DIR)")
    args = parser.parse_args(argv)
    path, table, failures = report_user_errors(build_report)(args.dir, args.out)
    print(path)
    print(table)
    if failures:
        print(f"{len(failures)} run(s) failed or missing (report written anyway):", file=sys.stderr)
        for f in failures:
            print(f"  {f['scenario']} seed {f['seed']}: {f['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
