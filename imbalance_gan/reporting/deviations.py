"""The protocol's deviations from the original study, as the report lists them: the experiment
profile's ``deviations`` (study.json), each a line interpolated from the config the study was
started with, checked against what the runs recorded. A line about a value the runs recorded is
rendered from the recorded value, compared with the original study's
(:mod:`~imbalance_gan.reporting.published`), and dropped where the two agree: a study run with
``classifier.max_epochs=20`` did not deviate in its epochs, and no line says "20 epochs instead
of 20"."""

from __future__ import annotations

import re
from collections.abc import Sequence

from imbalance_gan.reporting.aggregate import is_number
from imbalance_gan.reporting.prose import prose
from imbalance_gan.reporting.published import STUDY_CLASSIFIER_EPOCHS, STUDY_PLATEAU_PATIENCE

#: a profile's line about the classifier's epochs (conf/experiment/*.yaml)
_EPOCHS = re.compile(r"^classifier trained .*\bepochs\b.*\binstead of\b")
#: a profile's line about its seeds: "seeds [0, 1, 2] (the paper profile runs 5)"
_SEEDS = re.compile(r"^seeds \[[^\]]*\] \(the paper profile runs (\d+)\)$")
#: any other line that would state a value "instead of" the same value ("2000 steps instead of
#: 2000"): the number that deviates and the one it deviates from are one
_SAME = re.compile(r"\b(\d[\d,.]*) (\w+) instead of \1\b")
#: the learning-rate schedule the original study trained with (a record's fixes["scheduler"])
_PLATEAU = "ReduceLROnPlateau"


def _epochs(rows: Sequence[dict]) -> list[int]:
    return sorted({int(r["epochs"]) for r in rows if is_number(r.get("epochs"))})


def _schedule_never_fires(rows: Sequence[dict], most: int) -> bool:
    """Whether the study's plateau schedule cannot lower the learning rate in ``most`` epochs:
    it waits ``patience`` epochs without a better score after the first, so it needs more than
    ``patience + 1``. A run that recorded another schedule (cosine) has no plateau to speak of;
    one that recorded none ran the study's."""
    for r in rows:
        fixes = r.get("record", {}).get("fixes")
        schedule = fixes.get("scheduler") if isinstance(fixes, dict) else None
        if not isinstance(schedule, dict):
            patience = STUDY_PLATEAU_PATIENCE
        elif str(schedule.get("_target_", "")).endswith(_PLATEAU):
            patience = schedule.get("patience", STUDY_PLATEAU_PATIENCE)
        else:
            return False
        if not is_number(patience) or most > patience + 1:
            return False
    return True


def _epochs_line(rows: Sequence[dict]) -> list[str]:
    """The classifier's epochs as the runs recorded them (the epochs trained), [] when they are
    the original study's."""
    epochs = _epochs(rows)
    if not epochs or epochs == [STUDY_CLASSIFIER_EPOCHS]:
        return []
    trained = str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]} to {epochs[-1]}"
    never = _schedule_never_fires(rows, epochs[-1])
    return [
        prose(
            "protocol",
            "epochs_deviation",
            epochs=trained,
            study=STUDY_CLASSIFIER_EPOCHS,
            schedule=prose("protocol", "schedule_never_fires") if never else "",
        )
    ]


def deviations(study: dict, rows: Sequence[dict]) -> list[str]:
    """The profile's deviation lines (``study["deviations"]``) as the report lists them: the
    classifier's epochs from the runs' records (in place of the profile's line about them, or
    first when it has none), the seeds line only when the number of seeds differs from the one
    it names, and no line that states a value instead of itself."""
    out: list[str] = []
    epochs_at = None
    n_seeds = len(study.get("seeds") or {r["seed"] for r in rows})
    for line in study.get("deviations") or ():
        if _EPOCHS.search(line):
            epochs_at = len(out) if epochs_at is None else epochs_at
        elif (seeds := _SEEDS.match(line)) and int(seeds.group(1)) == n_seeds:
            continue
        elif not _SAME.search(line):
            out.append(line)
    at = 0 if epochs_at is None else epochs_at
    return out[:at] + _epochs_line(rows) + out[at:]
