"""The imbalanced dataset: exact counts, seeded selection, stratified split, no test leakage."""

from __future__ import annotations

import gzip
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from imbalance_gan.data import (
    BatchPolicy,
    ImbalancedData,
    ModelData,
    TensorLoader,
    TrainingSet,
    arrays,
    build_split,
    load_split,
    resolve_class_counts,
    select_imbalanced,
    sources,
    stratified_split,
    to_uint8,
    to_unit_range,
)
from imbalance_gan.data.imbalance import class_histogram
from imbalance_gan.runtime.errors import UserError

from .conftest import DATA, mnist_split_of

MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
STUDY_COUNTS = [300, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(scope="module")
def train_labels():
    return load_split("mnist", DATA, train=True)[1]


def test_default_selection_has_the_study_counts(train_labels):
    counts = resolve_class_counts(class_histogram(train_labels, 10))
    idx = select_imbalanced(train_labels, counts, seed=42)
    assert class_histogram(train_labels[idx], 10) == STUDY_COUNTS
    assert len(idx) == 54_377
    assert len(torch.unique(idx)) == len(idx)


def test_other_minority_settings(train_labels):
    counts = resolve_class_counts(MNIST_TRAIN, minority_classes=[3, 7], minority_count=50)
    idx = select_imbalanced(train_labels, counts, seed=1)
    expected = list(MNIST_TRAIN)
    expected[3] = expected[7] = 50
    assert class_histogram(train_labels[idx], 10) == expected


def test_explicit_class_counts_win(train_labels):
    long_tail = [5000, 4000, 3000, 2000, 1000, 500, 250, 100, 50, 10]
    counts = resolve_class_counts(MNIST_TRAIN, [0], 300, class_counts=long_tail)
    idx = select_imbalanced(train_labels, counts, seed=0)
    assert class_histogram(train_labels[idx], 10) == long_tail


def test_selection_is_a_function_of_the_seed(train_labels):
    counts = resolve_class_counts(MNIST_TRAIN)
    a = select_imbalanced(train_labels, counts, seed=5)
    b = select_imbalanced(train_labels, counts, seed=5)
    c = select_imbalanced(train_labels, counts, seed=6)
    assert torch.equal(a, b)
    zeros_a = set(a[train_labels[a] == 0].tolist())
    zeros_c = set(c[train_labels[c] == 0].tolist())
    assert zeros_a != zeros_c


def test_stratified_split_keeps_every_class_on_both_sides(train_labels):
    counts = resolve_class_counts(MNIST_TRAIN)
    idx = select_imbalanced(train_labels, counts, seed=0)
    y = train_labels[idx]
    tr, va = stratified_split(y, 0.1, seed=0, num_classes=10)
    assert set(tr.tolist()).isdisjoint(va.tolist())
    assert len(tr) + len(va) == len(y)
    assert all(n > 0 for n in class_histogram(y[tr], 10))
    assert all(n > 0 for n in class_histogram(y[va], 10))
    assert class_histogram(y[va], 10)[0] == 30  # 10% of 300


def test_datamodule_splits_are_disjoint_and_test_is_untouched(mnist_split):
    dm = mnist_split
    train, val = set(dm.train_idx.tolist()), set(dm.val_idx.tolist())
    assert train.isdisjoint(val)
    assert len(train) + len(val) == 54_377
    # train and val come from the 60,000 training images only; test is the full 10,000
    assert max(train | val) < 60_000
    test_x, test_y = load_split("mnist", DATA, train=False)
    assert len(dm.test_y) == 10_000
    assert torch.equal(dm.test_y, test_y)
    assert torch.equal(to_uint8(dm.test_x).squeeze(1), test_x)
    real = TrainingSet.real(dm).counts()["real"]
    assert real[0] + class_histogram(dm.val_y, 10)[0] == 300


def test_pixels_are_scaled_once_to_minus_one_one(mnist_split):
    x = mnist_split.train_x
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28)
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    u = torch.tensor([[0, 255, 128]], dtype=torch.uint8)
    assert torch.equal(to_uint8(to_unit_range(u)).squeeze(1), u)


