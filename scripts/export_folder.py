"""Export an IDX dataset (MNIST, Fashion-MNIST, KMNIST) to an image folder the tool reads with
``data=folder data.path=<out>``: ``<out>/train/<k>_<class name>/<index>.png`` and the same under
``test/``. Folder names start with the label so that sorted names keep the dataset's label order
(class 0 stays class 0), and files are named by their index in the IDX file. ``--tint SEED``
writes RGB instead: each digit a random colour on a random darker background (Colored MNIST).

    python scripts/export_folder.py --dataset fashion_mnist --out /tmp/fashion_folder
    python scripts/export_folder.py --dataset mnist --tint 0 --out /tmp/tinted_digits
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


def export(dataset: str, root: str, out: Path, tint_seed: int | None = None) -> dict:
    """Write the folder; returns the number of images per split and class."""
    source = IDXSource(dataset, root, download=False)
    names = [f"{k}_{re.sub(r'[^A-Za-z0-9_-]', '_', n)}" for k, n in enumerate(NAMES[dataset])]
    counts: dict[str, list[int]] = {}
    g = torch.Generator().manual_seed(tint_seed or 0)
    for split, train in (("train", True), ("test", False)):
        x, y = source.load(train)
        images = tint(x, g) if tint_seed is not None else x[:, None]
        for name in names:
            (out / split / name).mkdir(parents=True, exist_ok=True)
        width = len(str(len(x)))
        for i in range(len(x)):
            write_png(images[i], str(out / split / names[int(y[i])] / f"{i:0{width}d}.png"))
        counts[split] = torch.bincount(y, minlength=len(names)).tolist()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=sorted(NAMES))
    parser.add_argument("--root", default=None, help="the IDX data root ($IMBALANCE_GAN_DATA)")
    parser.add_argument("--out", required=True, type=Path, help="the folder to write")
    parser.add_argument("--tint", type=int, default=None, help="write tinted RGB, this seed")
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty; choose a fresh folder")
    try:
        counts = export(args.dataset, args.root or default_root(), args.out, args.tint)
    except UserError as err:
        parser.exit(2, f"error: {err}\n")
    for split, c in counts.items():
        print(f"{split}: {sum(c)} images, per class {c}")


if __name__ == "__main__":
    main()
