"""report.md from the tables of :mod:`aggregate`: protocol, results, paired comparison,
published numbers, GAN quality and failed runs, as markdown text."""

from __future__ import annotations

from collections.abc import Sequence

from imbalance_gan.record import GAN_EVAL, SELECTION_SCORE, gan_metrics
from imbalance_gan.reporting.aggregate import MIN_PAIRS_FOR_TEST, is_number
from imbalance_gan.reporting.columns import MACRO_METRICS, SIGNATURE, key_metrics
from imbalance_gan.reporting.tables import (
    collapsed_counts,
    fmt,
    label,
    p_text,
    results_table,
    table,
)
from imbalance_gan.runtime.errors import UserError

#: significance level of the paired tests' verdicts when the study names none (study.alpha)
ALPHA = 0.05
# A validation split with fewer images of a minority class than this chooses the best classic
# scenario nearly at random (several tie at recall 1.0): the report says so.
SMALL_VALIDATION = 50

# The original study document's results (test set of 10,000; a single run each, no seeds, no
# intervals), as recovered in shared/reference/original-study-facts.md, "Reported results".
PUBLISHED = {
    "original": (0.9859, 0.9859, 0.9997, 0.9969, 0.9704, 0.9835),
    "vanilla": (0.9890, 0.9890, 0.9998, 0.9990, 0.9745, 0.9866),
    "dcgan": (0.9877, 0.9877, 0.9998, 0.9979, 0.9745, 0.9861),
    "cgan": (0.9871, 0.9871, 0.9998, 1.0000, 0.9724, 0.9860),
}
PUBLISHED_COLUMNS = (
    "test/accuracy",
    "test/f1_macro",
    "test/auroc_macro",
    "test/precision_c0",
    "test/recall_c0",
    "test/f1_c0",
)
# Same source: a later run stored beside the notebooks (accuracy only).
PUBLISHED_LATER_ACCURACY = {"original": 0.9914, "vanilla": 0.9923, "dcgan": 0.9915, "cgan": 0.9912}

_RESULTS_NOTE = (
    "Test set. Mean ± half-width of the 95% Student-t interval over seeds; a single seed shows "
    "the mean only. Where that interval would leave [0, 1] the per-seed values are shown instead "
    "(`mean (seeds: a / b / c)`). A scenario marked ⚠ used a generator below the quality floor "
    "(see GAN quality). Recall, precision and F1 take the argmax, so a fix that only pushes the "
    "classifier towards the minority (a shifted prior) buys recall with precision; AP (the area "
    "under the class's precision-recall curve) and AUROC rank the images by the class's "
    "probability and use no threshold, so the prior does not move them. ECE: expected "
    "calibration error of the top-class confidence (15 bins)."
)
_P_NOTE = (
    "95% Student-t interval of the mean difference; p from a paired t-test "
    "(`scipy.stats.ttest_rel`); the Holm-adjusted p accounts for the {n} test(s) in this table. "
    "With fewer than {min_pairs} paired seeds no test is possible. When every seed shows the same "
    "difference (a metric that moves in steps, such as recall on a thousand images, can do that "
    "on a few seeds by chance) the variance is zero and the t-test is undefined: no p is given "
    "and the comparison is left out of Holm."
)


def _duration(seconds: float) -> str:
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min ({seconds:,.0f} s)"


