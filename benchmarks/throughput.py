"""``make bench``: images/s of the project's training paths vs a bare loop and the notebook's feed;
seconds of whole runs vs bare loops that do the same work (``end_to_end.py``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # end_to_end.py, also when loaded by path
CONF = ROOT / "conf"
if (ROOT.parent / "shared" / "data").is_dir():  # the repo's usual layout, as in tests/conftest.py
    os.environ.setdefault("IMBALANCE_GAN_DATA", str(ROOT.parent / "shared" / "data"))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from end_to_end import EndToEnd, timed  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

from imbalance_gan.classifier.module import ClassifierModule  # noqa: E402
from imbalance_gan.data import BatchPolicy, ModelData, TrainingSet, split_from_config  # noqa: E402
from imbalance_gan.generators.gan.losses import get_loss, gradient_penalty  # noqa: E402
from imbalance_gan.generators.gan.module import GANModule  # noqa: E402
from imbalance_gan.generators.pipeline import build_generator, generator_data  # noqa: E402
from imbalance_gan.runtime.trainer import build_trainer, seed_all  # noqa: E402

#: the clock every measurement reads: wall time, or process CPU time with ``--clock cpu``
CLOCK: list[Callable[[], float]] = [time.perf_counter]
#: (label, JSON section, key, target, whether the target is a maximum)
TARGETS = [
    ("classifier project/bare", "classifier", "project_vs_bare", 0.90, False),
    ("classifier project/notebook", "classifier", "project_vs_notebook", 1.2, False),
    ("dcgan step project/bare", "dcgan", "project_vs_bare", 0.85, False),
    ("cgan step project/bare", "cgan", "project_vs_bare", 0.85, False),
    ("diffusion step project/bare", "diffusion", "project_vs_bare", 0.90, False),
    ("peak RSS classify quick (MB)", None, "peak_rss_mb", 2048.0, True),
    ("GAN end-to-end project/bare", "gan_e2e", "project_vs_bare", 1.25, True),
    ("classify e2e project/bare", "classify_e2e", "project_vs_bare", 1.15, True),
    ("feature net training (s)", None, "feature_net_s", 10.0, True),
]
NOTES = {
    "units": "images/s: median of repeats; ratios: median of per-repeat project / the path run "
    "right beside it (a pair shares the machine's load)",
    "lightning": "Trainer from runtime.build_trainer and the composed config, TensorBoard logger "
    "in a temp dir; timed from on_train_batch_start after warm-up to on_train_epoch_end; no "
    "validation, progress bar, checkpointing or ReduceLROnPlateau (it steps on validation only)",
    "gan": "a step = a D step (BCE on logits + gradient penalty) and a G step; project = "
    "GANModule fed by the generator's own data (generator_data), without SelectionCallback (evaluation, not the step), D "
    "on every batch; the DCGAN's epochs are 9 batches, so its timing spans epoch ends",
    "diffusion": "a step = the epsilon-prediction loss at a random timestep with label dropout, "
    "an Adam step and the EMA update; project = DiffusionModule fed by the data module's "
    "class-balanced view, bare = the same net, objective and EMA in a plain loop; "
    "sample_images_per_s: DDIM at the config's gan.sample_steps with its guidance (each step "
    "one doubled batch), sample_5970_s: what the 5,970 images a 30-zero top-up needs cost",
    "peak_rss_mb": "peak RSS of `classify experiment=quick classifier.max_epochs=1`, 1 epoch of "
    "the quick profile (memory does not grow with epochs); null when skipped",
    "end_to_end": "seconds of whole runs, in-process (see benchmarks/end_to_end.py): gan_e2e = "
    "`train gan=dcgan` (paper profile, gan.max_epochs=--gan-epochs, feature net cached) vs the "
    "recipe's plain loop plus its synthetic images; classify_e2e = `classify experiment=quick` "
    "vs a plain loop with the same epochs, validation and test; ratios: median of per-repeat "
    "project / bare, run back to back; feature_net_s: training the selection's feature "
    "network; all null when skipped",
}


def compose_cfg(name: str, overrides: list[str], out: Path) -> DictConfig:
    """The project's real composed config, writing into ``out``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.paths.artifact_dir = str(out / "artifacts")
    return cfg


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so times are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(pl.Callback):
    """Times ``steps`` training batches after ``warmup``, until ``on_train_epoch_end``."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        self.seen = self.images = 0
        self.t0 = self.t1 = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.seen == self.warmup:
            sync(pl_module.device)
            self.t0 = CLOCK[0]()
        self.images += len(batch[0]) if self.seen >= self.warmup else 0
        self.seen += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.seen >= self.warmup + self.steps:
            trainer.should_stop = True  # ends a multi-epoch GAN fit after the last timed step

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.seen >= self.warmup + self.steps and not self.t1:
            sync(pl_module.device)
            self.t1 = CLOCK[0]()


def bench_loop(batches: Iterable, step: Callable, args: argparse.Namespace) -> float:
    """Images/s of ``step(x, y)`` over ``args.steps`` batches after ``args.warmup``."""
    it, t0, images, warmup, dev = iter(batches), 0.0, 0, args.warmup, torch.device(args.device)
    for i in range(warmup + args.steps):
        if i == warmup:
            sync(dev)
            t0 = CLOCK[0]()
        x, y = next(it)
        step(x.to(dev, non_blocking=True), y.to(dev, non_blocking=True))
        images += len(x) if i >= warmup else 0
    sync(dev)
    return images / (CLOCK[0]() - t0)


def tensor_batches(x: torch.Tensor, y: torch.Tensor, batch: int) -> Iterator:
    """Endless shuffled batches sliced from in-memory tensors, a new permutation per epoch."""
    while True:
        perm = torch.randperm(len(x), device=x.device)
        for i in range(0, len(x), batch):
            yield x[perm[i : i + batch]], y[perm[i : i + batch]]


def autocast(cfg: DictConfig, dev: torch.device) -> torch.autocast:
    """The trainer config's precision, for the bare loops (bf16 autocast on a GPU)."""
    bf16 = dev.type == "cuda" and "bf16" in str(cfg.trainer.precision)
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16)