def test_extra_data_goes_to_training_only(mnist_split):
    split = mnist_split
    n_train, n_val, n_test = len(split.train_y), len(split.val_y), len(split.test_y)
    real = TrainingSet.real(split)
    more = real.adding(
        torch.zeros(7, 1, 28, 28, dtype=torch.uint8), torch.zeros(7, dtype=torch.int64)
    )
    counts = more.counts()
    assert counts["added"] == [7] + [0] * 9
    assert counts["total"][0] == counts["real"][0] + 7
    assert len(more.labels) == len(split.train_y) + 7
    assert torch.equal(more.added_images([0]), to_unit_range(torch.zeros(7, 28, 28)))
    # a new set: the split and the set it was made from are as they were
    assert len(real.labels) == len(split.train_y) == n_train
    assert (len(split.val_y), len(split.test_y)) == (n_val, n_test)


def test_a_training_set_replaces_real_images_only_and_is_never_changed(mnist_split):
    real = TrainingSet.real(mnist_split)
    ones = torch.nonzero(real.labels == 1, as_tuple=True)[0][:5]
    made = torch.zeros(5, 1, 28, 28)
    swapped = real.replacing(ones, made, torch.ones(5, dtype=torch.int64), generated=True)
    assert swapped.counts()["total"] == real.counts()["total"]
    assert swapped.counts()["added"] == [0, 5] + [0] * 8
    assert int(swapped.generated.sum()) == 5 and len(real.labels) == len(mnist_split.train_y)
    with pytest.raises(ValueError, match="only real training images"):
        swapped.replacing(torch.tensor([len(swapped.labels) - 1]), made[:1], ones[:1])
    with pytest.raises(FrozenInstanceError):
        real.images = made  # type: ignore[misc]


def test_loader_slices_a_seeded_permutation_per_epoch():
    x = torch.arange(10).float()
    loader = TensorLoader((x, x.long()), batch_size=4, shuffle=True, seed=3)
    assert len(loader) == 3
    e0 = torch.cat([b[0] for b in loader])
    assert sorted(e0.tolist()) == list(range(10))
    assert torch.equal(e0, torch.cat([b[0] for b in loader]))  # same epoch, same order
    loader.sampler.set_epoch(1)
    e1 = torch.cat([b[0] for b in loader])
    assert not torch.equal(e0, e1)
    assert [len(b[0]) for b in loader] == [4, 4, 2]


