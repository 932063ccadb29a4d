"""``python -m imbalance_gan.train gan=<vanilla|dcgan|cgan>``: train a GAN, select, generate."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torchvision.utils import save_image

from imbalance_gan.data import ImbalancedDataModule, datamodule_from_config
from imbalance_gan.data.datamodule import to_uint8
from imbalance_gan.errors import UserError, report_user_errors
from imbalance_gan.files import atomic_write, torch_save, write_json
from imbalance_gan.gan import GANModule, SelectionCallback, sample_grid
from imbalance_gan.resilience import check_checkpoint
from imbalance_gan.runtime import Timer, build_trainer, hardware, output_dir, save_config, seed_all
from imbalance_gan.selection import Selector, load_or_train_feature_net

log = logging.getLogger("imbalance_gan.train")


def build_gan(cfg: DictConfig, minority: list[int]) -> GANModule:
    """The GANModule of the ``gan`` config group."""
    g = cfg.gan
    return GANModule(
        generator=instantiate(g.generator),
        discriminator=instantiate(g.discriminator),
        loss=g.loss,
        gp_weight=g.gp_weight,
        lr_g=g.lr_g,
        lr_d=g.lr_d,
        betas=list(g.betas),
        d_warmup_epochs=g.d_warmup_epochs,
        d_every=g.d_every,
        sample_classes=minority,
    )


def check_gan_config(cfg: DictConfig, dm: ImbalancedDataModule) -> None:
    """Refuse impossible GAN settings before training starts."""
    g = cfg.gan
    from imbalance_gan.losses import LOSSES

    if g.loss not in LOSSES:
        raise UserError(f"gan.loss={g.loss!r} is not known; choose one of {sorted(LOSSES)}")
    for key in ("batch_size", "max_epochs", "num_synthetic"):
        if int(g[key]) < 1:
            raise UserError(f"gan.{key}={g[key]} must be at least 1")
    if not dm.minority:
        raise UserError(
            "the data config cuts no class (data.minority_classes is empty): nothing to generate"
        )
    n_real = len(dm.minority_images("train"))
    if n_real <= int(cfg.selection.pr_k):
        raise UserError(
            f"only {n_real} real minority images: too few for selection.pr_k={cfg.selection.pr_k}"
        )


def train_gan(cfg: DictConfig, out: Path, dm: ImbalancedDataModule | None = None) -> dict:
    """Train ``cfg.gan`` into ``out``; write best/last checkpoints, ``synthetic.pt``,
    ``samples.png`` and, last, ``metrics.json``. Returns the metrics."""
    timer = Timer()
    seed_all(cfg.seed)
    if dm is None:
        dm = datamodule_from_config(cfg.data, cfg.gan.batch_size)
    check_gan_config(cfg, dm)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out)
    # the feature net is trained on the imbalanced training part only (see selection.py)
    feature_net = load_or_train_feature_net(
        dm, cfg.data, cfg.selection, Path(cfg.paths.artifact_dir)
    )
    selector = Selector(feature_net, dm.minority_images("train"), k=cfg.selection.pr_k)

    seed_all(cfg.seed)
    model = build_gan(cfg, dm.minority)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loader = dm.gan_dataloader(
        cfg.gan.batch_size,
        minority_only=not cfg.gan.conditional,
        class_balanced=cfg.gan.class_balanced_sampling,
    )
    ckpt_dir = out / "checkpoints"
    grid_classes = list(range(dm.num_classes)) if cfg.gan.conditional else dm.minority
    select = SelectionCallback(
        selector,
        ckpt_dir,
        cfg.selection.every_n_epochs,
        cfg.selection.num_samples,
        grid_classes,
        seed=cfg.seed,
    )
    trainer = build_trainer(cfg.trainer, out, cfg.gan.max_epochs, [select])
    selector.to(trainer.strategy.root_device)
    if cfg.data.on_device:
        loader.to(trainer.strategy.root_device)
    if trainer.world_size > 1:
        loader.sampler.shard(trainer.global_rank, trainer.world_size)
    last = ckpt_dir / "last.ckpt"
    resume = cfg.get("resume", False) and last.exists()
    if resume:
        check_checkpoint(last, model)
    trainer.fit(model, train_dataloaders=loader, ckpt_path=str(last) if resume else None)

    if not trainer.is_global_zero:  # DDP: rank 0 generates and writes
        return {"selection/fd_train": select.best_score}
    # generate from the selected checkpoint
    best = torch.load(ckpt_dir / "best.ckpt", map_location="cpu", weights_only=False)
    model.load_state_dict(best["state_dict"])
    model.to(trainer.strategy.root_device)
    n = int(cfg.gan.num_synthetic) * len(dm.minority)
    fake = model.sample(n, dm.minority, seed=cfg.seed + 1)
    evaluation = selector.evaluate(fake, dm.minority_images("test").to(fake.device))
    labels = torch.tensor(dm.minority).repeat(int(cfg.gan.num_synthetic)).sort().values
    # sample() cycles labels over the classes; reorder to match the sorted labels
    order = torch.arange(n).view(int(cfg.gan.num_synthetic), len(dm.minority)).t().reshape(-1)
    images = to_uint8(fake[order].cpu())
    torch_save(out / "synthetic.pt", {"images": images, "labels": labels})
    grid = sample_grid(
        model, list(range(dm.num_classes)) if cfg.gan.conditional else dm.minority, seed=cfg.seed
    )
    atomic_write(out / "samples.png", lambda f: save_image(grid, f, format="png"))

    metrics = {
        "kind": "gan",
        "gan": cfg.gan.name,
        "seed": int(cfg.seed),
        "profile": cfg.get("profile"),
        "epochs": int(cfg.gan.max_epochs),
        "best_epoch": select.best_epoch,
        "selection/fd_train": select.best_score,
        **evaluation,
        "score_history": select.history,
        "num_synthetic": int(cfg.gan.num_synthetic),
        "minority_classes": dm.minority,
        "real_minority_train": len(dm.minority_images("train")),
        "device": str(trainer.strategy.root_device),
        "hardware": hardware(),
        "wall_time_s": round(timer.elapsed, 2),
    }
    if metrics["eval/recall"] < float(cfg.selection.recall_floor):
        log.warning(
            "recall %.3f of the chosen checkpoint is below selection.recall_floor=%s: the generator "
            "may have collapsed onto a few modes",
            metrics["eval/recall"],
            cfg.selection.recall_floor,
        )
    write_json(out / "metrics.json", metrics)  # last: marks the run finished
    log.info(
        "%s: best epoch %d, fd_train %.3f, fd_test %.3f, precision %.3f, recall %.3f (%.0fs)",
        cfg.gan.name,
        metrics["best_epoch"],
        metrics["selection/fd_train"],
        metrics["eval/fd_test"],
        metrics["eval/precision"],
        metrics["eval/recall"],
        timer.elapsed,
    )
    return metrics


def run(cfg: DictConfig) -> dict:
    """The ``train`` command: train into the Hydra output dir, then publish to the GAN cache."""
    from imbalance_gan.cache import publish

    out = output_dir(cfg)
    metrics = train_gan(cfg, out)
    publish(cfg, out)
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@report_user_errors
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the selection score for sweepers."""
    return run(cfg)["selection/fd_train"]


if __name__ == "__main__":
    main()
