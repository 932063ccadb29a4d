"""Your own images (issue 28), as class folders: PNGs written here from the real MNIST load to
exactly the images and labels the IDX source gives, a folder without a split of its own is
split stratified and seeded, tinted RGB digits run the commands, and a bad folder ends in one
line before any work. Hostile files are refused from their headers, before any image
is decoded, or by a decoder that raises instead of crashing."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import write_png

from imbalance_gan.data import folder as folder_module
from imbalance_gan.data.folder import ImageFolderSource, first_image_shape
from imbalance_gan.data.sources import IDXSource
from imbalance_gan.runtime.errors import UserError
from scripts import export_folder

from .conftest import DATA, run_module

PER_CLASS_TRAIN, PER_CLASS_TEST = 60, 20
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _first_per_class(x: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    """The indices of the first ``n`` images of every class, class by class."""
    return torch.cat([(y == c).nonzero().flatten()[:n] for c in range(10)])


@pytest.fixture(scope="module")
def digits():
    src = IDXSource("mnist", str(DATA))
    (x, y), (tx, ty) = src.load(True), src.load(False)
    i, t = _first_per_class(x, y, PER_CLASS_TRAIN), _first_per_class(tx, ty, PER_CLASS_TEST)
    return (x[i], y[i]), (tx[t], ty[t])


def tint(images: torch.Tensor, seed: int) -> torch.Tensor:
    """The export script's Colored-MNIST tint (:func:`scripts.export_folder.tint`), seeded."""
    return export_folder.tint(images, torch.Generator().manual_seed(seed))


def write_folder(
    root: Path, split: dict[str, tuple[torch.Tensor, torch.Tensor]], names=NAMES
) -> Path:
    """``root/<split>/<names[label]>/<i>.png`` for each ``split`` ("" for no split folder)."""
    for name, (x, y) in split.items():
        for i, (image, label) in enumerate(zip(x, y, strict=True)):
            folder = root / name / names[int(label)]
            folder.mkdir(parents=True, exist_ok=True)
            write_png(image if image.ndim == 3 else image[None], str(folder / f"{i:05d}.png"))
    return root