def _protocol(
    study: dict, rows: Sequence[dict], minority: Sequence[int], names: Sequence[str] | None
) -> list[str]:
    def values(key: str) -> str:
        return ", ".join(sorted({str(r[key]) for r in rows if r.get(key)})) or "not recorded"

    seeds = study.get("seeds") or sorted({r["seed"] for r in rows})
    if is_number(study.get("wall_time_s")):
        wall = f"{_duration(study['wall_time_s'])}, from study.json"
    else:
        gans = {r["gan_dir"]: r.get("gan/wall_time_s") or 0.0 for r in rows if r.get("gan_dir")}
        total = sum(r["wall_time_s"] or 0.0 for r in rows) + sum(gans.values())
        wall = (
            f"{_duration(total)}: sum of {len(rows)} classifier and {len(gans)} GAN runs "
            "(no study.json)"
        )
    lines = [
        "## Protocol",
        "",
        f"- Source: {len(rows)} finished classify runs (`run_dir` in results.csv)",
        f"- Experiment profile: {study.get('experiment') or values('experiment')}",
        f"- Minority class(es): {_named(minority, names)}",
        f"- Classifier epochs: {values('epochs')}",
        f"- Seeds: {', '.join(map(str, seeds))} (n = {len(seeds)})",
        f"- Scenarios: {', '.join(dict.fromkeys(r['scenario'] for r in rows))}",
        f"- Hardware: {study.get('hardware') or values('hardware')}",
        f"- Device(s): {values('device')}",
        f"- Total wall time: {wall}",
        "- Deviations from the original study:",
    ]
    if "deviations" not in study:
        return lines + ["    - unknown (no study.json); see the comments in conf/"]
    return lines + ([f"    - {d}" for d in study["deviations"]] or ["    - none listed"])


def _comparison_table(comparisons: Sequence[dict], with_baseline: bool = False) -> list[str]:
    body = []
    for c in comparisons:
        ci = f"[{c['low']:+.4f}, {c['high']:+.4f}]" if is_number(c["low"]) else "—"
        if not c["tested"]:
            why = (
                "no test (same difference on every seed)"
                if c["n"] >= MIN_PAIRS_FOR_TEST
                else (f"no test (n<{MIN_PAIRS_FOR_TEST})")
            )
            verdict, p, p_holm = why, "—", "—"
        else:
            p, p_holm = p_text(c["p_value"]), p_text(c["p_holm"])
            verdict = (
                "no"
                if c["p_value"] >= c.get("alpha", ALPHA)
                else "yes (also after Holm)"
                if c["p_holm"] < c.get("alpha", ALPHA)
                else "yes (not after Holm)"
            )
        diff = f"{c['mean_diff']:+.4f}" if is_number(c["mean_diff"]) else "—"
        base = [c["baseline"], c.get("chosen_on", "")] if with_baseline else []
        body.append(
            [c["scenario"], *base, label(c["metric"]), c["n"], diff, ci, p, p_holm, verdict]
        )
    header = ["scenario", *(["compared with", "chosen on"] if with_baseline else []), "metric"]
    alpha = comparisons[0].get("alpha", ALPHA) if comparisons else ALPHA
    header += ["n pairs", "mean diff", "95% CI", "p", "Holm p", f"significant at {alpha}"]
    note = _P_NOTE.format(n=sum(c["tested"] for c in comparisons), min_pairs=MIN_PAIRS_FOR_TEST)
    return [note, "", table(header, body)]


def _comparison(comparisons: Sequence[dict], baseline: str) -> list[str]:
    lines = [f"## Paired comparison vs {baseline}", ""]
    if not comparisons:
        return lines + [f"No `{baseline}` runs, or no other scenario: nothing to compare."]
    return lines + [
        f"Difference scenario − {baseline} on the same seed (only seeds present in both; the "
        "baseline is `study.baseline`).",
        "",
        *_comparison_table(comparisons),
    ]


def _cell(c: dict | None) -> str:
    if c is None or not is_number(c["mean_diff"]):
        return "—"
    if not c["tested"]:
        return f"{c['mean_diff']:+.4f} (no test)"
    mark = " ✓" if c["p_holm"] < c.get("alpha", ALPHA) else ""
    return f"{c['mean_diff']:+.4f} (p {p_text(c['p_value'])}){mark}"


