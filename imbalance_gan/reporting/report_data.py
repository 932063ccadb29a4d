"""What report.md shows, in one object: the runs, their summaries and comparisons, the failed
runs and the figures (:class:`ReportData`, built by
:func:`~imbalance_gan.reporting.build.build_report`); each of the report's sections is a
function of it (:data:`~imbalance_gan.reporting.markdown.SECTIONS`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from imbalance_gan.reporting.columns import key_metrics
from imbalance_gan.reporting.shortcuts import shortcut_counts
from imbalance_gan.reporting.tables import collapsed_counts
from imbalance_gan.runtime.errors import UserError


@dataclass(frozen=True)
class ReportData:
    """Everything report.md shows (made by :func:`~imbalance_gan.reporting.build.build_report`).

    ``rows``: one per finished run, with its upgraded record; ``summary``: one per scenario;
    ``comparisons``: each scenario against ``baseline``; ``best_classic``: each generative
    scenario against the best classic one; ``every_classic``: against each classic one;
    ``ranking``: the classic scenarios by the metrics ``chosen_by``
    (:func:`~imbalance_gan.reporting.aggregate.classic_ranking`; the validation key metrics by
    default, or those of the test set's selection half); ``figures``: (caption, relative path)
    pairs; ``skipped_figures``: why figures were left out."""

    study: dict
    rows: Sequence[dict]
    summary: Sequence[dict]
    minority: Sequence[int]
    comparisons: Sequence[dict] = ()
    best_classic: Sequence[dict] = ()
    every_classic: Sequence[dict] = ()
    ranking: Sequence[tuple[str, list]] = ()
    chosen_by: Sequence[str] | None = None
    baseline: str = "original"
    failures: Sequence[dict] = ()
    figures: Sequence[tuple[str, str]] = ()
    skipped_figures: Sequence[str] = ()

    @property
    def choosing(self) -> tuple[str, ...]:
        """The metrics the best classic fix is chosen by."""
        return tuple(self.chosen_by or key_metrics(self.minority, "val"))

    @property
    def on_halves(self) -> bool:
        """Chosen on the test set's selection half and measured on its report half (else
        chosen on the validation split and measured on the whole test set)."""
        return self.choosing[0].startswith("select/")

    @cached_property
    def class_names(self) -> list[str] | None:
        return class_names(self.rows)

    @cached_property
    def collapsed(self) -> dict[str, tuple[int, int]]:
        return collapsed_counts(self.rows)

    @cached_property
    def shortcuts(self) -> dict[str, tuple[int, int, str]]:
        return shortcut_counts(self.rows)


def class_names(rows: Sequence[dict]) -> list[str] | None:
    """The class names the runs recorded (an image folder's), or None; runs naming their
    classes differently are not one setting and are refused."""
    found = {tuple(r["record"]["class_names"] or ()) for r in rows if "record" in r}
    found.discard(())
    if len(found) > 1:
        raise UserError(
            f"runs name their classes differently ({sorted(found)}); report one setting at a time"
        )
    return list(found.pop()) if found else None