class Bench:
    """The composed configs and the data module, built once; one method per measured path."""

    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args, self.out, self.dev = args, out, torch.device(args.device)
        off = "limit_val_batches=0 enable_progress_bar=false enable_checkpointing=false".split()
        common = [f"trainer={'gpu' if args.device == 'cuda' else 'cpu'}"]
        common += [f"++trainer.{o}" for o in off]  # ++: set, whether or not the key exists
        n = args.warmup + args.steps
        self.cls_cfg = compose_cfg("classify", [*common, f"trainer.limit_train_batches={n}"], out)
        gan = [*common, "gan.d_warmup_epochs=1000000"]  # D steps on every batch
        self.gan_cfg = {g: compose_cfg("train", [f"gan={g}", *gan], out) for g in ("dcgan", "cgan")}
        self.gan_cfg["diffusion"] = compose_cfg("train", ["gan=diffusion", *common], out)
        c = self.cls_cfg.classifier
        self.dm = split_from_config(self.cls_cfg.data)
        if n > len(self.dm.train_x) // c.batch_size:
            raise SystemExit(f"--warmup + --steps = {n} is more than one classifier epoch")

    def _fit(self, cfg: DictConfig, model: pl.LightningModule, max_epochs: int, **data) -> float:
        timer = StepTimer(self.args.warmup, self.args.steps)
        trainer = build_trainer(cfg.trainer, self.out / "tb", max_epochs, [timer])
        trainer.fit(model, **data)
        if not timer.t1:
            raise RuntimeError(f"the fit ended after {timer.seen} batches, before the timed ones")
        return timer.images / (timer.t1 - timer.t0)

    def classifier_project(self) -> float:
        """The real ClassifierModule and data module under the project's Trainer."""
        cfg = self.cls_cfg
        seed_all(cfg.seed)
        model = ClassifierModule(
            net=instantiate(cfg.classifier.net),
            optimizer=instantiate(cfg.classifier.optimizer),
            channels_last=cfg.trainer.channels_last,
        )
        c = cfg.classifier
        policy = BatchPolicy(c.batch_size, c.eval_batch_size)
        return self._fit(
            cfg, model, 1, datamodule=ModelData(self.dm, TrainingSet.real(self.dm), policy)
        )

    def _classifier_step(self) -> Callable:
        cfg, dev = self.cls_cfg, self.dev
        seed_all(cfg.seed)
        fmt = torch.channels_last if cfg.trainer.channels_last else torch.contiguous_format
        net = instantiate(cfg.classifier.net).to(dev).train()
        if cfg.trainer.channels_last:  # (never to contiguous: the study CNN is NHWC by itself)
            net.to(memory_format=fmt)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.classifier.optimizer.lr)

        def step(x: torch.Tensor, y: torch.Tensor) -> None:
            with autocast(cfg, dev):
                loss = F.cross_entropy(net(x.contiguous(memory_format=fmt)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    def classifier_bare(self) -> float:
        """The same CNN in a plain loop over pre-normalized in-memory tensors."""
        x, y = self.dm.train_x.to(self.dev), self.dm.train_y.to(self.dev)
        batches = tensor_batches(x, y, self.cls_cfg.classifier.batch_size)
        return bench_loop(batches, self._classifier_step(), self.args)

    def classifier_notebook(self) -> float:
        """The same CNN fed as the study's notebook did: per-item transforms in a DataLoader."""
        from torch.utils.data import DataLoader, Subset
        from torchvision import datasets, transforms

        tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
        ds = datasets.MNIST(self.dm.data.root, train=True, transform=tf, download=False)
        subset, batch = Subset(ds, self.dm.train_idx.tolist()), self.cls_cfg.classifier.batch_size
        loader = DataLoader(
            subset, batch, shuffle=True, num_workers=0, pin_memory=self.dev.type == "cuda"
        )
        return bench_loop(loader, self._classifier_step(), self.args)

    def _gan_data(self, cfg: DictConfig, model: GANModule) -> ModelData:
        """This GAN's data, as the generator pipeline builds it."""
        return generator_data(cfg, self.dm, model.conditional)

    def gan_project(self, name: str) -> float:
        """The real generator module under the project's Trainer, fed by the data module."""
        cfg = self.gan_cfg[name]
        seed_all(cfg.seed)
        model = build_generator(cfg, list(self.dm.minority))
        # no epoch limit: StepTimer stops the fit (a DCGAN epoch is only 9 batches)
        return self._fit(cfg, model, 1_000_000, datamodule=self._gan_data(cfg, model))

    def gan_bare(self, name: str) -> float:
        """The same nets, losses and optimizers in a plain loop: a D step, then a G step."""
        cfg, g, dev = self.gan_cfg[name], self.gan_cfg[name].gan, self.dev
        seed_all(cfg.seed)
        model = build_generator(cfg, list(self.dm.minority))  # the same nets and optimizer configs
        gen, disc = model.generator.to(dev), model.discriminator.to(dev)
        opt_g, opt_d = model.optimizer_g(gen.parameters()), model.optimizer_d(disc.parameters())
        loss = get_loss(g.loss)

        def step(real: torch.Tensor, y: torch.Tensor) -> None:
            labels = y if model.conditional else None
            with autocast(cfg, dev):
                fake = gen(torch.randn(len(real), gen.latent_dim, device=dev), labels)
                d_loss = loss.d(disc(real, labels), disc(fake.detach(), labels))
                if g.gp_weight > 0:
                    d_loss = d_loss + g.gp_weight * gradient_penalty(disc, real, fake, labels)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            disc.requires_grad_(False)  # as toggle_optimizer does: no D gradients in the G step
            with autocast(cfg, dev):
                g_loss = loss.g(disc(fake, labels))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            disc.requires_grad_(True)

        x, y = self._gan_data(cfg, model).train_dataloader().tensors
        batches = tensor_batches(x.to(dev), y.to(dev), g.batch_size)
        return bench_loop(batches, step, self.args)

    def diffusion_bare(self) -> float:
        """The diffusion model's net, objective, optimizer and EMA in a plain loop."""
        cfg, dev = self.gan_cfg["diffusion"], self.dev
        seed_all(cfg.seed)
        model = build_generator(cfg, list(self.dm.minority))
        net, ema = model.net.to(dev), model.net_ema.to(dev)
        opt = model.optimizer_factory(net.parameters())
        abar = model.schedule.alphas_cumprod.float().to(dev)
        live, avg = list(net.parameters()), list(ema.parameters())

        def step(x0: torch.Tensor, y: torch.Tensor) -> None:
            t = torch.randint(0, len(abar), (len(x0),), device=dev)
            eps = torch.randn_like(x0)
            a = abar[t].view(-1, 1, 1, 1)
            drop = torch.rand(len(y), device=dev) < model.label_dropout
            labels = torch.where(drop, torch.full_like(y, net.null_label), y)
            with autocast(cfg, dev):
                loss = F.mse_loss(net(a.sqrt() * x0 + (1 - a).sqrt() * eps, t, labels), eps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                torch._foreach_lerp_(avg, live, 1.0 - model.ema_decay)

        x, y = self._gan_data(cfg, model).train_dataloader().tensors
        batches = tensor_batches(x.to(dev), y.to(dev), cfg.gan.batch_size)
        return bench_loop(batches, step, self.args)

    def diffusion_sampling(self, n: int) -> float:
        """Images per second of the diffusion model's sampler (untrained weights: the cost is
        the same)."""
        cfg = self.gan_cfg["diffusion"]
        model = build_generator(cfg, list(self.dm.minority)).to(self.dev)
        model.sample(min(n, 8), seed=0)  # warm-up
        sync(self.dev)
        t0 = CLOCK[0]()
        model.sample(n, seed=1)
        sync(self.dev)
        return n / (CLOCK[0]() - t0)


def peak_rss_mb(out: Path) -> float:
    """Peak RSS (MB) of one epoch of ``classify experiment=quick``, run as a child process."""
    args = "experiment=quick classifier.max_epochs=1 trainer.enable_progress_bar=false".split()
    cmd = [sys.executable, "-m", "imbalance_gan.classify", *args, f"hydra.run.dir={out / 'rss'}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def machine(device: str) -> dict:
    """CPU model, torch threads, torch version and the device measured on."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    return {
        "cpu": names[0] if names else platform.processor() or "unknown",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
    }


def end_to_end(args: argparse.Namespace, out: Path) -> dict:
    """Seconds of whole runs beside bare loops, ``args.e2e_repeats`` interleaved pairs each."""
    trainer = f"trainer={'gpu' if args.device == 'cuda' else 'cpu'}"
    quiet = [trainer, "trainer.enable_progress_bar=false"]
    if args.smoke:
        gan, cls = [*quiet, "experiment=smoke"], [*quiet, "experiment=smoke"]
    else:
        gan = [*quiet, f"gan.max_epochs={args.gan_epochs}"]
        cls = [*quiet, "experiment=quick"]
        if args.classify_epochs is not None:
            cls.append(f"classifier.max_epochs={args.classify_epochs}")
    e2e = EndToEnd(lambda n, o, d: compose_cfg(n, o, d), out, gan, cls)
    clock = CLOCK[0]
    feature_net = [timed(e2e.feature_net, clock) for _ in range(args.e2e_repeats)]
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.e2e_repeats):
        for what in ("gan", "classify"):
            for side in ("project", "bare"):
                fn = getattr(e2e, f"{what}_{side}")
                times.setdefault((what, side), []).append(timed(fn, clock))
    result: dict = {"feature_net_s": round(statistics.median(feature_net), 2)}
    for what in ("gan", "classify"):
        project, bare = times[what, "project"], times[what, "bare"]
        result[f"{what}_e2e"] = {
            "project_s": round(statistics.median(project), 2),
            "bare_s": round(statistics.median(bare), 2),
            "project_vs_bare": round(
                statistics.median(p / b for p, b in zip(project, bare, strict=True)), 3
            ),
        }
    result["runs"] = {f"{w}/{s}": [round(v, 2) for v in t] for (w, s), t in times.items()}
    result["runs"]["feature_net"] = [round(v, 2) for v in feature_net]
    return result


def run(args: argparse.Namespace) -> dict:
    """Measure every path ``args.repeats`` times, interleaved, and return the JSON's content."""
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        b = Bench(args, Path(tmp))
        paths: dict[tuple[str, str], Callable[[], float]] = {
            ("classifier", "project"): b.classifier_project,
            ("classifier", "bare"): b.classifier_bare,
            ("classifier", "notebook"): b.classifier_notebook,
            ("dcgan", "project"): lambda: b.gan_project("dcgan"),
            ("dcgan", "bare"): lambda: b.gan_bare("dcgan"),
            ("cgan", "project"): lambda: b.gan_project("cgan"),
            ("cgan", "bare"): lambda: b.gan_bare("cgan"),
            ("diffusion", "project"): lambda: b.gan_project("diffusion"),
            ("diffusion", "bare"): b.diffusion_bare,
        }
        rates: dict[tuple[str, str], list[float]] = {key: [] for key in paths}
        for _ in range(args.repeats):  # interleaved, so a drift in background load hits all
            for key, measure in paths.items():
                rates[key].append(measure())
        sampling = [b.diffusion_sampling(args.sample_images) for _ in range(args.repeats)]
        rss = None if args.skip_rss else peak_rss_mb(Path(tmp))
        e2e = None if args.skip_e2e else end_to_end(args, Path(tmp) / "e2e")
    result: dict = {"machine": machine(args.device)}
    for (what, path), values in rates.items():
        result.setdefault(what, {})[path] = round(statistics.median(values), 1)
    for (what, other), values in rates.items():
        if other != "project":
            pairs = zip(rates[what, "project"], values, strict=True)
            result[what][f"project_vs_{other}"] = round(
                statistics.median(p / o for p, o in pairs), 3
            )
    rate = statistics.median(sampling)
    result["diffusion"]["sample_images_per_s"] = round(rate, 1)
    result["diffusion"]["sample_5970_s"] = round(5970 / rate, 1)
    result["peak_rss_mb"] = None if rss is None else round(rss, 1)
    e2e_runs = e2e.pop("runs") if e2e else {}
    blank = {"project_s": None, "bare_s": None, "project_vs_bare": None}
    result.update(e2e or {"feature_net_s": None, "gan_e2e": blank, "classify_e2e": blank})
    result["notes"] = {
        **NOTES,
        "runs": {f"{w}/{p}": [round(v, 1) for v in vals] for (w, p), vals in rates.items()},
        "end_to_end_runs_s": e2e_runs,
        "settings": f"steps={args.steps} warmup={args.warmup} "
        f"repeats={args.repeats} clock={args.clock} e2e_repeats={args.e2e_repeats} "
        f"gan_epochs={args.gan_epochs} classify_epochs={args.classify_epochs or 'quick'}"
        f"{' smoke' if args.smoke else ''}",
    }
    return result


def table(r: dict) -> str:
    """The results as a short text table, each target marked PASS or FAIL."""
    m = r["machine"]
    lines = [
        f"{m['cpu']}, {m['threads']} threads, torch {m['torch']}, device {m['device']}",
        f"{'images/s':12}{'project':>10}{'bare':>10}{'notebook':>10}",
    ]
    for what in ("classifier", "dcgan", "cgan", "diffusion"):
        v = r[what]
        lines.append(f"{what:12}{v['project']:>10}{v['bare']:>10}{v.get('notebook', '-'):>10}")
    d = r["diffusion"]
    lines.append(
        f"diffusion sampling: {d['sample_images_per_s']} images/s, 5,970 images in "
        f"{d['sample_5970_s']} s"
    )
    lines.append(f"{'seconds':12}{'project':>10}{'bare':>10}")
    for what in ("gan_e2e", "classify_e2e"):
        v = r[what]
        lines.append(f"{what:12}{v['project_s'] or '-':>10}{v['bare_s'] or '-':>10}")
    for label, section, key, target, at_most in TARGETS:
        value = (r[section] if section else r)[key]
        if value is None:
            lines.append(f"{label:30}{'-':>9}  skipped")
            continue
        ok = value <= target if at_most else value >= target
        sign = "<=" if at_most else ">="
        lines.append(f"{label:30}{value:>9.3f}  {'PASS' if ok else 'FAIL'} ({sign} {target:g})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Parse the options, run the benchmark, print the table and write the JSON."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=30, help="timed batches per repeat")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches before them")
    p.add_argument("--repeats", type=int, default=5, help="report the median of this many")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="cpu: CPU time")
    p.add_argument("--skip-rss", action="store_true", help="skip the peak-RSS child run")
    p.add_argument("--skip-e2e", action="store_true", help="skip the end-to-end runs")
    p.add_argument("--e2e-repeats", type=int, default=2, help="pairs of end-to-end runs")
    p.add_argument("--gan-epochs", type=int, default=60, help="epochs of the end-to-end GAN")
    p.add_argument(
        "--classify-epochs", type=int, help="epochs of the end-to-end classify (default: quick's)"
    )
    p.add_argument("--sample-images", type=int, default=500, help="diffusion images per timing")
    p.add_argument("--smoke", action="store_true", help="a couple of steps of everything")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.warmup, args.repeats, args.skip_rss = 2, 1, 1, True
        args.sample_images = 4
        args.e2e_repeats = 1  # and experiment=smoke runs
    torch.set_num_threads(args.threads)
    CLOCK[0] = time.process_time if args.clock == "cpu" else time.perf_counter
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # per-Trainer chatter
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    result = run(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