def _sorted(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.argsort(y, stable=True)
    return x[order], y[order]


def test_a_folder_of_real_digits_loads_to_exactly_the_idx_images_and_labels(digits, tmp_path):
    train, test = digits
    # class folder names sort as zero < one ..., not as 0 < 1: name them so that they keep order
    names = [f"{k}_{n}" for k, n in enumerate(NAMES)]
    write_folder(tmp_path, {"train": train, "test": test}, names)
    source = ImageFolderSource(tmp_path)
    assert source.classes == names and source.image_shape == [1, 28, 28]
    for (x, y), is_train in ((train, True), (test, False)):
        images, labels = source.load(is_train)
        assert images.dtype == torch.uint8 and images.shape == (len(x), 1, 28, 28)
        want_x, want_y = _sorted(x, y)
        assert torch.equal(labels, want_y) and torch.equal(images[:, 0], want_x)


def test_a_folder_without_a_split_holds_out_a_stratified_seeded_share_of_each_class(
    digits, tmp_path
):
    (x, y), _ = digits
    write_folder(tmp_path / "pool", {"": (x, y)})
    a = ImageFolderSource(tmp_path / "pool", test_fraction=0.25, split_seed=3)
    b = ImageFolderSource(tmp_path / "pool", test_fraction=0.25, split_seed=3)
    c = ImageFolderSource(tmp_path / "pool", test_fraction=0.25, split_seed=4)
    (ax, ay), (tx, ty) = a.load(True), a.load(False)
    assert torch.bincount(ty, minlength=10).tolist() == [PER_CLASS_TRAIN // 4] * 10
    assert torch.bincount(ay, minlength=10).tolist() == [PER_CLASS_TRAIN * 3 // 4] * 10
    # every image lands on exactly one side, the same side for the same seed
    everything = torch.cat([ax, tx]).flatten(1)
    assert len(torch.unique(everything, dim=0)) == len(torch.unique(x.flatten(1), dim=0))
    assert a._files == b._files and a._files != c._files
    assert a.identity() == b.identity() != c.identity()


def test_tinted_rgb_digits_run_classify_with_a_generator_and_their_class_names(digits, tmp_path):
    """projgan_affine on an RGB folder: a generator trains on it, its selection and the shortcut
    probe work on RGB, half the minority's top-up is warped copies, and the classes keep names."""
    (x, y), (tx, ty) = digits
    root = write_folder(tmp_path / "rgb", {"train": (tint(x, 0), y), "test": (tint(tx, 1), ty)})
    out = tmp_path / "run"
    proc = run_module(
        "imbalance_gan.classify",
        "data=folder",
        f"data.path={root}",
        "data.minority_classes=[0]",
        "data.minority_count=30",
        "data.top_up_to=54",
        "scenario=projgan_affine",
        "experiment=smoke",
        f"paths.artifact_dir={tmp_path / 'artifacts'}",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "metrics.json").read_text())
    made = torch.load(
        tmp_path / "artifacts" / run["gan_run"]["dir"] / "synthetic.pt", weights_only=True
    )["images"]
    assert made.shape[1:] == (3, 28, 28) and run["signature_auc"] is not None
    assert run["class_names"] == sorted(NAMES)
    # class 0 is the first name in sorted order, "eight": cut to 30 (27 after validation) and
    # topped up to 54, the count of every other class (60 less validation)
    assert run["train_counts"]["real"][:2] == [27, 54] and run["train_counts"]["total"][0] == 54
    report = run_module("imbalance_gan.report", str(out), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr[-3000:]
    text = (tmp_path / "report" / "report.md").read_text()
    assert "class 0 (`eight`)" in text and "class `eight` metrics" in text


def _empty_class(root: Path) -> None:
    (root / "c").mkdir()


def _one_class(root: Path) -> None:
    for f in (root / "b").iterdir():
        f.unlink()
    (root / "b").rmdir()


def _not_an_image(root: Path) -> None:
    (root / "a" / "notes.txt").write_text("x")


def _corrupt(root: Path) -> None:
    (root / "a" / "bad.png").write_bytes(b"\x89PNG not really")


def _train_without_test(root: Path) -> None:
    (root / "train").mkdir()


@pytest.mark.parametrize(
    "make, message",
    [
        (_empty_class, "class folder .*c holds no images"),
        (_one_class, r"holds 1 class folder\(s\) \(a\)"),
        (_not_an_image, "notes.txt is not an image file"),
        (_corrupt, "bad.png cannot be decoded as an image"),
        (_train_without_test, "has a train/ folder but no test/"),
    ],
    ids=lambda v: getattr(v, "__name__", "").strip("_") or None,
)
def test_a_bad_folder_is_refused_in_one_line_naming_what_is_wrong(make, message, tmp_path):
    root = tmp_path / "bad"
    good = torch.zeros(1, 8, 8, dtype=torch.uint8)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        write_png(good, str(root / name / "0.png"))
        write_png(good, str(root / name / "1.png"))
    make(root)
    with pytest.raises(UserError, match=message):
        source = ImageFolderSource(root)
        source.load(True), source.load(False)


def test_a_test_class_that_training_lacks_and_a_size_the_fit_refuses_are_named(tmp_path):
    image = torch.zeros(1, 8, 8, dtype=torch.uint8)
    for split, names in (("train", ("a", "b")), ("test", ("a", "z"))):
        for name in names:
            (tmp_path / split / name).mkdir(parents=True)
            write_png(image, str(tmp_path / split / name / "0.png"))
    with pytest.raises(UserError, match="z is a test class that"):
        ImageFolderSource(tmp_path)
    (tmp_path / "test" / "z" / "0.png").rename(tmp_path / "test" / "b.png")
    (tmp_path / "test" / "z").rmdir()
    (tmp_path / "test" / "b").mkdir()
    (tmp_path / "test" / "b.png").rename(tmp_path / "test" / "b" / "0.png")
    with pytest.raises(UserError, match="is 8 x 8, not data.image_shape's 16 x 16"):
        ImageFolderSource(tmp_path, image_shape=[1, 16, 16], fit="none").load(True)
    for fit in ("crop", "resize"):
        images, _ = ImageFolderSource(tmp_path, image_shape=[3, 16, 12], fit=fit).load(True)
        assert images.shape == (2, 3, 16, 12)
    with pytest.raises(
        UserError, match="need .* GiB in memory, more than data.source.memory_limit_gb"
    ):
        ImageFolderSource(tmp_path, image_shape=[3, 64, 64], memory_limit_gb=1e-6).load(True)


FAMILIES = ["original", "elastic", "vanilla", "dcgan", "cgan", "projgan", "diffusion"]


@pytest.mark.slow  # 2-3 minutes on 2 cores, most of it the diffusion model's
def test_tinted_rgb_digits_run_a_study_over_every_scenario_family(digits, tmp_path):
    """One study at experiment=smoke on an RGB folder: the reference, a classic warp and every
    generator family train, top the minority up and record their runs."""
    (x, y), (tx, ty) = digits
    root = write_folder(tmp_path / "rgb", {"train": (tint(x, 2), y), "test": (tint(tx, 3), ty)})
    out = tmp_path / "study"
    proc = run_module(
        "imbalance_gan.study",
        "data=folder",
        f"data.path={root}",
        "data.minority_classes=[0]",
        "data.minority_count=30",
        "data.top_up_to=54",
        "experiment=smoke",
        f"study.scenarios=[{','.join(FAMILIES)}]",
        "study.seeds=[0]",
        f"paths.artifact_dir={tmp_path / 'artifacts'}",
        f"hydra.run.dir={out}",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for scenario in FAMILIES:
        run = json.loads((out / "runs" / "seed0" / scenario / "metrics.json").read_text())
        counts = run["train_counts"]
        assert counts["real"][0] == 27, scenario
        assert counts["total"][0] == (27 if scenario == "original" else 54), scenario
        if scenario not in ("original", "elastic"):
            # the generator drew RGB images of the folder's size
            entry = tmp_path / "artifacts" / run["gan_run"]["dir"]
            made = torch.load(entry / "synthetic.pt", weights_only=True)["images"]
            assert made.dtype == torch.uint8 and made.shape[1:] == (3, 28, 28), scenario


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, rows: int, end: bool = True) -> bytes:
    """An 8-bit grey PNG whose header says ``width`` x ``height`` and whose image data holds
    ``rows`` rows of zeros, compressed: fewer rows than the header's is a truncated file."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(bytes(rows * (width + 1)))
    tail = _chunk(b"IEND", b"") if end else b""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + tail


#: the 69-byte PNG that crashed torchvision's decoder (exit 139): a valid 28 x 28 header, two rows
TRUNCATED_PNG = png_bytes(28, 28, rows=2)
#: a 50,000 x 50,000 header (2.5 G pixels) over a few bytes of data: refused from the header
HUGE_PNG = png_bytes(50_000, 50_000, rows=1)


def grey_folder(root: Path, names=("a", "b"), per_class: int = 2, size: int = 8) -> Path:
    """``root/<name>/<i>.png``: small grey images, each of its own value."""
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("L", (size, size), 10 * k + i).save(root / name / f"{i}.png")
    return root


def animated_png(path: Path) -> None:
    """An animated GIF saved under a .png name (Pillow reads it by content)."""
    frames = [Image.new("L", (8, 8), v) for v in (0, 255)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:])


def write_hostile_folders(root: Path) -> dict[str, Path]:
    """Class folders that each hold one hostile file as ``b/9.png`` (``b/9.tif``), not the
    first image, whose header gives the image shape: its name -> the folder."""
    folders = {}
    for name, plant in (
        ("truncated", lambda p: p.write_bytes(TRUNCATED_PNG)),
        ("huge", lambda p: p.write_bytes(HUGE_PNG)),
        ("over_max_pixels", lambda p: p.write_bytes(png_bytes(5000, 5000, rows=1, end=False))),
        ("animated", animated_png),
        ("float_tiff", lambda p: Image.fromarray(np.zeros((8, 8), np.float32)).save(tiff(p))),
        ("dangling", lambda p: p.symlink_to(p.parent / "gone.png")),
        ("eps", lambda p: p.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n")),
    ):
        folders[name] = grey_folder(root / name)
        plant(root / name / "b" / "9.png")
    return folders


def tiff(path: Path) -> Path:
    return path.with_suffix(".tif")


@pytest.mark.parametrize(
    "name, message",
    [
        ("huge", "9.png is refused from its header, nothing decoded"),
        ("over_max_pixels", r"9.png is 5000 x 5000 \(25,000,000 pixels\), more than data.source"),
        ("animated", "9.png holds more than one frame"),
        ("float_tiff", "9.tif has pixel mode 'F', which an image folder does not read"),
        ("dangling", "9.png is a link to nothing"),
        # Pillow would take it for EPS by its content, and load it by running Ghostscript
        ("eps", "9.png cannot be decoded as an image"),
    ],
)
def test_a_hostile_file_is_refused_by_name_before_any_image_is_decoded(
    name, message, tmp_path, monkeypatch
):
    folder = write_hostile_folders(tmp_path)[name]
    decoded = []
    monkeypatch.setattr(folder_module, "decode", lambda *a, **k: decoded.append(a))
    with pytest.raises(UserError, match=message):
        source = ImageFolderSource(folder)
        source.load(True), source.load(False)
    assert decoded == []


def test_a_truncated_png_is_refused_by_name_not_decoded_as_zeros(tmp_path):
    """The 69-byte PNG: its compressed stream ends cleanly after two of 28 rows, which Pillow
    would decode as zeros and torchvision crashed on."""
    folder = grey_folder(tmp_path / "f")
    (folder / "b" / "9.png").write_bytes(TRUNCATED_PNG)
    assert len(TRUNCATED_PNG) == 69
    source = ImageFolderSource(folder, image_shape=[1, 28, 28])
    with pytest.raises(UserError, match="9.png cannot be decoded as an image: its image data "):
        source.load(True), source.load(False)


def test_the_first_image_shape_comes_from_its_header_alone(tmp_path):
    folder = grey_folder(tmp_path / "f")
    (folder / "a" / "0.png").write_bytes(png_bytes(5000, 3000, rows=1, end=False))
    assert first_image_shape(folder) == [1, 3000, 5000]  # its pixels could not be decoded
    (folder / "a" / "0.png").write_bytes(HUGE_PNG)
    with pytest.raises(UserError, match="0.png is refused from its header, nothing decoded"):
        first_image_shape(folder)


def test_16_bit_grey_is_scaled_to_8_bits_never_cut_modulo_256(tmp_path):
    folder = grey_folder(tmp_path / "f")
    values = np.array([[0, 257, 8000, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(folder / "a" / "0.png")
    assert Image.open(folder / "a" / "0.png").mode == "I;16"
    # value * 255 / 65535, rounded: 8000 is 31 (modulo 256 it was 64; clipped, 255)
    scaled = [0, 1, 31, 128, 255]
    for channels in (1, 3):
        source = ImageFolderSource(folder, image_shape=[channels, 1, 5], fit="resize")
        images = torch.cat([source.load(True)[0], source.load(False)[0]]).flatten(1).tolist()
        assert scaled * channels in images


def test_grey_colour_and_alpha_keep_their_channels(tmp_path):
    folder = grey_folder(tmp_path / "f")
    Image.new("RGBA", (8, 8), (200, 100, 50, 0)).save(folder / "a" / "0.png")
    Image.new("LA", (8, 8), (70, 0)).save(folder / "a" / "1.png")
    Image.new("RGB", (8, 8), (1, 2, 3)).convert("P", palette=Image.Palette.ADAPTIVE).save(
        folder / "b" / "0.png"
    )
    assert folder_module.decode(folder / "a" / "0.png", None).shape == (3, 8, 8)  # alpha dropped
    assert folder_module.decode(folder / "a" / "0.png", None)[:, 0, 0].tolist() == [200, 100, 50]
    assert folder_module.decode(folder / "a" / "1.png", None).shape == (1, 8, 8)
    assert folder_module.decode(folder / "a" / "1.png", 3)[:, 0, 0].tolist() == [70, 70, 70]
    assert folder_module.decode(folder / "b" / "0.png", None)[:, 0, 0].tolist() == [1, 2, 3]
    assert folder_module.decode(folder / "b" / "0.png", 1).shape == (1, 8, 8)


def test_an_explicit_image_shape_runs_classify_on_a_folder(digits, tmp_path):
    """data.image_shape=[C,H,W] with data=folder (it was refused as "data.path is required")."""
    train, test = digits
    root = write_folder(tmp_path / "digits", {"train": train, "test": test})
    out = tmp_path / "run"
    proc = run_module(
        "imbalance_gan.classify",
        "data=folder",
        f"data.path={root}",
        "data.image_shape=[1,20,20]",
        "data.minority_classes=[0]",
        "data.minority_count=30",
        "experiment=smoke",
        f"paths.artifact_dir={tmp_path / 'artifacts'}",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "metrics.json").exists()
    assert "image_shape:\n  - 1\n  - 20\n  - 20" in (out / "config.yaml").read_text()
