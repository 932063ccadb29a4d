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
