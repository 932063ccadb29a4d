"""``python -m imbalance_gan.train gan=<vanilla|dcgan|cgan|projgan|diffusion>``: train a
generator, select its best epoch or step, generate, and publish the run to the generator cache."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from imbalance_gan.record import SELECTION_SCORE
from imbalance_gan.runtime.cli import command, run_command


def run(cfg: DictConfig) -> dict:
    """The ``train`` command: train into the Hydra output dir, then publish to the generator cache."""
    # imported here, not above: a mistyped override is answered before torch and Lightning load
    from imbalance_gan.data import split_from_config
    from imbalance_gan.generators import cache
    from imbalance_gan.generators.pipeline import train_generator
    from imbalance_gan.record.rundir import start_run
    from imbalance_gan.runtime.trainer import output_dir

    out = output_dir(cfg)
    split = split_from_config(cfg.data)  # bad data settings first
    # a finished run resume=true keeps (the same config, the same images), or a new one
    record = start_run(out, cfg, split.identity()) or train_generator(cfg, out, split)
    cache.publish(cfg, out)
    return record


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@command
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the selection score for sweepers."""
    return run(cfg)[SELECTION_SCORE]


if __name__ == "__main__":
    run_command(main)