def test_ddp_shards_split_each_epoch_without_overlap():
    x = torch.arange(10)
    shards = []
    for rank in range(3):
        loader = TensorLoader((x,), batch_size=2, shuffle=True, seed=1)
        loader.sampler.shard(rank, 3)
        loader.sampler.set_epoch(4)
        shards.append(torch.cat([b[0] for b in loader]).tolist())
    assert [len(s) for s in shards] == [4, 4, 4]  # 10 padded to 12, same count on every rank
    assert sorted(set(shards[0] + shards[1] + shards[2])) == list(range(10))
    whole = TensorLoader((x,), batch_size=10, shuffle=True, seed=1)
    whole.sampler.set_epoch(4)
    order = next(iter(whole))[0].tolist()
    assert shards[0][:3] == order[0:9:3]  # rank r takes every 3rd index of the common order


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"minority_classes": [10]}, "data.minority_classes"),
        ({"minority_count": 0}, "data.minority_count"),
        ({"minority_count": 6000}, "data.minority_count"),
        ({"class_counts": [1] * 9}, "data.class_counts"),
        ({"class_counts": [7000] + [1] * 9}, "data.class_counts[0]"),
        ({"val_fraction": 0.0}, "data.val_fraction"),
        ({"minority_count": 1}, "data.val_fraction"),
        ({"dataset": "cifar"}, "data.dataset"),
    ],
)
def test_impossible_settings_name_the_key(kwargs, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        mnist_split_of(**kwargs)


class LabelSource:
    """Blank 1 x 4 x 4 images under the labels a test gives each split."""

    def __init__(self, train: list[int], test: list[int]) -> None:
        self.labels = {True: train, False: test}

    def identity(self) -> dict:
        return {"dataset": "stub"}

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.tensor(self.labels[train], dtype=torch.int64)
        return torch.zeros(len(y), 1, 4, 4, dtype=torch.uint8), y


EVERY_CLASS = [0, 1, 2] * 4


@pytest.mark.parametrize(
    "train, test, message",
    [
        # a test split without the rare class was scored: class-0 F1 0, AUROC 0.0, AP NaN
        (EVERY_CLASS, [1, 2, 1, 2], "the test split of stub holds no image of class 0, one of"),
        # a declared class with no image: trained on nothing, scored as a result
        ([0, 2] * 6, [0, 1, 2], "the training split of stub holds no image of class 1"),
        # -1 passed every check and failed only after training
        (EVERY_CLASS, [0, 1, 2, -1], "the test split of stub has label -1; labels are 0 .. 2"),
        (EVERY_CLASS + [3], [0, 1, 2], "the training split of stub has label 3; labels are 0 .."),
    ],
    ids=["test_without_a_class", "declared_class_without_images", "negative", "too_large"],
)
def test_a_split_without_every_class_or_with_a_label_beyond_them_is_refused(train, test, message):
    source = LabelSource(train, test)
    data = ImbalancedData(
        dataset="stub", source=source, num_classes=3, image_shape=(1, 4, 4), minority_count=2
    )
    with pytest.raises(UserError, match=message):
        build_split(data)


def test_a_split_with_every_class_is_kept():
    dm = build_split(
        ImbalancedData(
            dataset="stub",
            source=LabelSource(EVERY_CLASS, [0, 1, 2]),
            num_classes=3,
            image_shape=(1, 4, 4),
            minority_count=2,
            val_fraction=0.5,
        )
    )
    assert class_histogram(dm.val_y, 3) == [1, 2, 2] and class_histogram(dm.test_y, 3) == [1] * 3


def _npz_pair(folder: Path, train: dict) -> Path:
    good = {"images": np.zeros((20, 8, 8), np.uint8), "labels": np.arange(20) % 10}
    folder.mkdir()
    np.savez_compressed(folder / "train.npz", **train)
    np.savez_compressed(folder / "test.npz", **good)
    return folder


def test_arrays_that_would_not_fit_the_memory_limit_are_refused_from_their_headers(tmp_path):
    """20,000 images of 64 x 64 zeros: 82 MB that compress to about 80 KB."""
    import tracemalloc

    images = np.zeros((20_000, 64, 64), np.uint8)
    folder = _npz_pair(tmp_path / "zeros", {"images": images, "labels": np.zeros(20_000, int)})
    assert (folder / "train.npz").stat().st_size < 200_000
    del images
    source = arrays.ArraySource(folder, memory_limit_gb=0.05)
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match="GiB in memory, more than data.source.memory_limit_gb"):
            source.load(True)
        assert tracemalloc.get_traced_memory()[1] < 4 * 2**20  # no array was inflated
    finally:
        tracemalloc.stop()
    images, labels = arrays.ArraySource(folder).load(True)
    assert images.shape == (20_000, 1, 64, 64) and len(labels) == 20_000


@pytest.mark.parametrize(
    "labels, message",
    [
        # once cast to int64 it was -1, and passed as a label
        (np.full(20, 2**64 - 1, np.uint64), "label 18446744073709551615 is not a class of"),
        (np.arange(20) % 11, r"train.npz: label 10 is not a class of data.num_classes=10"),
    ],
)
def test_array_labels_are_checked_as_the_integers_they_are(labels, message, tmp_path):
    images = np.zeros((20, 8, 8), np.uint8)
    folder = _npz_pair(tmp_path / "arrays", {"images": images, "labels": labels})
    with pytest.raises(UserError, match=message):
        arrays.ArraySource(folder, num_classes=10).load(True)
    with pytest.raises(UserError, match="label .* (is not a class|is too large)"):
        sources.as_labels(np.full(3, 2**64 - 1, np.uint64), 3, "here")


def test_minority_split_names_each_split_and_refuses_others(mnist_split):
    dm = mnist_split
    for split, y in (("train", dm.train_y), ("val", dm.val_y), ("test", dm.test_y)):
        x, labels = dm.minority_split(split)
        assert len(x) == len(labels) == int((y == 0).sum()) and set(labels.tolist()) == {0}
    assert len(dm.minority_images("val")) == 30  # 10% of the 300 zeros
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        dm.minority_images("validation")


def test_the_test_set_is_reachable_only_from_the_test_path(mnist_split):
    # poisoned: any use shows as a NaN
    dm = replace(mnist_split, test_x=torch.full_like(mnist_split.test_x, float("nan")))
    training = TrainingSet.real(dm)
    policies = [
        BatchPolicy(256),
        BatchPolicy(32, classes=[0]),
        BatchPolicy(64, class_balanced=True),
    ]
    views = [ModelData(dm, training, policy) for policy in policies]
    for view in views:
        for loader in (view.train_dataloader(), view.val_dataloader()):
            assert not any(torch.isnan(batch[0]).any() for batch in loader)
    for split in ("train", "val"):
        assert not torch.isnan(dm.minority_images(split)).any()
    assert torch.isnan(next(iter(views[0].test_dataloader()))[0]).all()
    assert torch.isnan(dm.minority_images("test")).all()


