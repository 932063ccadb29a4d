"""``report --agreement``: each paired comparison of a short-protocol study beside the same one
of a long-protocol study, and whether their signs and verdicts agree."""

from __future__ import annotations

from imbalance_gan.reporting.agreement import agreement, agreement_markdown, comparisons

from .conftest import run_module


def _rows(values: dict[str, list[float]]) -> list[dict]:
    family = {"original": "reference", "elastic": "classic", "projgan_affine": "generative"}
    return [
        {
            "scenario": s,
            "family": family[s],
            "seed": seed,
            "test/f1_c0": v,
            "test/recall_c0": v,
        }
        for s, vs in values.items()
        for seed, v in enumerate(vs)
    ]


def test_a_flipped_sign_and_a_lost_verdict_are_found():
    long = _rows(
        {
            "original": [0.70, 0.72, 0.71],
            "elastic": [0.90, 0.91, 0.92],
            "projgan_affine": [0.93, 0.95, 0.94],  # ahead of elastic on every seed
        }
    )
    short = _rows(
        {
            "original": [0.70, 0.72, 0.71],
            "elastic": [0.94, 0.96, 0.95],  # now ahead of projgan_affine
            "projgan_affine": [0.93, 0.95, 0.94],
        }
    )
    assert comparisons(long) == [
        ("projgan_affine", "elastic"),
        ("elastic", "original"),
        ("projgan_affine", "original"),
    ]
    found = {(r["scenario"], r["against"], r["metric"]): r for r in agreement(short, long)}
    flipped = found[("projgan_affine", "elastic", "test/f1_c0")]
    assert flipped["short"]["mean_diff"] < 0 < flipped["long"]["mean_diff"]
    assert not flipped["sign_agrees"]
    kept = found[("projgan_affine", "original", "test/recall_c0")]
    assert kept["sign_agrees"] and kept["verdict_agrees"]
    text = "\n".join(agreement_markdown("short", list(found.values())))
    assert "6 comparisons: the sign agrees in 4" in text and "**no**" in text


def test_the_command_compares_a_study_with_itself(tmp_path):
    proc = run_module(
        "imbalance_gan.report", "results/compare_30", "--agreement", "results/compare_30"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "the sign agrees in" in proc.stdout and "**no**" not in proc.stdout
