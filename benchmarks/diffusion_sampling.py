"""Guidance scale and DDIM steps of a trained diffusion model: quality and cost.

Loads a finished ``python -m imbalance_gan.train gan=diffusion`` run (its selected EMA
weights) and, for every guidance scale and number of sampling steps asked for, draws ``--n``
images of the minority classes from the same noise seed, times the draw, and scores it the way
the run's own quality numbers are scored (:meth:`Selector.evaluate`: held-out Fréchet distance,
precision / recall, class share against the real share, near-copy share). Only the sampler
changes between rows; the weights are the same.

    python benchmarks/diffusion_sampling.py RUN_DIR --guidance 1 2 3 --steps 10 20 50 \
        --n 1000 --json diffusion_sampling.json [--grids DIR] [--checkpoint last]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT.parent / "shared" / "data").is_dir():
    os.environ.setdefault("IMBALANCE_GAN_DATA", str(ROOT.parent / "shared" / "data"))

from hydra import compose, initialize_config_dir  # noqa: E402
from torchvision.utils import make_grid, save_image  # noqa: E402

from imbalance_gan.data import split_from_config  # noqa: E402
from imbalance_gan.generators.callback import cycled_labels  # noqa: E402
from imbalance_gan.generators.diffusion import DiffusionFamily  # noqa: E402
from imbalance_gan.generators.family import family_of  # noqa: E402
from imbalance_gan.generators.generate import trained_source  # noqa: E402
from imbalance_gan.generators.pipeline import build_selector, load_generator  # noqa: E402
from imbalance_gan.runtime.errors import report_user_errors  # noqa: E402

KEYS = [
    "eval/fd_test",
    "eval/precision",
    "eval/recall",
    "eval/minority_share",
    "eval/real_minority_share",
    "copy/near_share",
    "copy/nn_ratio",
]


@report_user_errors  # a missing or refused run dir: one line, exit 2
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished diffusion train run dir")
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--n", type=int, default=1000, help="images per setting")
    parser.add_argument("--seed", type=int, default=0, help="the noise seed of every draw")
    parser.add_argument(
        "--checkpoint",
        choices=["best", "last"],
        default="best",
        help="the selected weights (best) or those at the end of training (last)",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--grids", type=Path, default=None, help="write a 10x10 grid per row")
    args = parser.parse_args(argv)
    # the run is found and its config rebuilt as `generate run=<dir>` does: from this package's
    # own configs, taking only the plain values the run's file sets
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        request = compose(config_name="generate", overrides=["gan=diffusion"])
    request.run = str(args.run)
    source, cfg, minority = trained_source(request)
    if family_of(cfg.gan) is not DiffusionFamily:
        parser.error(f"{args.run} is not a diffusion run")
    dm = split_from_config(cfg.data)
    selector = build_selector(cfg, dm)
    held_out, held_labels = dm.minority_split("test")
    model = load_generator(cfg, source, minority, f"{args.checkpoint}.ckpt")
    rows = []
    for scale in args.guidance:
        for steps in args.steps:
            model.guidance_scale, model.sample_steps = float(scale), int(steps)
            start = time.perf_counter()
            fake = model.sample(args.n, minority, seed=args.seed)
            seconds = time.perf_counter() - start
            labels = cycled_labels(minority, args.n)
            ev = selector.evaluate(fake, labels, held_out, held_labels, seed=args.seed)
            row = {"guidance": scale, "steps": steps, "n": args.n, "seconds": round(seconds, 1)}
            row.update({k: round(float(ev[k]), 4) for k in KEYS})
            row["images_per_s"] = round(args.n / seconds, 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.grids:
                args.grids.mkdir(parents=True, exist_ok=True)
                grid = make_grid((fake[:100] + 1) / 2, nrow=10, pad_value=1.0)
                save_image(grid, args.grids / f"g{scale:g}_s{steps}.png")
    if args.json:
        result = {"run": str(args.run), "checkpoint": args.checkpoint, "rows": rows}
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
