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
from imbalance_gan.generators.pipeline import load_generator, train_generator
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
    run = classify if command == "classify" else lambda c: train_generator(c, out)
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
def test_lightning_loads_checkpoints_weights_only(call, tmp_path, marker):
    """``trainer.fit/validate/test(ckpt_path=...)`` of a trainer the tool builds (``best.ckpt`` is
    loaded this way) refuses the payload, whatever weights_only the caller passes."""
    from imbalance_gan.classifier.pipeline import build

    cfg = make_cfg("classify", ["experiment=smoke"], tmp_path / "run")
    built = build(cfg, tmp_path / "run")
    trainer = build_trainer(cfg.trainer, tmp_path / "run", 1, [])
    ckpt = plant(tmp_path / "best.ckpt", marker)
    with pytest.raises(UserError, match="refused"):
        getattr(trainer, call)(built.model, datamodule=built.data, ckpt_path=str(ckpt))
    with pytest.raises(UserError, match="refused"):
        AtomicCheckpointIO().load_checkpoint(ckpt, weights_only=False)
    assert not marker.exists()


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan") / "run"
    train_generator(make_cfg("train", ["gan=projgan", "experiment=smoke"], out), out)
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


def test_a_planted_feature_net_in_the_cache_is_refused(tmp_path, marker, mnist_split):
    cfg = make_cfg("train", ["gan=projgan", "experiment=smoke"], tmp_path / "run")
    cache = tmp_path / "cache"
    with torch.random.fork_rng():
        load_or_train_feature_net(mnist_split, cfg.selection, cache)  # a real entry first
    (entry,) = (cache / "feature_nets").iterdir()
    plant(entry / FEATURE_NET_MARKER, marker)
    with pytest.raises(UserError, match="cached feature network"):
        load_or_train_feature_net(mnist_split, cfg.selection, cache)
    assert not marker.exists()


#: planted in a copied run dir's config.yaml (``{marker}``: a file the payload would create,
#: ``{victim}``: a file it would overwrite). Each names a function of this package that runs a
#: command or writes a file, or hides an interpolation from a text search; every one ran or
#: wrote on the code before issue 36, which allowed any function defined in the package.
PLANTED = {
    "package-command": (
        "gan.optimizer_d",
        {
            "_target_": "imbalance_gan.runtime.slurm._run",
            "command": ["sh", "-c", "touch {marker}"],
        },
    ),
    "package-file-writer": (
        "gan.optimizer_g",
        {"_target_": "imbalance_gan.runtime.files.write_text", "path": "{victim}", "text": "x"},
    ),
    "foreign-target": (
        "gan.generator",
        {"_target_": "builtins.exec", "_args_": ["open('{marker}', 'w')"]},
    ),
    "foreign-family": ("gan.family", "builtins.exec"),
    "attribute-path": (
        "gan.generator",
        {"_target_": "imbalance_gan.runtime.cli.os.system", "_args_": ["touch {marker}"]},
    ),
    "data-source": (
        "data.source",
        {"_target_": "imbalance_gan.runtime.slurm._run", "command": ["touch", "{marker}"]},
    ),
    "partial-flag": ("gan.optimizer_d._partial_", False),
}
#: the same, as raw YAML text in place of a key's value: interpolations a text search for
#: "${" misses (a YAML escape, a line continuation inside a double-quoted scalar)
ESCAPED = {
    "yaml-escape": "\"\\x24{{oc.decode:'{{_target_: builtins.open, file: {victim}, mode: w}}'}}\"",
    "line-continuation": "\"$\\\n    {{oc.decode:'{{_target_: shutil.copyfile, src: {victim}, dst: {marker}}}'}}\"",
    "plain-interpolation": "'${{oc.create:{{_target_: builtins.exec, _args_: [x]}}}}'",
}


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text("precious\n")
    return path


def planted_run(gan_run: Path, tmp_path: Path, key: str, value) -> Path:
    """A copy of ``gan_run`` whose config.yaml sets ``key`` to ``value`` (plain data)."""
    run = tmp_path / "copied_run"
    shutil.copytree(gan_run, run)
    cfg = OmegaConf.load(run / "config.yaml")
    OmegaConf.update(cfg, key, value, merge=False, force_add=True)
    OmegaConf.save(cfg, run / "config.yaml")
    return run


def escaped_run(gan_run: Path, tmp_path: Path, raw: str) -> Path:
    """A copy of ``gan_run`` whose ``optimizer_d:`` value is the YAML text ``raw``."""
    run = tmp_path / "copied_run"
    shutil.copytree(gan_run, run)
    lines = (run / "config.yaml").read_text().splitlines()
    at = lines.index("  optimizer_d:")
    end = next(i for i in range(at + 1, len(lines)) if not lines[i].startswith("    "))
    lines[at:end] = [f"  optimizer_d: {raw}"]
    (run / "config.yaml").write_text("\n".join(lines) + "\n")
    return run


