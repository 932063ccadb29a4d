"""Your own images (issue 28), as arrays: an .npz pair written here from the real MNIST loads to
exactly the images and labels the IDX source gives, in every layout the source accepts, and a
bad file ends in one line before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from imbalance_gan.data.arrays import ArraySource
from imbalance_gan.data.sources import IDXSource
from imbalance_gan.runtime.errors import UserError

from .conftest import DATA, assert_one_error_line, run_module

N_TRAIN, N_TEST = 3000, 500


@pytest.fixture(scope="module")
def mnist_part():
    """The first images of the real MNIST splits, as the IDX source gives them."""
    src = IDXSource("mnist", str(DATA))
    (x, y), (tx, ty) = src.load(True), src.load(False)
    return (x[:N_TRAIN], y[:N_TRAIN]), (tx[:N_TEST], ty[:N_TEST])


def _write(folder: Path, train, test, layout=lambda x: x) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in (("train", train), ("test", test)):
        np.savez(folder / f"{name}.npz", images=layout(x.numpy()), labels=y.numpy())
    return folder


@pytest.mark.parametrize(
    "layout",
    [
        lambda x: x,  # N x H x W
        lambda x: x[:, :, :, None],  # N x H x W x C
        lambda x: x[:, None],  # N x C x H x W
        lambda x: x.astype(np.float32) / 255,  # float in [0, 1]
    ],
    ids=["nhw", "nhwc", "nchw", "float"],
)
def test_arrays_load_to_exactly_the_idx_images_and_labels(layout, mnist_part, tmp_path):
    train, test = mnist_part
    source = ArraySource(_write(tmp_path / "arrays", train, test, layout))
    for (x, y), is_train in ((train, True), (test, False)):
        images, labels = source.load(is_train)
        assert images.dtype == torch.uint8 and images.shape == (len(x), 1, 28, 28)
        assert torch.equal(images[:, 0], x) and torch.equal(labels, y)


def test_the_arrays_identity_follows_their_content_not_their_place(mnist_part, tmp_path):
    train, test = mnist_part
    a = ArraySource(_write(tmp_path / "a", train, test))
    b = ArraySource(_write(tmp_path / "b", train, test))
    c = ArraySource(_write(tmp_path / "c", (train[0][:-1], train[1][:-1]), test))
    assert a.identity() == b.identity() and a.identity() != c.identity()


def _bad(folder: Path, **arrays) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    good = {"images": np.zeros((4, 8, 8), np.uint8), "labels": np.arange(4)}
    np.savez(folder / "test.npz", **good)
    np.savez(folder / "train.npz", **{**good, **arrays})
    return folder


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"labels": None}, "has no labels array"),
        ({"images": np.zeros((4, 5, 8, 8), np.uint8)}, "no channel axis of 1, 3 or 4"),
        ({"images": np.zeros((4, 8), np.uint8)}, "images have shape"),
        ({"images": np.full((4, 8, 8), 2.0)}, "must lie in"),
        ({"images": np.zeros((4, 8, 8), np.int32)}, "expected uint8"),
        ({"labels": np.array([0, 1, -1, 2])}, "is negative"),
        ({"labels": np.array([0.0, 1.0, 2.0, 3.0])}, "expected integers"),
        ({"labels": np.arange(3)}, "4 images but labels"),
        ({"labels": np.array([{"a": 1}] * 4, dtype=object)}, "cannot be read"),
    ],
)
def test_a_bad_array_file_is_refused_in_one_line(arrays, message, tmp_path):
    folder = tmp_path / "bad"
    if arrays.get("labels", 0) is None:  # write the file without labels
        folder.mkdir()
        np.savez(folder / "train.npz", images=np.zeros((4, 8, 8), np.uint8))
        np.savez(folder / "test.npz", images=np.zeros((4, 8, 8), np.uint8), labels=np.arange(4))
    else:
        _bad(folder, **arrays)
    with pytest.raises(UserError, match=message):
        ArraySource(folder).load(True)


def test_a_missing_array_file_ends_the_command_in_one_line(tmp_path):
    (tmp_path / "only_train").mkdir()
    np.savez(tmp_path / "only_train" / "train.npz", images=np.zeros((4, 8, 8)), labels=np.arange(4))
    out = tmp_path / "run"
    proc = run_module(
        "imbalance_gan.classify",
        "data=arrays",
        f"data.root={tmp_path / 'only_train'}",
        "experiment=smoke",
        f"hydra.run.dir={out}",
    )
    assert_one_error_line(proc, "no test.npz there")
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize(
    "test_labels, message",
    [(np.array([0, 1, 2, 10]), "test split of arrays has label 10"), (None, "holds no images")],
)
def test_a_test_split_the_classes_cannot_hold_is_refused_before_any_work(
    test_labels, message, mnist_part, tmp_path
):
    from imbalance_gan.data import ImbalancedData, build_split

    train, _ = mnist_part
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.savez(folder / "train.npz", images=train[0].numpy(), labels=train[1].numpy())
    if test_labels is None:
        np.savez(
            folder / "test.npz", images=np.zeros((0, 28, 28), np.uint8), labels=np.zeros(0, int)
        )
    else:
        np.savez(folder / "test.npz", images=np.zeros((4, 28, 28), np.uint8), labels=test_labels)
    data = ImbalancedData(dataset="arrays", source=ArraySource(folder), minority_count=30)
    with pytest.raises(UserError, match=message):
        build_split(data)
