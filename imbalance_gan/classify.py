"""``python -m imbalance_gan.classify scenario=<name>``: train and evaluate one scenario."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from imbalance_gan.runtime.cli import command, run_command
from imbalance_gan.runtime.errors import UserError

#: what a sweeper (Optuna, Ax, ...) optimises: the validation macro-F1 of the checkpoint the run
#: tested, the metric that chose it. Never a test metric: the test set is for the report only.
SWEEP_METRIC = "val/f1_macro"


def sweep_value(run: dict) -> float:
    """The number a sweeper gets from a finished run's record (:data:`SWEEP_METRIC`)."""
    return float(run["val_metrics"][SWEEP_METRIC])


@hydra.main(version_base="1.3", config_path="../conf", config_name="classify")
@command
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns :data:`SWEEP_METRIC`, computed without the test set, for
    sweepers. A run that fails (other than by a config error) leaves ``failed.json`` for the
    report."""
    # imported here, not above: a mistyped override is answered before torch and Lightning load
    from imbalance_gan.classifier.pipeline import classify, record_failure

    try:
        return sweep_value(classify(cfg))
    except UserError:
        raise
    except Exception as err:
        record_failure(cfg, err)
        raise


if __name__ == "__main__":
    run_command(main)
