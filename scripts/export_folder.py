"""Export an IDX dataset (MNIST, Fashion-MNIST, KMNIST) to an image folder the tool reads with
``data=folder data.path=<out>``: ``<out>/train/<k>_<class name>/<index>.png`` and the same under
``test/``. Folder names start with the label so that sorted names keep the dataset's label order
(class 0 stays class 0), and files are named by their index in the IDX file. ``--tint SEED``
writes RGB instead: each digit a random colour on a random darker background (Colored MNIST).
``--classes`` writes only those classes (by index), and ``--keep CLASS:N`` keeps the first N
training images of a class (the test split stays whole): data that arrives imbalanced, as a
user's would, with nothing for the tool to cut.

    python scripts/export_folder.py --dataset fashion_mnist --out /tmp/fashion_folder
    python scripts/export_folder.py --dataset mnist --tint 0 --out /tmp/tinted_digits
    python scripts/export_folder.py --classes 0 2 6 --keep 6:60 --out /tmp/rare_shirts
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch
from torchvision.io import write_png

from imbalance_gan.data.sources import IDXSource, default_root
from imbalance_gan.runtime.errors import UserError

NAMES = {
    "mnist": [str(k) for k in range(10)],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
    "fashion_mnist": [
        "T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot",
    ],
}  # fmt: skip


def tint(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Grey ``[N, H, W]`` -> RGB ``[N, 3, H, W]``: the stroke a random colour, the background a
    random darker one, blended by the grey value."""
    fg = torch.rand(len(images), 3, 1, 1, generator=generator) * 0.7 + 0.3
    bg = torch.rand(len(images), 3, 1, 1, generator=generator) * 0.3
    a = images[:, None].float() / 255
    return (255 * (a * fg + (1 - a) * bg)).round().to(torch.uint8)


def export(
    dataset: str,
    root: str,
    out: Path,
    tint_seed: int | None = None,
    classes: list[int] | None = None,
    keep: dict[int, int] | None = None,
) -> dict:
    """Write the folder (``classes``: only these; ``keep``: class -> the number of its first
    training images written); returns the number of images per split and written class."""
    source = IDXSource(dataset, root, download=False)
    names = [f"{k}_{re.sub(r'[^A-Za-z0-9_-]', '_', n)}" for k, n in enumerate(NAMES[dataset])]
    classes = list(range(len(names))) if classes is None else classes
    for c in [*classes, *(keep or {})]:
        if not 0 <= c < len(names) or (keep and c in keep and c not in classes):
            raise UserError(f"class {c} is not one of the classes written ({classes})")
    counts: dict[str, list[int]] = {}
    g = torch.Generator().manual_seed(tint_seed or 0)
    for split, train in (("train", True), ("test", False)):
        x, y = source.load(train)
        images = tint(x, g) if tint_seed is not None else x[:, None]
        left = {c: (keep or {}).get(c, len(x)) if train else len(x) for c in classes}
        for c in classes:
            (out / split / names[c]).mkdir(parents=True, exist_ok=True)
        width = len(str(len(x)))
        for i in range(len(x)):
            c = int(y[i])
            if left.get(c, 0) > 0:
                left[c] -= 1
                write_png(images[i], str(out / split / names[c] / f"{i:0{width}d}.png"))
        written = torch.bincount(y, minlength=len(names))
        counts[split] = [
            min(int(written[c]), (keep or {}).get(c, len(x)) if train else len(x)) for c in classes
        ]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=sorted(NAMES))
    parser.add_argument("--root", default=None, help="the IDX data root ($IMBALANCE_GAN_DATA)")
    parser.add_argument("--out", required=True, type=Path, help="the folder to write")
    parser.add_argument("--tint", type=int, default=None, help="write tinted RGB, this seed")
    parser.add_argument("--classes", type=int, nargs="+", help="only these classes (indices)")
    parser.add_argument(
        "--keep", nargs="+", default=[], metavar="CLASS:N", help="a class's first N training images"
    )
    args = parser.parse_args()
    try:
        keep = {int(k): int(n) for k, n in (item.split(":") for item in args.keep)}
    except ValueError:
        parser.error(f"--keep takes CLASS:N pairs, not {' '.join(args.keep)}")
    if any(n < 1 for n in keep.values()):
        parser.error("--keep: each N must be at least 1")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty; choose a fresh folder")
    try:
        counts = export(
            args.dataset, args.root or default_root(), args.out, args.tint, args.classes, keep
        )
    except UserError as err:
        parser.exit(2, f"error: {err}\n")
    for split, c in counts.items():
        print(f"{split}: {sum(c)} images, per class {c}")


if __name__ == "__main__":
    main()
