"""Photos (issue 28): ResNet-32 has the layers He et al. describe and the study CNN's
interface, and the CIFAR crop-and-flip augmentation only shifts and mirrors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from imbalance_gan.classifier.augment import RandomCropFlip
from imbalance_gan.nets.resnet import ResNet
from imbalance_gan.runtime.errors import UserError


def test_resnet32_has_31_3x3_convolutions_and_one_linear_head():
    net = ResNet(num_classes=10, in_channels=3, img_size=32)
    convs3 = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(convs3) == 31 and len(linears) == 1  # 6 * 5 + 1 convolutions + the head = 32
    assert [m.out_channels for m in convs3][::10] == [16, 16, 32, 64]
    x = torch.randn(4, 3, 32, 32)
    assert net(x).shape == (4, 10) and net.features(x).shape == (4, 64)
    assert net.head is linears[0]
    grey = ResNet(num_classes=3, in_channels=1, img_size=[28, 20], head="cosine")
    assert grey(torch.randn(2, 1, 28, 20)).shape == (2, 3)
    with pytest.raises(UserError, match="each side must be at least 4"):
        ResNet(img_size=3)


def test_crop_and_flip_only_shift_and_mirror_each_image():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 8, 8) * 2 - 1
    y = torch.arange(16)
    same, labels = RandomCropFlip(padding=0, flip=0.0)(x, y)
    assert torch.equal(same, x) and torch.equal(labels, y)
    mirrored, _ = RandomCropFlip(padding=0, flip=1.0)(x, y)
    assert torch.equal(mirrored, x.flip(-1))
    p = 2
    out, _ = RandomCropFlip(padding=p, flip=0.5, fill=-1.0)(x, y)
    padded = nn.functional.pad(x, (p, p, p, p), value=-1.0)
    for image, source in zip(out, padded, strict=True):
        windows = [
            w
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            for w in (source[:, dy : dy + 8, dx : dx + 8],)
        ]
        assert any(torch.equal(image, w) or torch.equal(image, w.flip(-1)) for w in windows)
