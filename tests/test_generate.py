"""``generate``: images of the chosen classes from a trained generator, reproducible for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from imbalance_gan.generators.generate import generate
from imbalance_gan.generators.pipeline import train_generator
from imbalance_gan.runtime.errors import UserError

from .conftest import make_cfg, run_module


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan") / "run"
    train_generator(make_cfg("train", ["gan=projgan", "experiment=smoke"], out), out)
    return out


def _generate(out, *overrides):
    generate(make_cfg("generate", list(overrides), out), out)
    return np.load(out / "generated.npz")


def test_generate_writes_the_promised_images_reproducibly(gan_run, tmp_path):
    out = tmp_path / "cli"
    args = [f"run={gan_run}", "n=25", "classes=[0,7]", "seed=3"]
    proc = run_module("imbalance_gan.generate", *args, f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "generated.png").stat().st_size > 0
    cli = np.load(out / "generated.npz")
    images, labels = cli["images"], cli["labels"]
    assert images.dtype == np.uint8 and images.shape == (25, 1, 28, 28)
    assert labels.dtype == np.int64 and sorted(labels.tolist()) == [0] * 13 + [7] * 12
    again = _generate(tmp_path / "again", *args)
    assert np.array_equal(images, again["images"])  # the same seed, the same images
    other = _generate(tmp_path / "other", *args[:-1], "seed=4")
    assert not np.array_equal(images, other["images"])


def test_a_run_dir_without_a_checkpoint_ends_in_one_line(tmp_path):
    proc = run_module("imbalance_gan.generate", f"run={tmp_path}", f"hydra.run.dir={tmp_path}/o")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1
    assert "holds no checkpoints/best.ckpt" in lines[0]
    assert not (tmp_path / "o" / "generated.npz").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["run={gan}", "classes=[12]"], "classes=[12]"),
        (["run={gan}", "n=0"], "n=0"),
        (["gan=projgan", "experiment=smoke"], "no finished projgan generator"),
    ],
)
def test_generate_refuses_bad_input(args, message, gan_run, tmp_path):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _generate(tmp_path / "out", *[a.format(gan=gan_run) for a in args])
    assert not (tmp_path / "out" / "generated.npz").exists()


def test_a_run_saved_before_configs_named_their_family_still_draws(gan_run, tmp_path):
    import shutil

    from omegaconf import OmegaConf

    old = tmp_path / "old"
    shutil.copytree(gan_run, old)
    cfg = OmegaConf.load(old / "config.yaml")
    del cfg.gan["family"]  # what a train run's config.yaml held before issue 23
    OmegaConf.save(cfg, old / "config.yaml")
    new, before = (
        _generate(tmp_path / "new", f"run={gan_run}"),
        _generate(tmp_path / "o", f"run={old}"),
    )
    assert np.array_equal(new["images"], before["images"])


def test_a_cache_entry_a_classify_run_trained_draws(gan_run, tmp_path):
    """A generator a scenario trained into the cache keeps the classify run's config, whose
    classifier names torch's optimiser and scheduler: code this package's configs name, never
    built from the file. Code no config of the package names is still refused."""
    import shutil

    from omegaconf import OmegaConf

    entry = tmp_path / "entry"
    shutil.copytree(gan_run, entry)
    cfg = make_cfg("classify", ["scenario=projgan", "experiment=smoke"], entry)
    OmegaConf.save(cfg, entry / "config.yaml", resolve=True)
    assert "torch.optim" in (entry / "config.yaml").read_text()
    drawn = _generate(tmp_path / "drawn", f"run={entry}")
    assert np.array_equal(drawn["images"], _generate(tmp_path / "own", f"run={gan_run}")["images"])
    cfg.classifier.scheduler._target_ = "builtins.eval"
    OmegaConf.save(cfg, entry / "config.yaml", resolve=True)
    with pytest.raises(UserError, match="classifier.scheduler._target_ is 'builtins.eval'"):
        _generate(tmp_path / "evil", f"run={entry}")
