"""``python -m imbalance_gan.generate run=<train run dir> n=<count> "classes=[0]" seed=0``: draw
images from a trained generator (or, without ``run=``, from the cache entry of the same
``gan=``/``data.*``/``seed=`` overrides as ``train``) into ``generated.npz`` and ``generated.png``."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from imbalance_gan.runtime.cli import command, run_command

log = logging.getLogger("imbalance_gan.generate")


@hydra.main(version_base="1.3", config_path="../conf", config_name="generate")
@command
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    # imported here, not above: a mistyped override is answered before torch and Lightning load
    from imbalance_gan.generators.generate import generate
    from imbalance_gan.runtime.trainer import output_dir

    out = output_dir(cfg)
    made = generate(cfg, out)
    log.info(
        "%d images of classes %s from %s -> %s", made["n"], made["classes"], made["source"], out
    )


if __name__ == "__main__":
    run_command(main)