def _every_classic(every: Sequence[dict], on_halves: bool = False) -> list[str]:
    if not every:
        return []
    where = "the report half of the test set" if on_halves else "the test set"
    why = (
        "the check on the choice above"
        if on_halves
        else "the check when the validation split is too small to choose"
    )
    generators = list(dict.fromkeys(c["scenario"] for c in every))
    classics = list(dict.fromkeys(c["baseline"] for c in every))
    lines = [
        f"Every generative scenario against every classic one on {where}: mean difference "
        "generator − classic over paired seeds, p from a paired t-test, ✓ where it stays below "
        f"{every[0].get('alpha', ALPHA)} after Holm over all {sum(c['tested'] for c in every)} tests below. Nothing is "
        f"chosen here, so this is {why}: a "
        "generator ahead of the column with the best test mean is ahead of every classic fix.",
        "",
    ]
    for metric in dict.fromkeys(c["metric"] for c in every):
        cells = {(c["scenario"], c["baseline"]): c for c in every if c["metric"] == metric}
        body = [[g, *(_cell(cells.get((g, k))) for k in classics)] for g in generators]
        lines += [f"{label(metric)}:", "", table(["generator", *classics], body), ""]
    return lines


def _small_validation(rows: Sequence[dict], minority: Sequence[int]) -> list[str]:
    sizes = [r[f"n_val_c{k}"] for r in rows for k in minority if is_number(r.get(f"n_val_c{k}"))]
    if not sizes or min(sizes) >= SMALL_VALIDATION:
        return []
    return [
        f"⚠ The validation split holds only {min(sizes)} image(s) of a minority class: too few "
        "to tell the classic scenarios apart (several tie), so the choice below is close to "
        "chance. Read the comparison with every classic scenario that follows it.",
        "",
    ]


def _chosen_tau(rows: Sequence[dict], minority: Sequence[int]) -> list[str]:
    """The τ each logit adjustment chose on validation, per seed, with a warning when the
    validation split holds too few minority images to choose it."""
    chosen: dict[str, list[str]] = {}
    for r in sorted(rows, key=lambda r: r["seed"]):
        if is_number(r.get("chosen_tau")):
            chosen.setdefault(r["scenario"], []).append(f"{float(r['chosen_tau']):g}")
    if not chosen:
        return []
    sizes = [
        r[f"n_val_c{k}"]
        for r in rows
        if r["scenario"] in chosen
        for k in minority
        if is_number(r.get(f"n_val_c{k}"))
    ]
    which = "; ".join(f"`{name}` {', '.join(taus)}" for name, taus in chosen.items())
    line = f"τ chosen on the validation split, by balanced accuracy (per seed): {which}."
    if sizes and min(sizes) < SMALL_VALIDATION:
        line = (
            f"⚠ {line} The validation split holds only {int(min(sizes))} image(s) of a minority "
            "class, too few to choose τ: read these scenarios beside their fixed-τ twins."
        )
    return [line, ""]


def _classic_scenarios(rows: Sequence[dict]) -> list[str]:
    """The scenarios of family ``classic`` in ``rows``, in their order there."""
    return list(dict.fromkeys(r["scenario"] for r in rows if r.get("family") == "classic"))


