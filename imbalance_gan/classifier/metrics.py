"""Classification metrics: one function, used by every scenario, with stable names."""

from __future__ import annotations

import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_auroc,
    multiclass_average_precision,
    multiclass_calibration_error,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from imbalance_gan.runtime.seeds import stream_seed


def classification_metrics(probs: torch.Tensor, target: torch.Tensor, prefix: str = "test") -> dict:
    """All metrics of one evaluation, keyed ``<prefix>/<name>``.

    ``probs`` is ``[N, C]`` (softmax outputs), ``target`` ``[N]``. Scalars are floats; per-class
    values (``precision``, ``recall``, ``f1``, ``average_precision``, ``auroc``) are lists of C
    floats; the confusion matrix is a C x C list of ints (rows: true class, columns: predicted
    class).

    Recall, precision and F1 take the argmax, so they move whenever the classifier is pushed
    towards a class (a shifted prior, a logit offset). ``average_precision`` (the area under the
    class's precision-recall curve) and ``auroc`` rank the images by the class's probability and
    use no threshold: a fix that only moves the prior leaves them where they were. ``ece`` is
    the expected calibration error of the top-class confidence (15 equal-width bins).
    """
    probs = probs.detach().float().cpu()
    target = target.detach().long().cpu()
    c = probs.shape[1]
    kw = {"num_classes": c}
    recall = multiclass_recall(probs, target, average="none", **kw)
    out = {
        "accuracy": multiclass_accuracy(probs, target, average="micro", **kw).item(),
        "f1_macro": multiclass_f1_score(probs, target, average="macro", **kw).item(),
        "auroc_macro": multiclass_auroc(probs, target, average="macro", **kw).item(),
        # balanced accuracy is the mean per-class recall, the G-mean their geometric mean
        "balanced_accuracy": recall.mean().item(),
        "gmean_recall": recall.double().prod().pow(1.0 / c).item(),
        "precision": multiclass_precision(probs, target, average="none", **kw).tolist(),
        "recall": recall.tolist(),
        "f1": multiclass_f1_score(probs, target, average="none", **kw).tolist(),
        "average_precision": multiclass_average_precision(
            probs, target, average="none", **kw
        ).tolist(),
        "auroc": multiclass_auroc(probs, target, average="none", **kw).tolist(),
        "ece": multiclass_calibration_error(probs, target, n_bins=15, norm="l1", **kw).item(),
        "confusion_matrix": multiclass_confusion_matrix(probs, target, **kw).tolist(),
    }
    return {f"{prefix}/{k}": v for k, v in out.items()}


def scalar_view(metrics: dict) -> dict[str, float]:
    """Scalars for TensorBoard: per-class lists become ``<name>_c<i>``; the matrix is dropped."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if key.endswith("confusion_matrix"):
            continue
        if isinstance(value, list):
            flat.update({f"{key}_c{i}": float(v) for i, v in enumerate(value)})
        else:
            flat[key] = float(value)
    return flat


def split_halves(target: torch.Tensor) -> dict[str, torch.Tensor]:
    """The indices of the test set's two halves, stratified: of each class's images, in a
    fixed-seed order, the first ``n // 2`` select and the rest report (``select`` is where a
    report chooses the best fix, ``report`` where it measures what it chose). The split is a function
    of the labels alone, so every run on a dataset splits its test set the same way."""
    target = target.detach().long().cpu()
    select, report = [], []
    for c in torch.unique(target).tolist():
        members = torch.nonzero(target == c).squeeze(1)
        g = torch.Generator().manual_seed(stream_seed(0, "test.halves", c))
        members = members[torch.randperm(len(members), generator=g)]
        select.append(members[: len(members) // 2])
        report.append(members[len(members) // 2 :])
    return {"select": torch.cat(select).sort().values, "report": torch.cat(report).sort().values}


def half_metrics(probs: torch.Tensor, target: torch.Tensor) -> dict:
    """The metrics of each half of the test set (:func:`split_halves`), keyed
    ``select/<name>`` and ``report/<name>`` (no confusion matrices)."""
    out: dict = {}
    for half, idx in split_halves(target).items():
        metrics = classification_metrics(probs[idx], target[idx], prefix=half)
        out.update({k: v for k, v in metrics.items() if not k.endswith("confusion_matrix")})
    return out
