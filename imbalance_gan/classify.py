"""``python -m imbalance_gan.classify scenario=<name>``: train and evaluate one scenario."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from imbalance_gan.runtime.cli import command, run_command
from imbalance_gan.runtime.errors import UserError


@hydra.main(version_base="1.3", config_path="../conf", config_name="classify")
@command
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns test macro-F1 for sweepers. A run that fails (other than by a
    config error) leaves ``failed.json`` for the report."""
    # imported here, not above: a mistyped override is answered before torch and Lightning load
    from imbalance_gan.classifier.pipeline import classify, record_failure

    try:
        return classify(cfg)["metrics"]["test/f1_macro"]
    except UserError:
        raise
    except Exception as err:
        record_failure(cfg, err)
        raise


if __name__ == "__main__":
    run_command(main)