def _best_classic(
    comparisons: Sequence[dict],
    ranking: Sequence[tuple[str, list]],
    val_metrics: Sequence[str],
    every: Sequence[dict] = (),
    warning: Sequence[str] = (),
    classic: Sequence[str] = (),
    on_halves: bool = False,
) -> list[str]:
    """``classic``: the names of the classic scenarios in the runs; ``on_halves``: chosen on the
    test set's selection half, measured on its report half (else chosen on validation)."""
    lines = ["## Generators vs the best classic fix", "", *warning]
    where = "the test set's selection half" if on_halves else "the validation split"
    if ranking:
        lines += [
            f"Classic scenarios on {where} (mean over seeds). For each metric the one with the "
            "best mean of that metric there is the comparison below; the other metrics break "
            "ties:",
            "",
            table(
                ["scenario", *map(label, val_metrics)],
                [[name, *(f"{m:.4f}" for m in means)] for name, means in ranking],
            ),
            "",
        ]
    if not comparisons:
        present = ", ".join(classic) or "none"
        return lines + [
            "No generative scenario, or no classic one (family `classic`; in these runs: "
            f"{present}): nothing to compare."
        ]
    how = (
        "the test set was split once, stratified by class and by a fixed seed, into two halves "
        "that share no image: the best classic scenario for each metric is the one with the "
        "highest mean of that metric on the *selection* half (or the one named in "
        "`study.best_classic`), and every number below is measured on the *report* half, so "
        "the choice does not flatter the fix it chose"
        if on_halves
        else "for each metric the best classic scenario is the one with the highest mean of "
        "that metric on the *validation* split (or the one named in `study.best_classic`); the "
        "test set chooses nothing"
    )
    return lines + [
        f"The question this tool asks: does a generator beat the best simple fix? Here {how}. "
        "Difference generator − that scenario on the same seed.",
        "",
        *_comparison_table(comparisons, with_baseline=True),
        "",
        *_every_classic(every, on_halves),
    ]


def _published(summary: Sequence[dict], minority: Sequence[int]) -> list[str]:
    ours = {s["scenario"]: s for s in summary}
    same_minority = list(minority) == [0]
    columns = [c if same_minority or c in MACRO_METRICS else None for c in PUBLISHED_COLUMNS]
    body = []
    for scenario, values in PUBLISHED.items():
        body.append(
            [scenario, "published (single run, no interval)", *(f"{v:.4f}" for v in values)]
        )
        s = ours.get(scenario)
        mine = [fmt(s, c) if s and c else "—" for c in columns]
        body.append([scenario, f"this study (n = {s['n_seeds']})" if s else "not run", *mine])
    later = ", ".join(f"{s} {v:.4f}" for s, v in PUBLISHED_LATER_ACCURACY.items())
    return [
        "## Published numbers from the original study",
        "",
        "Single run each, no seeds or intervals (shared/reference/original-study-facts.md). "
        f"A later run beside the original notebooks gave accuracy {later}: the two published "
        "runs differ by more than the scenarios do. A generator of ours marked ⚠ in the results "
        "is below the quality floor: its row measures a broken generator, not the study's.",
        "",
        table(["scenario", "source", *map(label, PUBLISHED_COLUMNS)], body),
    ]


def _sizes(rows: Sequence[dict]) -> str:
    sizes = set()
    for r in rows:
        m = gan_metrics(r["record"]) if r.get("gan") else {}
        if m and m["eval/n_real"] is not None and m["eval/n_fake"] is not None:
            sizes.add((m["eval/n_real"], m["eval/n_fake"], m["eval/n_pr"]))
    text = " or ".join(
        f"{real} real images on each side against {fake:,} generated, and {pr} of each for "
        "precision/recall"
        for real, fake, pr in sorted(sizes)
    )
    return text or "(sizes not recorded)"


