"""What a classify run shows in TensorBoard beyond scalars: the test confusion matrix as an
image, one precision-recall curve per class, and the run's settings with its test metrics in
the HParams view. All in the run's one event directory (``<run>/tb``)."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import TensorBoardLogger

from imbalance_gan.classifier.figures import confusion_figure
from imbalance_gan.classifier.metrics import scalar_view

#: config values shown as hyperparameters (dotted paths into the run's config)
HPARAMS = (
    "scenario.name",
    "scenario.family",
    "seed",
    "experiment",
    "data.dataset",
    "data.minority_count",
    "classifier.max_epochs",
    "classifier.batch_size",
    "classifier.loss",
    "classifier.sampler",
    "classifier.augment",
    "classifier.logit_adjustment",
    "gan.name",
)


def log_test_views(loggers, cfg: DictConfig, probs, target, metrics: dict) -> None:
    """Log the test set's confusion matrix, PR curves and the hparams/metrics pair."""
    for lg in loggers:
        if not isinstance(lg, TensorBoardLogger):
            continue
        exp = lg.experiment
        matrix = np.asarray(metrics["test/confusion_matrix"])
        exp.add_figure(
            "test/confusion_matrix",
            confusion_figure(matrix, f"Confusion matrix, {cfg.scenario.name}: test set"),
        )
        for k in range(probs.shape[1]):
            exp.add_pr_curve(f"test/pr_curve_c{k}", (target == k).int(), probs[:, k])
        params = {key: _shown(OmegaConf.select(cfg, key, default=None)) for key in HPARAMS}
        lg.log_hyperparams(params, metrics=scalar_view(metrics))
        exp.flush()


def _shown(value):
    """A config value as the HParams view shows it: a ``_target_`` config by its class name."""
    if isinstance(value, DictConfig):
        return str(value.get("_target_", "?")).rsplit(".", 1)[-1]
    return "null" if value is None else value
