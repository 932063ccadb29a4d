"""Nothing the tool reads runs code: a pickle that would run code, planted in every place the
tool loads a tensor file from (a run's ``last.ckpt`` and ``best.ckpt``, Lightning's own
checkpoint loading, the GAN cache, ``synthetic.pt``, the feature-net cache), is refused with
one line and never executes.

``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is set throughout: it turns torch's weights-only default
off for every ``torch.load`` that does not ask for it, so these tests show the tool asks
everywhere instead of leaning on the default of one torch version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.generators.generate import generate
from imbalance_gan.generators.pipeline import load_generator, train_gan
from imbalance_gan.generators.selection import FEATURE_NET_MARKER, load_or_train_feature_net
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.resilience import AtomicCheckpointIO
from imbalance_gan.runtime.trainer import build_trainer, save_config
from imbalance_gan.scenarios.synthetic import load_synthetic

from .conftest import assert_one_error_line, make_cfg, run_module


class Payload:
    """Unpickled as code, it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def plant(path: Path, marker: Path) -> Path:
    """A checkpoint-shaped file at ``path`` whose unpickling would write ``marker``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": Payload(marker), "epoch": 0, "images": Payload(marker)}, path)
    return path


@pytest.fixture(autouse=True)
def torch_default_off(monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "payload_ran"


def test_the_payload_runs_when_unpickled(tmp_path, marker):
    """The planted file is a real threat: a plain load runs it."""
    torch.load(plant(tmp_path / "x.ckpt", marker), weights_only=False)
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("command", ["classify", "train"])
def test_a_planted_last_ckpt_is_refused_on_resume(command, tmp_path, marker):
    out = tmp_path / "run"
    overrides = ["experiment=smoke", "resume=true"] + (
        ["gan=projgan"] if command == "train" else []
    )
    cfg = make_cfg(command, overrides, out)
    save_config(cfg, out)  # the run's own record of its config, which a resume checks first
    plant(out / "checkpoints" / "last.ckpt", marker)
    run = classify if command == "classify" else lambda c: train_gan(c, out)
    with pytest.raises(UserError, match="refused"):
        run(cfg)
    assert not marker.exists()


def test_a_planted_last_ckpt_ends_the_cli_in_one_line(tmp_path, marker):
    out = tmp_path / "run"
    save_config(make_cfg("classify", ["experiment=smoke", "resume=true"], out), out)
    plant(out / "checkpoints" / "last.ckpt", marker)
    proc = run_module(
        "imbalance_gan.classify",
        "experiment=smoke",
        "resume=true",
        f"hydra.run.dir={out}",
        env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},
    )
    assert_one_error_line(proc, "refused", "last.ckpt")
    assert not marker.exists()


@pytest.mark.parametrize("call", ["fit", "validate", "test"])
def test_lightning_loads_checkpoints_weights_only(call, tmp_path, marker, mnist_dm):
    """``trainer.fit/validate/test(ckpt_path=...)`` of a trainer the tool builds (``best.ckpt`` is
    loaded this way) refuses the payload, whatever weights_only the caller passes."""
    from imbalance_gan.classifier.pipeline import build

    cfg = make_cfg("classify", ["experiment=smoke"], tmp_path / "run")
    built = build(cfg, tmp_path / "run")
    trainer = build_trainer(cfg.trainer, tmp_path / "run", 1, [])
    ckpt = plant(tmp_path / "best.ckpt", marker)
    with pytest.raises(UserError, match="refused"):
        getattr(trainer, call)(built.model, datamodule=built.dm, ckpt_path=str(ckpt))
    with pytest.raises(UserError, match="refused"):
        AtomicCheckpointIO().load_checkpoint(ckpt, weights_only=False)
    assert not marker.exists()


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan") / "run"
    train_gan(make_cfg("train", ["gan=projgan", "experiment=smoke"], out), out)
    return out


def test_a_planted_generator_in_a_run_or_the_cache_is_refused(gan_run, tmp_path, marker):
    run = tmp_path / "copied_run"
    shutil.copytree(gan_run, run)
    plant(run / "checkpoints" / "best.ckpt", marker)
    cfg = OmegaConf.load(run / "config.yaml")
    with pytest.raises(UserError, match="best.ckpt"):
        load_generator(cfg, run, [0])  # how the scenarios load a GAN cache entry
    with pytest.raises(UserError, match="best.ckpt"):
        generate(make_cfg("generate", [f"run={run}", "n=4"], tmp_path / "gen"), tmp_path / "gen")
    assert not marker.exists()


def test_a_planted_synthetic_file_is_refused(tmp_path, marker):
    path = plant(tmp_path / "synthetic.pt", marker)
    with pytest.raises(UserError, match="synthetic.pt"):
        load_synthetic(path, 10, (1, 28, 28))
    assert not marker.exists()


def test_a_planted_feature_net_in_the_cache_is_refused(tmp_path, marker, mnist_dm):
    cfg = make_cfg("train", ["gan=projgan", "experiment=smoke"], tmp_path / "run")
    cache = tmp_path / "cache"
    with torch.random.fork_rng():
        load_or_train_feature_net(mnist_dm, cfg.selection, cache)  # a real entry first
    (entry,) = (cache / "feature_nets").iterdir()
    plant(entry / FEATURE_NET_MARKER, marker)
    with pytest.raises(UserError, match="cached feature network"):
        load_or_train_feature_net(mnist_dm, cfg.selection, cache)
    assert not marker.exists()


@pytest.mark.parametrize("key", ["gan.generator._target_", "gan.family"])
def test_a_run_dir_config_naming_foreign_code_is_refused(key, gan_run, tmp_path, marker):
    """``generate run=<dir>`` builds the generator from the dir's config.yaml: a ``_target_`` or
    ``family`` there that names code outside the package (and not in the requested config) is
    refused before anything is imported or called."""
    run = tmp_path / "copied_run"
    shutil.copytree(gan_run, run)
    cfg = OmegaConf.load(run / "config.yaml")
    if key.endswith("_target_"):  # instantiate would call exec("open(marker, 'w')")
        code = {"_target_": "builtins.exec", "_args_": [f"open({str(marker)!r}, 'w')"]}
        OmegaConf.update(cfg, "gan.generator", code, merge=False)
    else:
        OmegaConf.update(cfg, key, "builtins.exec")
    OmegaConf.save(cfg, run / "config.yaml")
    with pytest.raises(UserError, match=rf"names code outside imbalance_gan \({key}: builtins"):
        generate(make_cfg("generate", [f"run={run}", "n=4"], tmp_path / "gen"), tmp_path / "gen")
    assert not marker.exists()


@pytest.mark.parametrize(
    "generator",
    [
        # os.system reached through a module attribute of the package
        {"_target_": "imbalance_gan.runtime.cli.os.system", "_args_": ["{touch}"]},
        # a resolver that would make the _target_ after the check
        "${{oc.create:{{_target_: builtins.exec, _args_: ['{code}']}}}}",
    ],
    ids=["attribute-path", "interpolation"],
)
def test_a_run_dir_config_cannot_smuggle_code_past_the_check(generator, gan_run, tmp_path, marker):
    run = tmp_path / "copied_run"
    shutil.copytree(gan_run, run)
    cfg = OmegaConf.load(run / "config.yaml")
    fill = {"touch": f"touch {marker}", "code": f"open({str(marker)!r}, 'w')".replace("'", '"')}
    value = (
        {
            k: [a.format(**fill) for a in v] if isinstance(v, list) else v
            for k, v in generator.items()
        }
        if isinstance(generator, dict)
        else generator.format(**fill)
    )
    OmegaConf.update(cfg, "gan.generator", value, merge=False)
    OmegaConf.save(cfg, run / "config.yaml")
    with pytest.raises(UserError, match="names code outside imbalance_gan|holds an interpolation"):
        generate(make_cfg("generate", [f"run={run}", "n=4"], tmp_path / "gen"), tmp_path / "gen")
    assert not marker.exists()