def _gan_quality(summary: Sequence[dict], rows: Sequence[dict]) -> list[str]:
    gans = {r["scenario"]: r["gan"] for r in rows if r.get("gan")}
    if not gans:
        return ["## GAN quality", "", "No GAN scenarios in these runs."]
    collapsed = collapsed_counts(rows)
    # two tables, so that each fits a page: the selection and the distances; then fidelity,
    # coverage, class shares and copies
    distances, shares = (SELECTION_SCORE, *GAN_EVAL[:2]), GAN_EVAL[2:]
    scenarios = [s for s in summary if s["scenario"] in gans]
    first = [
        [
            s["scenario"],
            gans[s["scenario"]],
            s["n_seeds"],
            fmt(s, "gan/best_epoch", 0),
            fmt(s, "gan/best_step", 0),
            *(fmt(s, c, 3) for c in distances),
            f"{collapsed[s['scenario']][0]}/{collapsed[s['scenario']][1]}",
        ]
        for s in scenarios
    ]
    second = [[s["scenario"], *(fmt(s, c, 3) for c in shares)] for s in scenarios]
    reasons = [
        f"- {r['scenario']}, seed {r['seed']}: {r['gan/collapse_reason']}"
        for r in rows
        if r.get("gan/collapsed")
    ]
    return [
        "## GAN quality",
        "",
        f"Mean ± 95% CI over seeds (per-seed values where an interval would mislead). "
        f"`{SELECTION_SCORE}`: the Fréchet distance, in the feature space of a CNN trained on the "
        "imbalanced training split, that picked the best epoch (`selection.num_samples` samples against the "
        "training minority; lower is better). Like for like, for the samples the scenario used: "
        "`eval/fd_train` and `eval/fd_test` compare the same generated set with the training "
        "minority and the test minority, each cut to the same size; `eval/precision` / "
        "`eval/recall` (fidelity / coverage, test side) use equally many real and generated "
        f"images. Sizes: {_sizes(rows)}. `eval/minority_share`: share of samples the feature CNN "
        "puts in the class they were generated for; `eval/real_minority_share`, the same for "
        "held-out real images (the CNN, trained on the imbalanced split, misses some of those "
        "too; the floor asks for `selection.minority_share_floor` of it). Copy detection: `copy/near_share` is the "
        "share of samples closer to a training image than 95% of held-out real images are "
        "(a generator as novel as fresh real data scores about 0.05; copies score near 1); "
        "`copy/nn_ratio`: median nearest-training distance of the samples over that of held-out "
        "real images (1: as novel as real data; near 0: copies). The collapsed flag is a label "
        "for the reader, from the test-side recall and the feature CNN's verdict: it chooses "
        "nothing (a collapsed generator's samples are still used, so the table shows what a "
        "broken generator does).",
        "",
        table(
            [
                "scenario",
                "GAN",
                "n seeds",
                "best epoch",
                "best step",
                *(f"`{c}`" for c in distances),
                "collapsed (seeds)",
            ],
            first,
        ),
        "",
        table(["scenario", *(f"`{c}`" for c in shares)], second),
        "",
        *(
            [
                "Below the quality floor (`selection.recall_floor`, `selection.minority_share_floor`):",
                "",
                *reasons,
            ]
            if reasons
            else ["Every generator is above the quality floor."]
        ),
        *_study_recipe_note(rows),
    ]


#: the GANs that follow the original study's recipe (conf/gan/<name>.yaml)
STUDY_GANS = ("vanilla", "dcgan", "cgan")


def _study_recipe_note(rows: Sequence[dict]) -> list[str]:
    """Say whose failure a collapsed study GAN is."""
    names = sorted(
        {r["gan"] for r in rows if r.get("gan/collapsed") and r.get("gan") in STUDY_GANS}
    )
    if not names:
        return []
    return [
        "",
        f"{', '.join(names)}: the study's own recipe (architecture, losses, penalty on the "
        "Sigmoid probability where the study's discriminator has one, optimizer, schedule); what "
        "still differs from the study is listed under Deviations in the protocol. A collapse "
        "here is that recipe's result at this budget, not a generator this tool designed.",
    ]


def _signature(summary: Sequence[dict]) -> list[str]:
    """The signature probe per augmenting scenario."""
    body = [
        [s["scenario"], s["n_seeds"], fmt(s, SIGNATURE, 3)]
        for s in summary
        if f"{SIGNATURE}/mean" in s
    ]
    if not body:
        return []
    return [
        "## Do the added images carry a signature?",
        "",
        "A small CNN is trained to tell the real minority images of the training split from the "
        "images a scenario added to the minority, on half of each, and scored on the other "
        "halves (`probe/signature_auc`, ROC AUC): 0.5 means the added images are "
        "indistinguishable from real ones; near 1 means they carry a mark that is perfectly "
        "correlated with the minority label, which the classifier may learn instead of the class. "
        "Each added image is kept on the side of the real image nearest to it (its source, for a "
        "copy or a warp), so the probe cannot score by recognising sources; with a few dozen real "
        "images the AUC is noisy (±0.1 or more).",
        "A scenario named `<name>_agnostic` (`scenario.class_agnostic`) gives every other class the "
        "same share of made images of the same kind, so the kind carries no label signal; it "
        "exists for warps, SMOTE and class-conditional generators (cgan, projgan), not for "
        "vanilla or dcgan, which learn the minority only. Its minority images are its "
        "scenario's, so its AUC is the same: the mark stays, but no longer predicts the label.",
        "",
        table(["scenario", "n seeds", "signature AUC"], body),
    ]