def test_gan_view_trains_on_its_classes_with_balanced_draws(mnist_split):
    training = TrainingSet.real(mnist_split)
    zeros = ModelData(mnist_split, training, BatchPolicy(32, classes=[0])).train_dataloader()
    assert len(zeros) == 9 and set(torch.cat([y for _, y in zeros]).tolist()) == {0}  # 270 zeros
    policy = BatchPolicy(4096, class_balanced=True)
    balanced = ModelData(mnist_split, training, policy).train_dataloader()
    counts = torch.bincount(torch.cat([y for _, y in balanced]), minlength=10).double()
    # every class drawn about equally often, although zeros are 1 in 180 images
    assert (counts / counts.sum() - 0.1).abs().max() < 0.01


def _write_idx(path, array: torch.Tensor, packed: bool) -> None:
    head = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = head + array.to(torch.uint8).numpy().tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if packed:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("packed", [False, True])
def test_idx_files_load_plain_or_gzipped(tmp_path, packed):
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([3, 1, 4, 1, 5], dtype=torch.uint8)
    raw = tmp_path / "KMNIST" / "raw"
    _write_idx(raw / "t10k-images-idx3-ubyte", images, packed)
    _write_idx(raw / "t10k-labels-idx1-ubyte", labels, packed)
    x, y = load_split("kmnist", tmp_path, train=False, download=False)
    assert torch.equal(x, images) and y.dtype == torch.int64 and y.tolist() == [3, 1, 4, 1, 5]


def test_a_broken_gzip_file_is_named(tmp_path):
    raw = tmp_path / "KMNIST" / "raw"
    _write_idx(raw / "t10k-images-idx3-ubyte", torch.zeros(2, 28, 28), packed=True)
    _write_idx(raw / "t10k-labels-idx1-ubyte", torch.zeros(2), packed=True)
    bad = raw / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-12])
    with pytest.raises(UserError, match="t10k-images-idx3-ubyte.gz is not a readable gzip"):
        load_split("kmnist", tmp_path, train=False, download=False)


def test_a_missing_dataset_names_the_folder_and_the_package(tmp_path, monkeypatch):
    absent = str(tmp_path / "not-installed")
    monkeypatch.setitem(sources.SYSTEM_DIRS, "fashion_mnist", ((absent, "a package"),))
    with pytest.raises(UserError, match=f"FashionMNIST/raw/.*install a package .*{absent}"):
        load_split("fashion_mnist", tmp_path, train=True, download=False)


