"""Shapes, ranges and label dependence of the GAN networks and the classifier."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from imbalance_gan.nets import (
    CNN,
    CGANDiscriminator,
    CGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    VanillaDiscriminator,
    VanillaGenerator,
)

N, LATENT = 6, 100
PAIRS = {
    "vanilla": (VanillaGenerator, VanillaDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "cgan": (CGANGenerator, CGANDiscriminator),
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_generator_makes_images_in_tanh_range(name: str) -> None:
    gen = PAIRS[name][0]()
    assert gen.latent_dim == LATENT
    assert gen.conditional == (name == "cgan")
    out = gen(torch.randn(N, LATENT), torch.randint(0, 10, (N,)))
    assert out.shape == (N, 1, 28, 28)
    assert out.min() >= -1 and out.max() <= 1


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_discriminator_returns_one_logit_per_image(name: str) -> None:
    disc = PAIRS[name][1]()
    assert disc.conditional == (name == "cgan")
    out = disc(torch.rand(N, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (N,)))
    assert out.shape == (N,)
    # Logits, not probabilities: the losses apply the sigmoid themselves.
    assert not any(isinstance(m, nn.Sigmoid) for m in disc.modules())


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_discriminator_scores_a_single_image_as_shape_one(name: str) -> None:
    disc = PAIRS[name][1]().eval()  # eval: BatchNorm cannot train on one sample
    assert disc(torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long)).shape == (1,)


def test_unconditional_nets_ignore_labels() -> None:
    gen, disc = DCGANGenerator().eval(), VanillaDiscriminator().eval()
    z, x = torch.randn(N, LATENT), torch.rand(N, 1, 28, 28)
    assert torch.equal(gen(z), gen(z, torch.ones(N, dtype=torch.long)))
    assert torch.equal(disc(x), disc(x, torch.ones(N, dtype=torch.long)))


def test_conditional_generator_output_depends_on_label() -> None:
    gen = CGANGenerator().eval()
    z = torch.randn(1, LATENT).expand(N, LATENT)
    out = gen(z, torch.arange(N))
    assert not torch.allclose(out[0], out[1])


def test_conditional_discriminator_output_depends_on_label() -> None:
    disc = CGANDiscriminator().eval()
    x = torch.rand(1, 1, 28, 28).expand(N, 1, 28, 28)
    out = disc(x, torch.arange(N))
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("cls", [CGANGenerator, CGANDiscriminator])
def test_conditional_nets_require_labels(cls: type) -> None:
    net = cls()
    inp = torch.randn(N, LATENT) if cls is CGANGenerator else torch.rand(N, 1, 28, 28)
    with pytest.raises(ValueError, match="labels"):
        net(inp)


def test_cnn_logits_and_features_shapes() -> None:
    cnn = CNN()
    x = torch.rand(N, 1, 28, 28) * 2 - 1
    assert cnn(x).shape == (N, 10)
    feats = cnn.features(x)
    assert feats.shape == (N, 256)
    assert feats.min() >= 0  # post-ReLU


def test_cnn_features_feed_the_head_in_eval_mode() -> None:
    cnn = CNN(num_classes=3, hidden=32).eval()
    x = torch.rand(N, 1, 28, 28)
    assert torch.allclose(cnn(x), cnn.head(cnn.features(x)))


GAN_CONFIGS = ["vanilla", "dcgan", "cgan", "projgan"]


def _net_configs(image_shape: list[int], gan: str, tmp_path) -> dict:
    """The net nodes of the real configs for data of ``image_shape`` (the only override)."""
    from .conftest import make_cfg

    shape = f"data.image_shape=[{','.join(map(str, image_shape))}]"
    cfg = make_cfg("classify", [f"gan={gan}", "scenario=dcgan", shape], tmp_path)
    return {
        "generator": cfg.gan.generator,
        "discriminator": cfg.gan.discriminator,
        "classifier": cfg.classifier.net,
        "feature_net": cfg.selection.feature_net,
    }


def _nets_at(image_shape: list[int], gan: str, tmp_path) -> dict[str, nn.Module]:
    from hydra.utils import instantiate

    return {k: instantiate(v) for k, v in _net_configs(image_shape, gan, tmp_path).items()}


@pytest.mark.parametrize("image_shape", [[1, 28, 28], [3, 32, 32], [3, 32, 48]])
@pytest.mark.parametrize("gan", GAN_CONFIGS)
def test_every_configured_net_takes_the_data_image_shape(gan, image_shape, tmp_path) -> None:
    nets = _nets_at(image_shape, gan, tmp_path)
    labels = torch.randint(0, 10, (N,))
    images = nets["generator"](torch.randn(N, nets["generator"].latent_dim), labels)
    assert images.shape == (N, *image_shape)
    assert nets["discriminator"](images, labels).shape == (N,)
    for name in ("classifier", "feature_net"):
        assert nets[name](images).shape == (N, 10)


@pytest.mark.parametrize("gan", GAN_CONFIGS)
def test_at_28_by_28_the_configured_nets_have_the_default_size_weights(gan, tmp_path) -> None:
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    for node in _net_configs([1, 28, 28], gan, tmp_path).values():
        args = OmegaConf.to_container(node, resolve=True)
        cls = get_class(args.pop("_target_"))
        torch.manual_seed(0)
        configured = cls(**args).state_dict()
        args.pop("img_size", None)
        torch.manual_seed(0)
        default = cls(**args).state_dict()
        assert list(configured) == list(default)
        assert all(torch.equal(configured[k], default[k]) for k in default)


@pytest.mark.parametrize("gan", ["dcgan", "cgan", "projgan"])
def test_a_dcgan_size_not_divisible_by_4_is_one_user_error(gan, tmp_path) -> None:
    from hydra.errors import InstantiationException

    from imbalance_gan.runtime.errors import UserError

    with pytest.raises(InstantiationException) as err:
        _nets_at([1, 30, 30], gan, tmp_path)
    cause = err.value.__cause__
    assert isinstance(cause, UserError)
    assert "multiples of 4" in str(cause) and "30 x 30" in str(cause)


@pytest.mark.parametrize("side", [29, 30, 31])
def test_discriminators_take_any_side_of_at_least_4(side) -> None:
    from imbalance_gan.nets.gan import ProjectionDiscriminator
    from imbalance_gan.runtime.errors import UserError

    x, labels = torch.rand(N, 3, side, side), torch.randint(0, 10, (N,))
    for disc in (
        DCGANDiscriminator(img_channels=3, img_size=side),
        CGANDiscriminator(img_shape=(3, side, side)),
        ProjectionDiscriminator(img_shape=(3, side, side)),
        VanillaDiscriminator(img_shape=(3, side, side)),
    ):
        assert disc(x, labels).shape == (N,)
    with pytest.raises(UserError, match="at least 4"):
        DCGANDiscriminator(img_size=3)


def test_a_net_refusing_its_shape_ends_in_one_line(capsys) -> None:
    from hydra.utils import instantiate

    from imbalance_gan.runtime.errors import EXIT_USER_ERROR, report_user_errors

    @report_user_errors
    def build() -> None:
        instantiate({"_target_": "imbalance_gan.nets.gan.DCGANGenerator", "img_size": [30, 30]})

    with pytest.raises(SystemExit) as stop:
        build()
    assert stop.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "multiples of 4" in err


class RandomSource:
    """A stand-in 3 x 32 x 32 dataset: 400 (train) or 100 (test) random images per class."""

    def __init__(self, dataset: str = "random", root=None, download: bool = True) -> None:
        self.dataset = dataset

    def identity(self) -> dict:
        return {"dataset": self.dataset}

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(int(train))
        labels = torch.arange(10).repeat(400 if train else 100)
        return torch.randint(
            0, 256, (len(labels), 3, 32, 32), generator=g, dtype=torch.uint8
        ), labels


def test_a_3x32x32_source_needs_only_config(tmp_path) -> None:
    from hydra.utils import instantiate

    from imbalance_gan.data import BatchPolicy, ModelData, TrainingSet, split_from_config

    from .conftest import make_cfg

    overrides = [
        "data.source._target_=tests.test_gan_nets.RandomSource",
        "data.dataset=random",
        "data.image_shape=[3,32,32]",
    ]
    for gan in GAN_CONFIGS:
        cfg = make_cfg("classify", [f"gan={gan}", "scenario=dcgan", *overrides], tmp_path)
        split = split_from_config(cfg.data)
        assert split.image_shape == (3, 32, 32) and split.identity()["dataset"] == "random"
        dm = ModelData(split, TrainingSet.real(split), BatchPolicy(16))
        x, y = next(iter(dm.train_dataloader()))
        gen, disc = instantiate(cfg.gan.generator), instantiate(cfg.gan.discriminator)
        fake = gen(torch.randn(len(y), gen.latent_dim), y)
        assert fake.shape == x.shape == (16, 3, 32, 32)
        assert disc(x, y).shape == disc(fake, y).shape == (16,)
        assert instantiate(cfg.classifier.net)(x).shape == (16, 10)