def _failed(failures: Sequence[dict]) -> list[str]:
    if not failures:
        return []
    body = [
        [
            f["scenario"],
            f["seed"],
            " ".join(f["error"].split()).replace("|", "/"),
            f"`{f['run_dir']}`" if f["run_dir"] else "—",
        ]
        for f in failures
    ]
    return [
        "## Failed runs",
        "",
        f"{len(failures)} run(s) failed or are missing; the tables above exclude them.",
        "",
        table(["scenario", "seed", "error", "run dir"], body),
    ]


def render_report(
    study: dict,
    rows: Sequence[dict],
    summary: Sequence[dict],
    comparisons: Sequence[dict],
    best_classic: Sequence[dict],
    failures: Sequence[dict],
    figures: Sequence[tuple[str, str]],
    minority: Sequence[int],
    baseline: str = "original",
    ranking: Sequence[tuple[str, list]] = (),
    every_classic: Sequence[dict] = (),
    chosen_by: Sequence[str] | None = None,
    skipped_figures: Sequence[str] = (),
) -> str:
    """The text of report.md; ``figures`` are (caption, relative path) pairs; ``ranking`` the
    classic scenarios by the metrics ``chosen_by`` (:func:`aggregate.classic_ranking`; the
    validation key metrics by default, or those of the test set's selection half);
    ``every_classic``: each generator against each classic scenario
    (:func:`aggregate.compare_to_every_classic`); ``skipped_figures``: why figures were left out."""
    chosen_by = tuple(chosen_by or key_metrics(minority, "val"))
    on_halves = chosen_by[0].startswith("select/")
    names = class_names(rows)
    sections = (
        _protocol(study, rows, minority, names),
        [
            "## Results",
            "",
            _RESULTS_NOTE,
            "",
            results_table(summary, minority, collapsed_counts(rows)),
            "",
            *_chosen_tau(rows, minority),
        ],
        _signature(summary),
        _best_classic(
            best_classic,
            ranking,
            chosen_by,
            every_classic,
            [] if on_halves else _small_validation(rows, minority),
            _classic_scenarios(rows),
            on_halves,
        ),
        _comparison(comparisons, baseline),
        _published(summary, minority),
        _gan_quality(summary, rows),
        _failed(failures),
        ["## Figures", ""]
        + [f"![{c}]({p})\n" for c, p in figures]
        + [f"- {why}" for why in skipped_figures],
    )
    classes = _named(minority, names)
    title = (
        f"# Does synthetic data help the rare class{'es' if len(minority) > 1 else ''} {classes}?"
    )
    text = "\n".join([title, ""] + [line for section in sections for line in [*section, ""]])
    return name_classes(text, names, minority)


def _named(minority: Sequence[int], names: Sequence[str] | None) -> str:
    return ", ".join(f"{k} (`{names[k]}`)" if names else str(k) for k in minority)


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


def name_classes(text: str, names: Sequence[str] | None, minority: Sequence[int]) -> str:
    """``text`` with each minority class's metric labels (``class-0 recall``) naming the class
    (``class `defect` recall``) when the runs recorded names."""
    if not names:
        return text
    for k in minority:
        text = text.replace(f"class-{k} ", f"class `{names[k]}` ")
    return text