def _fill(value, **paths):
    if isinstance(value, dict):
        return {k: _fill(v, **paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, **paths) for v in value]
    return value.format(**paths) if isinstance(value, str) else value


def _assert_untouched(marker: Path, victim: Path) -> None:
    assert not marker.exists()
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_planted_run_dir_config_is_refused_by_generate(name, gan_run, tmp_path, marker, victim):
    key, value = PLANTED[name]
    run = planted_run(gan_run, tmp_path, key, _fill(value, marker=marker, victim=victim))
    out = tmp_path / "gen"
    with pytest.raises(UserError, match=f"{key.split('._')[0]}.* refused"):
        generate(make_cfg("generate", [f"run={run}", "n=4"], out), out)
    _assert_untouched(marker, victim)
    assert not (out / "generated.npz").exists()


@pytest.mark.parametrize("name", sorted(ESCAPED))
def test_an_escaped_interpolation_is_refused(name, gan_run, tmp_path, marker, victim):
    raw = ESCAPED[name].format(marker=marker, victim=victim)
    run = escaped_run(gan_run, tmp_path, raw)
    # the planted text is a real interpolation once YAML has read it
    assert "${oc." in str(OmegaConf.to_container(OmegaConf.load(run / "config.yaml"))["gan"])
    out = tmp_path / "gen"
    with pytest.raises(UserError, match=r"gan.optimizer_d holds an interpolation"):
        generate(make_cfg("generate", [f"run={run}", "n=4"], out), out)
    _assert_untouched(marker, victim)


def test_generate_ends_a_planted_run_dir_in_one_line(gan_run, tmp_path, marker, victim):
    key, value = PLANTED["package-command"]
    run = planted_run(gan_run, tmp_path, key, _fill(value, marker=marker, victim=victim))
    proc = run_module(
        "imbalance_gan.generate", f"run={run}", "n=4", f"hydra.run.dir={tmp_path}/gen"
    )
    assert_one_error_line(proc, "refused")  # the old code ran the command and exited 0
    _assert_untouched(marker, victim)


@pytest.mark.parametrize("planted", [True, False], ids=["data-source", "missing"])
def test_the_sampler_benchmark_ends_a_bad_run_dir_in_one_line(
    planted, gan_run, tmp_path, marker, victim, capsys
):
    from .conftest import benchmark_module

    run = tmp_path / "nowhere"
    if planted:
        key, value = PLANTED["data-source"]
        run = planted_run(gan_run, tmp_path, key, _fill(value, marker=marker, victim=victim))
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        benchmark_module("diffusion_sampling").main([str(run), "--n", "4"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert stopped.value.code == 2 and len(err) == 1
    assert ("refused" if planted else "is not a folder") in err[0]
    _assert_untouched(marker, victim)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("gan.generator.latent_dim", "abc", "latent_dim is 'abc' .str. there, a int"),
        ("gan.name", "mygan", "gan.name is 'mygan', not a generator of this package"),
        ("gan.generator", [1, 2], "gan.generator is a list there, a mapping"),
        ("data.source._target_", "x.Y", "data.source._target_ is .x.Y., which no data config"),
        ("gan.generator.extra", {"_target_": "os.system"}, "gan.generator.extra._target_"),
    ],
)
def test_a_run_dir_config_of_the_wrong_shape_is_refused(key, value, message, gan_run, tmp_path):
    run = planted_run(gan_run, tmp_path, key, value)
    out = tmp_path / "gen"
    with pytest.raises(UserError, match=message):
        generate(make_cfg("generate", [f"run={run}", "n=4"], out), out)


def test_a_run_dir_config_with_yaml_objects_or_aliases_is_refused(gan_run, tmp_path, marker):
    for raw, message in (
        (f"!!python/object/apply:os.system ['touch {marker}']", "only plain data"),
        ("!!binary aGk=", "only plain data"),
    ):
        run = escaped_run(gan_run, tmp_path / raw[:8].strip("!/"), raw)
        out = tmp_path / "gen"
        with pytest.raises(UserError, match=message):
            generate(make_cfg("generate", [f"run={run}", "n=4"], out), out)
    run = tmp_path / "aliased"
    shutil.copytree(gan_run, run)
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text + "a: &x [1, 2]\nb: [*x, *x]\n")
    with pytest.raises(UserError, match="alias"):
        generate(make_cfg("generate", [f"run={run}", "n=4"], tmp_path / "g"), tmp_path / "g")
    assert not marker.exists()