def test_the_missing_file_message_names_only_the_missing_file(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    name = "t10k-images-idx3-ubyte"
    real = next(p for p in (DATA / "MNIST" / "raw").iterdir() if p.name.startswith(name))
    (raw / real.name).write_bytes(real.read_bytes())
    with pytest.raises(UserError, match=r"\['t10k-labels-idx1-ubyte'\] not found") as err:
        load_split("mnist", tmp_path, train=False, download=False)
    assert name not in str(err.value).split("not found")[0]


@pytest.mark.skipif(
    not Path(sources.SYSTEM_DIRS["fashion_mnist"][0][0]).is_dir(),
    reason="needs Debian's dataset-fashion-mnist (.ci/run installs it)",
)
def test_fashion_mnist_from_the_system_package_has_the_imbalance(tmp_path):
    dm = build_split(
        ImbalancedData(
            dataset="fashion_mnist", root=tmp_path, minority_count=300, seed=0, download=False
        )
    )
    counts = class_histogram(torch.cat([dm.train_y, dm.val_y]), 10)
    assert counts == [300] + [6000] * 9
    assert class_histogram(dm.test_y, 10) == [1000] * 10


#: the hand-kept key list the GAN and feature-net caches used before the data module owned it
OLD_DATA_KEYS = (
    "dataset",
    "minority_classes",
    "minority_count",
    "class_counts",
    "val_fraction",
    "seed",
    "num_classes",
    "image_shape",
)


@pytest.mark.parametrize("data", ["mnist", "mnist_lt", "fashion_mnist", "kmnist"])
@pytest.mark.parametrize("extra", [[], ["seed=3", "data.minority_count=30"]])
def test_identity_is_the_old_cache_key_of_every_data_config(data, extra, tmp_path):
    from omegaconf import OmegaConf

    from imbalance_gan.data import build_data
    from imbalance_gan.generators.cache import data_key

    from .conftest import make_cfg

    cfg = make_cfg("train", [f"data={data}", *extra], tmp_path)
    resolved = OmegaConf.to_container(cfg.data, resolve=True)
    old = {k: resolved.get(k) for k in OLD_DATA_KEYS}
    dm = build_data(cfg.data)  # nothing loaded
    assert dm.identity() == old and data_key(cfg.data) == old
    assert [type(v) for v in dm.identity().values()] == [type(v) for v in old.values()]
    assert list(dm.image_shape) == resolved["image_shape"]


def test_the_config_names_the_data_module_and_its_source(tmp_path):
    from imbalance_gan.data import IDXSource, split_from_config

    from .conftest import make_cfg

    cfg = make_cfg("train", ["data=mnist", "data.download=false"], tmp_path)
    dm = split_from_config(cfg.data)
    assert isinstance(dm.data.source, IDXSource) and dm.data.source.dataset == "mnist"
    assert dm.data.top_up_to == 6000
    assert tuple(dm.train_x.shape[1:]) == dm.image_shape == (1, 28, 28)


def test_a_bad_config_value_stays_one_user_error(tmp_path):
    from imbalance_gan.data import split_from_config

    from .conftest import make_cfg

    cfg = make_cfg("train", ["data.dataset=cifar"], tmp_path)
    with pytest.raises(UserError, match="data.dataset='cifar'"):
        split_from_config(cfg.data)
    cfg = make_cfg("train", ["data.image_shape=[3,28,28]"], tmp_path)
    with pytest.raises(UserError, match=r"data.image_shape=\[3, 28, 28\]"):
        split_from_config(cfg.data)


#: cache keys of ``experiment=smoke seed=0`` before issue 23's restructuring (3e3540a): GANs
#: and feature nets cached then are found again
OLD_SMOKE_KEYS = {
    "dcgan": "ea50b0da07fbb919",
    "cgan": "c5fb00851868c0c0",
    "projgan": "97726a9645f98f2a",
    "vanilla": "b689716039180986",
}
OLD_SMOKE_FEATURE_NET_KEY = "eeba90d847f3ab34"


@pytest.mark.parametrize("gan", sorted(OLD_SMOKE_KEYS))
def test_gan_and_feature_net_cache_keys_did_not_change(gan, tmp_path):
    from imbalance_gan.data import build_data
    from imbalance_gan.generators import cache
    from imbalance_gan.generators.selection import feature_net_key

    from .conftest import make_cfg

    cfg = make_cfg("train", [f"gan={gan}", "experiment=smoke", "seed=0"], tmp_path)
    assert cache.cache_key(cfg) == OLD_SMOKE_KEYS[gan]
    assert feature_net_key(build_data(cfg.data), cfg.selection) == OLD_SMOKE_FEATURE_NET_KEY


def test_a_data_config_saved_before_it_named_its_module_still_builds(tmp_path):
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from imbalance_gan.data import IDXSource, ImbalancedData, build_data
    from imbalance_gan.record.rundir import upgrade_config

    from .conftest import make_cfg

    cfg = make_cfg("train", ["data=mnist_lt"], tmp_path)
    saved = OmegaConf.to_container(cfg.data, resolve=True)
    del saved["_target_"], saved["source"]  # what a run's config.yaml held before it named one
    dm = build_data(OmegaConf.create(saved))
    assert type(dm) is ImbalancedData and isinstance(dm.source, IDXSource)
    assert dm.identity() == build_data(cfg.data).identity()
    # and one naming the data's class by its old name (ImbalancedDataModule)
    renamed = {**saved, "_target_": "imbalance_gan.data.ImbalancedDataModule"}
    assert type(build_data(OmegaConf.create(renamed))) is ImbalancedData
    # and an array source by the module it was in (data.sources)
    old = {"source": {"_target_": "imbalance_gan.data.sources.ArraySource"}}
    assert get_class(upgrade_config(old)["source"]["_target_"]) is arrays.ArraySource
