"""How noisy is the selection score, and how often must it be taken?

Trains one GAN with the project's pipeline pieces and, every ``--probe-every`` generator steps,
scores it the way :class:`~imbalance_gan.generators.selection.Selector` does (train-side Fréchet
distance) on ``--draws`` independent noise draws of ``--draw-size`` images each, plus a
reference: a larger independent draw scored against the training minority images
(``ref_train``) and against the held-out test minority images (``ref_test``, reported only,
never used to choose). Then, for every (scoring interval, samples per score), it replays the
choice SelectionCallback would make and reports:

- ``noise``: the standard deviation of the score between noise draws (median over probes);
- ``regret_test`` / ``regret_train``: the chosen step's reference score minus the best
  reference score of the run (0: the choice is as good as an oracle's), mean over draws and
  phase offsets;
- ``cost``: generated images scored per run (what selection costs, in images).

For the diffusion model, ``--score-steps 4 2`` also scores every probe's draws with that many
DDIM steps (the reference keeps ``gan.sample_steps``, what the study generates with), and the
table gains the choice made on those cheaper scores (does selection need the full
sampler?).

    python benchmarks/selection_noise.py --json selection_noise.json [gan=dcgan ...]
    python benchmarks/selection_noise.py --probe-every 250 --draws 2 --ref-size 1000 \
        --score-steps 4 2 gan=diffusion experiment=quick data.minority_count=30
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT.parent / "shared" / "data").is_dir():
    os.environ.setdefault("IMBALANCE_GAN_DATA", str(ROOT.parent / "shared" / "data"))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import open_dict  # noqa: E402

from imbalance_gan.data import split_from_config  # noqa: E402
from imbalance_gan.generators.diffusion import DiffusionFamily  # noqa: E402
from imbalance_gan.generators.family import family_of  # noqa: E402
from imbalance_gan.generators.pipeline import build_generator, generator_data  # noqa: E402
from imbalance_gan.generators.quality import frechet_distance_features  # noqa: E402
from imbalance_gan.generators.selection import Selector, load_or_train_feature_net  # noqa: E402
from imbalance_gan.runtime.progress import steps_done  # noqa: E402
from imbalance_gan.runtime.trainer import build_trainer, seed_all  # noqa: E402


class Probe(pl.Callback):
    """Scores the generator every ``every`` steps: ``draws`` x ``size`` images and a reference."""

    def __init__(self, selector, held_out, every, draws, size, ref_size, max_steps, score_steps):
        self.selector, self.held_f = selector, selector.features(held_out)
        self.every, self.draws, self.size, self.ref_size = every, draws, size, ref_size
        self.max_steps, self.score_steps = max_steps, score_steps
        self.rows: list[dict] = []

    def scores(self, pl_module) -> dict[str, list[float]]:
        """Train-side distances of ``draws`` x ``size`` images, by images per score."""
        feats = [
            self.selector.features(pl_module.sample(self.size, seed=1000 + r))
            for r in range(self.draws)
        ]
        real, pooled = self.selector.real_train, torch.cat(feats)
        # n images per score: consecutive groups of the draws, as independent as the draws
        # allow (the largest n pools all of them: one value)
        return {
            str(n): [
                frechet_distance_features(real, pooled[i : i + n])
                for i in range(0, self.draws * self.size - n + 1, n)
            ]
            for n in sizes(self.draws, self.size)
        }

    def scores_at(self, pl_module, seconds: dict) -> dict[str, dict[str, list[float]]]:
        """:meth:`scores` with each of ``score_steps`` sampler steps (a diffusion model's), their
        wall seconds added to ``seconds``."""
        configured, out = pl_module.sample_steps, {}
        try:
            for k in self.score_steps:
                pl_module.sample_steps = k
                started = time.perf_counter()
                out[str(k)] = self.scores(pl_module)
                seconds[str(k)] = round(time.perf_counter() - started, 2)
        finally:
            pl_module.sample_steps = configured
        return out

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = steps_done(trainer, batch_idx)
        if step % self.every and step != self.max_steps:
            return
        started = time.perf_counter()
        draws = self.scores(pl_module)
        seconds = {"configured": round(time.perf_counter() - started, 2)}
        ref = self.selector.features(pl_module.sample(self.ref_size, seed=999_983))
        row = {
            "step": step,
            "epoch": trainer.current_epoch + 1,
            "draws": draws,
            "ref_train": frechet_distance_features(self.selector.real_train, ref),
            "ref_test": frechet_distance_features(self.held_f, ref),
        }
        if self.score_steps:
            row["draws_at"] = self.scores_at(pl_module, seconds)
        row["score_s"] = seconds  # wall seconds of the draws, by sampler steps
        self.rows.append(row)
        if step >= self.max_steps:
            trainer.should_stop = True


def sizes(draws: int, size: int) -> list[int]:
    """Samples per score to compare: half a draw, a draw, and pools of 2, 4, ... draws."""
    out, n = [size // 2, size], 2 * size
    while n <= draws * size:
        out.append(n)
        n *= 2
    return out


def draws_of(row: dict, steps: str | None) -> dict[str, list[float]]:
    """A probe's scores by images per score: with the configured sampler, or ``steps`` steps."""
    return row["draws"] if steps is None else row["draws_at"][steps]


def replay(
    rows: list[dict], every: int, offset: int, n: str, steps: str | None = None
) -> list[dict]:
    """The probes SelectionCallback would choose scoring every ``every``-th probe from probe
    ``offset`` on (and the last), one choice per independent value of ``n`` images (scored
    with ``steps`` sampler steps, or the configured ones)."""
    scored = rows[offset::every]
    if scored[-1] is not rows[-1]:
        scored.append(rows[-1])
    values = range(len(draws_of(rows[0], steps)[n]))
    return [min(scored, key=lambda r: draws_of(r, steps)[n][k]) for k in values]


def analyse(rows: list[dict], probe_every: int, steps_per_epoch: int) -> dict:
    """Noise by samples per score; regret and cost by (interval, samples per score), averaged
    over the interval's phase offsets (whether a scored step lands on the best one is luck)."""
    best_test = min(r["ref_test"] for r in rows)
    best_train = min(r["ref_train"] for r in rows)
    late = rows[len(rows) // 2 :]  # the second half of training, where the choice is made
    ns = list(rows[0]["draws"])
    noise = {
        n: statistics.median(statistics.stdev(r["draws"][n]) for r in late)
        for n in ns
        if len(rows[0]["draws"][n]) > 1
    }
    signal = statistics.stdev(r["ref_train"] for r in late)
    step_change = statistics.median(
        abs(a["ref_test"] - b["ref_test"]) for a, b in zip(late, late[1:], strict=False)
    )
    table = []
    for steps in [None, *rows[0].get("draws_at", {})]:
        for every in (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20):
            if every > len(rows) // 2:
                break
            for n in ns:
                chosen = [c for o in range(every) for c in replay(rows, every, o, n, steps)]
                table.append(
                    {
                        "score_steps": "configured" if steps is None else int(steps),
                        "interval_steps": every * probe_every,
                        "interval_epochs": round(every * probe_every / steps_per_epoch, 2),
                        "n": int(n),
                        "scores": -(-len(rows) // every),
                        "cost_images": -(-len(rows) // every) * int(n),
                        "regret_test": statistics.mean(c["ref_test"] - best_test for c in chosen),
                        "regret_train": statistics.mean(
                            c["ref_train"] - best_train for c in chosen
                        ),
                    }
                )
    return {
        "noise_sd_by_n": noise,
        "late_ref_train_sd": signal,
        "late_ref_test_change_per_probe": step_change,
        "best_ref_test": best_test,
        "best_ref_train": best_train,
        "best_step": min(rows, key=lambda r: r["ref_test"])["step"],
        "last_ref_test": rows[-1]["ref_test"],
        "table": table,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("overrides", nargs="*", help="train config overrides (default: gan=dcgan)")
    p.add_argument("--probe-every", type=int, default=18, help="steps between probes")
    p.add_argument("--draws", type=int, default=4)
    p.add_argument("--draw-size", type=int, default=500)
    p.add_argument("--ref-size", type=int, default=2000)
    p.add_argument(
        "--score-steps",
        type=int,
        nargs="*",
        default=[],
        help="a diffusion model's draws also scored with these DDIM step counts",
    )
    p.add_argument("--artifacts", type=Path, help="feature-net cache (default: a temp dir)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--json", type=Path)
    p.add_argument("--analyse", type=Path, help="only analyse the rows of an earlier --json")
    args = p.parse_args(argv)
    if args.analyse:
        result = json.loads(args.analyse.read_text())
        result["analysis"] = analyse(
            result["rows"], result["probe_every"], result["steps_per_epoch"]
        )
        print(report(result))
        return result
    torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    with tempfile.TemporaryDirectory(prefix="noise_") as tmp:
        out = Path(tmp)
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            overrides = ["gan=dcgan", "trainer.enable_progress_bar=false", *args.overrides]
            cfg = compose(config_name="train", overrides=overrides)
        if args.score_steps and family_of(cfg.gan) is not DiffusionFamily:
            p.error(f"--score-steps needs a diffusion model, not gan={cfg.gan.name}")
        with open_dict(cfg):
            cfg.paths.output_dir = str(out)
            cfg.paths.artifact_dir = str(args.artifacts or out / "artifacts")
        dm = split_from_config(cfg.data)
        net = load_or_train_feature_net(dm, cfg.selection, Path(cfg.paths.artifact_dir))
        selector = Selector(net, *dm.minority_split("train"), k=cfg.selection.pr_k)
        seed_all(cfg.seed)
        model = build_generator(cfg, list(dm.minority))
        data = generator_data(cfg, dm, model.conditional)
        per_epoch = len(data.train_dataloader())
        max_steps = cfg.gan.max_steps or cfg.gan.max_epochs * per_epoch
        probe = Probe(
            selector,
            dm.minority_split("test")[0],
            args.probe_every,
            args.draws,
            args.draw_size,
            args.ref_size,
            max_steps,
            args.score_steps,
        )
        trainer = build_trainer(cfg.trainer, out, max_steps, [probe])
        started = time.perf_counter()
        trainer.fit(model, datamodule=data)
        wall = time.perf_counter() - started
    result = {
        "overrides": overrides,
        "steps_per_epoch": per_epoch,
        "probe_every": args.probe_every,
        "wall_s": round(wall, 1),
        "analysis": analyse(probe.rows, args.probe_every, per_epoch),
        "rows": probe.rows,
    }
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


def report(result: dict) -> str:
    """The analysis as text: noise by n, then regret and cost by (interval, n)."""
    a = result["analysis"]
    lines = [
        f"{' '.join(result['overrides'])}: {result['steps_per_epoch']} steps/epoch, "
        f"probe every {result['probe_every']} steps, {result['wall_s']} s",
        f"best ref_test {a['best_ref_test']:.3f} (step {a['best_step']}), last "
        f"{a['last_ref_test']:.3f}; second half: sd of ref_train {a['late_ref_train_sd']:.3f}, "
        f"median change of ref_test between probes {a['late_ref_test_change_per_probe']:.3f}",
        "score noise (sd between draws) by n: "
        + ", ".join(f"{n}: {sd:.3f}" for n, sd in a["noise_sd_by_n"].items()),
        f"{'sampler steps':>14}{'interval(steps)':>16}{'epochs':>8}{'n':>6}{'scores':>8}"
        f"{'images':>9}{'regret_test':>13}{'regret_train':>14}",
    ]
    for r in a["table"]:
        lines.append(
            f"{r['score_steps']:>14}{r['interval_steps']:>16}{r['interval_epochs']:>8}"
            f"{r['n']:>6}{r['scores']:>8}"
            f"{r['cost_images']:>9}{r['regret_test']:>13.3f}{r['regret_train']:>14.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