def test_plain_values_of_a_run_dir_config_are_taken_over(gan_run, tmp_path):
    """What the file sets with the right type is used (the generator's size here), whatever
    the command's own gan= says: the net is built with the file's values."""
    from imbalance_gan.generators.generate import trained_source

    request = make_cfg("generate", [f"run={gan_run}", "gan=dcgan"], tmp_path / "gen")
    _, cfg, _ = trained_source(request)
    recorded = OmegaConf.load(gan_run / "config.yaml")
    assert cfg.gan.name == recorded.gan.name == "projgan"
    assert OmegaConf.to_container(cfg.gan, resolve=True) == OmegaConf.to_container(
        recorded.gan, resolve=True
    )
    assert cfg.paths.artifact_dir == request.paths.artifact_dir  # where it writes: the command's


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: " + "[" * 5000 + "]" * 5000, "nests deeper than"),
        ("a: " + "[" * 40 + "]" * 40, "nests deeper than"),
        ("a: &x [1]\nb: *x", "alias"),
        ("a: !!python/name:os.system", "only plain data"),
        ("a: 1\na: 2", "duplicate key"),
        ("1: x", "a key 1 of type int"),
        ("a: [[" + "1, " * 10_000 + "1]]", "a list of more than 10000 items"),
    ],
    ids=["deeper-than-the-stack", "deep", "alias", "python-tag", "duplicate", "int-key", "long"],
)
def test_the_plain_loader_refuses_what_is_not_plain_data(text, message, tmp_path):
    from imbalance_gan.record.plain import load_plain

    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_plain(path)


def test_the_plain_loader_refuses_a_fifo_instead_of_waiting(tmp_path):
    import os

    from imbalance_gan.record.plain import load_plain

    os.mkfifo(tmp_path / "config.yaml")
    with pytest.raises(UserError, match="not a regular file"):
        load_plain(tmp_path / "config.yaml")


@pytest.mark.parametrize(
    "key, value, message",
    [
        # allocated before the old code noticed: built on the meta device now, nothing allocated
        ("gan.generator.latent_dim", 10**8, "but its checkpoint's is"),
        ("gan.loss", "nope", "gan.loss='nope' is not known"),  # the family's own check
        ("gan.generator.img_channels", {"a": 1}, "img_channels is .* there, but 1"),
        ("gan.discriminator.channels", [-1, 64], "cannot be built"),
        ("seed", 10**40, "beyond any run's"),
        ("gan.generator.num_classes", 10**12, "beyond any run's"),
    ],
)
def test_a_run_dir_config_describing_another_generator_is_refused(
    key, value, message, gan_run, tmp_path
):
    run = planted_run(gan_run, tmp_path, key, value)
    out = tmp_path / "gen"
    with pytest.raises(UserError, match=message):
        generate(make_cfg("generate", [f"run={run}", "n=4"], out), out)


@pytest.mark.parametrize(
    "key, value",
    [
        ("data.root", "{tmp}/victim_root"),
        ("data.source.root", "{tmp}/victim_root"),
        ("data.download", True),
        ("data.source.download", True),
    ],
)
def test_where_the_images_are_is_never_taken_from_a_run_dir(key, value, gan_run, tmp_path):
    """A file must not choose a folder this machine reads, writes or downloads into: the
    command's own place is kept (here one given on its command line), nothing is downloaded."""
    from imbalance_gan.generators.generate import trained_source

    value = value.format(tmp=tmp_path) if isinstance(value, str) else value
    run = planted_run(gan_run, tmp_path, key, value)
    mine = str(tmp_path / "my_data")
    request = make_cfg("generate", [f"run={run}", f"data.root={mine}"], tmp_path / "gen")
    _, cfg, _ = trained_source(request)
    assert cfg.data.root == cfg.data.source.root == mine
    assert cfg.data.download is False and cfg.data.source.download is False


@pytest.mark.parametrize(
    "key, value",
    [("data.source.dataset", "../../x"), ("gan.generator.img_channels", 3), ("data.seed", 7)],
)
def test_a_value_that_contradicts_what_it_copies_is_refused(key, value, gan_run, tmp_path):
    """A key whose config value copies another (``${..dataset}``) must hold that value."""
    run = planted_run(gan_run, tmp_path, key, value)
    out = tmp_path / "gen"
    with pytest.raises(UserError, match=f"{key} is .* there, but .* from what it copies"):
        generate(make_cfg("generate", [f"run={run}", "n=4"], out), out)


def test_a_compressed_checkpoint_is_refused_before_it_inflates(gan_run, tmp_path):
    """torch stores its archive members uncompressed: a deflated member is a bomb."""
    import zipfile

    from imbalance_gan.runtime.resilience import load_weights_only

    run = tmp_path / "copied_run"
    shutil.copytree(gan_run, run)
    best = run / "checkpoints" / "best.ckpt"
    with zipfile.ZipFile(gan_run / "checkpoints" / "best.ckpt") as src:
        members = [(i, src.read(i.filename)) for i in src.infolist()]
    with zipfile.ZipFile(best, "w") as dst:
        for info, blob in members:
            if info.filename.endswith("/data/0"):  # one tensor, padded to inflate
                blob = blob + bytes(8 * 2**20)
            dst.writestr(info.filename, blob, compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(UserError, match="inflates"):
        load_weights_only(best)
    out = tmp_path / "gen"
    with pytest.raises(UserError, match="inflates"):
        generate(make_cfg("generate", [f"run={run}", "n=4"], out), out)
