"""The generator options: where the penalty acts, DiffAugment, the EMA generator, the sample
filter, equal top-up totals across scenarios, and the presets of the comparison."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from imbalance_gan.generators.filtering import draw_synthetic, keep_mask
from imbalance_gan.generators.gan.diffaug import DiffAugment, parse_policy
from imbalance_gan.generators.gan.losses import gradient_penalty
from imbalance_gan.generators.gan.module import GANModule, mode_seeking_penalty
from imbalance_gan.generators.selection import Selector
from imbalance_gan.nets import CGANGenerator, DCGANDiscriminator, DCGANGenerator
from imbalance_gan.nets.gan import ProjectionDiscriminator
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.scenarios import build_training_data
from imbalance_gan.scenarios.augment import elastic

from .conftest import bare_trainer, make_cfg
from .test_gan import _LabelPainter


class _Linear(nn.Module):
    """D(x) = sum(w * x): its input gradient is w wherever it is evaluated."""

    def __init__(self, scale: float):
        super().__init__()
        self.w = nn.Parameter(torch.full((1, 1, 2, 2), scale))

    def forward(self, x, labels=None):
        return (self.w * x).flatten(1).sum(dim=1)


def test_penalty_acts_on_the_logit_or_on_its_sigmoid():
    torch.manual_seed(0)
    real, fake = torch.randn(8, 1, 2, 2), torch.randn(8, 1, 2, 2)
    d = _Linear(0.5)  # ||grad logit|| = ||w|| = 1: no penalty on the logit
    g = torch.Generator().manual_seed(1)
    on_logit = gradient_penalty(d, real, fake, generator=g)
    assert on_logit.item() == pytest.approx(0.0, abs=1e-6)
    g = torch.Generator().manual_seed(1)
    on_prob = gradient_penalty(d, real, fake, generator=g, on="prob")
    # by hand: the Sigmoid's gradient is s(1 - s) * w at the same interpolates
    alpha = torch.rand(8, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    s = torch.sigmoid(d(alpha * real + (1 - alpha) * fake)).detach()
    assert on_prob.item() == pytest.approx(((s * (1 - s) - 1) ** 2).mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="logit"):
        gradient_penalty(d, real, fake, on="score")


@pytest.mark.parametrize("policy", ["translation", "cutout", "color", "translation,cutout,color"])
def test_diffaug_keeps_shape_and_range_and_passes_gradients(policy):
    torch.manual_seed(0)
    x = (torch.rand(16, 1, 28, 28) * 2 - 1).requires_grad_(True)
    out = DiffAugment(policy)(x)
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable: G gets a gradient
    assert not torch.equal(out.detach(), x.detach())  # it did change the images


def test_diffaug_fills_with_background_and_moves_whole_images():
    torch.manual_seed(0)
    blank = torch.full((32, 1, 28, 28), -1.0)
    assert torch.equal(DiffAugment("translation,cutout")(blank), blank)
    one = torch.full((4, 1, 28, 28), -1.0)
    one[:, :, 14, 14] = 1.0
    shifted = DiffAugment("translation")(one)
    # a single bright pixel stays a single bright pixel, at most 3 px away
    for img in shifted:
        (r, c) = torch.nonzero(img[0] == 1.0)[0].tolist()
        assert (img == 1.0).sum() == 1 and abs(r - 14) <= 3 and abs(c - 14) <= 3
    holes = DiffAugment("cutout")(torch.ones(8, 1, 28, 28))
    # one 10 x 10 square each, cut by the border where its centre lies near it
    area = (holes == -1).flatten(1).sum(dim=1)
    assert ((area >= 25) & (area <= 100)).all() and (area == 100).any()


def test_unknown_diffaug_policy_is_named():
    assert parse_policy(None) == [] and parse_policy("") == []
    with pytest.raises(ValueError, match="zoom"):
        parse_policy("translation,zoom")


def _gan(**kw) -> GANModule:
    def adam(p):
        return torch.optim.Adam(p, lr=1e-2)

    return GANModule(DCGANGenerator(8), DCGANDiscriminator(), adam, adam, **kw)


def test_ema_generator_lags_the_live_one_and_makes_the_samples():
    torch.manual_seed(0)
    model = _gan(ema_decay=0.9, diffaug="translation,cutout", loss="hinge")
    before = [p.detach().clone() for p in model.generator_ema.parameters()]
    opt_g, opt_d = model.configure_optimizers()
    for _ in range(3):  # what training_step does, without a Trainer
        fake = model.generator(torch.randn(8, 8))
        loss = model.loss.g(model.discriminator(model.augment(fake)))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        model._update_ema()
    live, avg = list(model.generator.parameters()), list(model.generator_ema.parameters())
    assert not any(p.requires_grad for p in avg)
    assert any(not torch.equal(a, b) for a, b in zip(avg, before, strict=True))  # it moved...
    assert any(not torch.equal(a, b) for a, b in zip(avg, live, strict=True))  # ...but lags
    assert model.sampler is model.generator_ema
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(5))
    model.generator_ema.eval()
    with torch.no_grad():
        expected = model.generator_ema(z)
    assert torch.allclose(model.sample(4, seed=5), expected)
    assert "generator_ema.net.0.weight" in model.state_dict()  # checkpoints carry it
    assert _gan().sampler is _gan().generator or _gan().generator_ema is None


def test_mode_seeking_penalty_charges_a_generator_that_ignores_its_noise():
    z_a, z_b = torch.zeros(4, 8), torch.ones(4, 8)  # |z_a - z_b| = 1 everywhere
    a = torch.zeros(4, 1, 28, 28)
    assert mode_seeking_penalty(a, a + 0.5, z_a, z_b).item() == pytest.approx(2.0, rel=1e-4)
    assert mode_seeking_penalty(a, a, z_a, z_b).item() > 1e4  # one image whatever the noise
    with pytest.raises(ValueError, match="mode_seeking"):
        _gan(mode_seeking=-0.5)


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_mode_seeking_term_enters_the_generator_loss(weight, tmp_path):
    from imbalance_gan.data import TensorLoader

    torch.manual_seed(0)
    model = GANModule(
        _LabelPainter(),  # one image per class, whatever the noise
        ProjectionDiscriminator(channels=(4, 8), hidden=8),
        lambda p: torch.optim.SGD(p, lr=0.0),  # frozen: the loss is the term's alone
        lambda p: torch.optim.SGD(p, lr=0.0),
        loss="hinge",
        d_warmup_epochs=0,
        mode_seeking=weight,
    )
    x, y = torch.rand(16, 1, 28, 28) * 2 - 1, torch.arange(16) % 10
    trainer = bare_trainer(tmp_path, max_epochs=1)
    trainer.fit(model, train_dataloaders=TensorLoader((x, y), batch_size=8, shuffle=False))
    g_loss = trainer.callback_metrics["train/g_loss"].item()
    # the same image whatever the noise: the term costs 1 / 1e-5 per step; without it, the
    # hinge loss of a D near zero
    assert (g_loss > 1e4) is (weight > 0)


class _FixedNet(nn.Module):
    """A stand-in feature network: features are the mean of the top and bottom image halves;
    class 0 when the top half is brighter."""

    def features(self, x):
        return torch.stack([x[:, :, :14].mean((1, 2, 3)), x[:, :, 14:].mean((1, 2, 3))], dim=1)

    def forward(self, x):
        f = self.features(x)
        return torch.stack([(f[:, 0] - f[:, 1]) * 50, (f[:, 1] - f[:, 0]) * 50], dim=1)


def _image(top: float, bottom: float) -> torch.Tensor:
    img = torch.full((1, 28, 28), bottom)
    img[:, :14] = top
    return img


def test_filter_keeps_confident_novel_samples_only():
    train = torch.stack([_image(0.1 * k, -0.5) for k in range(5)])  # class 0: top brighter
    selector = Selector(_FixedNet(), train, torch.zeros(5, dtype=torch.int64), k=1)
    lines = selector.copy_lines(0.05)
    assert lines[0] == pytest.approx(0.1, abs=1e-6)  # neighbouring training images are 0.1 apart
    fake = torch.stack(
        [
            _image(0.2, -0.3),  # 0.2 from every training image: novel, class 0
            _image(0.2, -0.5),  # exactly a training image: a copy
            _image(0.25, -0.5),  # closer to two training images than they are to each other
            _image(-0.5, 0.5),  # looks like class 1
            _image(0.95, -0.5),  # far from all: novel, class 0
        ]
    )
    confident, novel = keep_mask(selector, fake, torch.zeros(5, dtype=torch.int64), 0.9, lines)
    assert confident.tolist() == [True, True, True, False, True]
    assert novel.tolist() == [True, False, False, True, True]


def test_the_feature_network_recall_and_the_real_vs_real_scale_draw_nothing_from_the_run():
    train = torch.stack([_image(0.1 * k, -0.5) for k in range(8)])
    selector = Selector(_FixedNet(), train, torch.zeros(8, dtype=torch.int64), k=1)
    # two class-0 images it recognises, one it puts in class 1; one class-1 image
    images = torch.stack([_image(0.5, -0.5), _image(0.2, 0.0), _image(-0.5, 0.5), _image(-1, 1)])
    labels = torch.tensor([0, 0, 0, 1])
    state = torch.random.get_rng_state()
    assert selector.class_recalls(images, labels) == pytest.approx({0: 2 / 3, 1: 1.0})
    scale = selector.real_halves_distance(seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global stream is untouched
    assert scale == selector.real_halves_distance(seed=3) and scale >= 0
    few = Selector(_FixedNet(), train[:3], torch.zeros(3, dtype=torch.int64), k=1)
    assert few.real_halves_distance(seed=3) is None  # halves of one image have no covariance


def test_draw_synthetic_with_a_filter_counts_what_it_dropped():
    torch.manual_seed(0)
    model = _gan()
    train = torch.rand(20, 1, 28, 28) * 2 - 1
    selector = Selector(_FixedNet(), train, torch.zeros(20, dtype=torch.int64), k=1)
    flt = OmegaConf.create({"min_confidence": 0.0, "copy_quantile": 0.0, "max_rounds": 2})
    fake, labels, info = draw_synthetic(model, selector, [0], 10, seed=0, cfg_filter=flt)
    assert fake.shape == (10, 1, 28, 28) and labels.tolist() == [0] * 10
    assert info["filter/kept"] == 10 and info["filter/generated"] == 20
    assert info["filter/passed"] + info["filter/dropped_class"] + info["filter/dropped_copy"] == 20
    impossible = OmegaConf.create({"min_confidence": 0.999, "copy_quantile": 0.0, "max_rounds": 1})
    with pytest.raises(UserError, match="max_rounds"):
        # a random generator's images look like neither class with 0.999 confidence
        draw_synthetic(model, selector, [0, 1], 10, seed=0, cfg_filter=impossible)


def test_elastic_copies_are_smooth_warps_of_real_minority_images():
    grid = torch.linspace(-1, 1, 28)
    blob = torch.exp(-(grid.view(-1, 1) ** 2 + grid.view(1, -1) ** 2) * 4) * 2 - 1
    x = torch.cat([blob.expand(5, 1, 28, 28), -torch.ones(10, 1, 28, 28)])
    y = torch.tensor([0] * 5 + [1] * 10)
    aug = elastic(x, y, [0], 2, seed=0, target_count=12)
    assert aug.labels.tolist() == [0] * 7 and aug.images.shape == (7, 1, 28, 28)
    assert aug.images.min() >= -1 and aug.images.max() <= 1
    diff = (aug.images - blob).abs().flatten(1)
    assert (diff.max(dim=1).values > 0.01).all()  # warped...
    blank = (aug.images + 1).abs().flatten(1)
    assert (diff.mean(dim=1) < blank.mean(dim=1)).all()  # ...but nearer the blob than nothing
    # no displacement: the copies are the real images, exactly where they were
    still = elastic(x, y, [0], 2, seed=0, target_count=12, alpha=0.0)
    assert torch.allclose(still.images, blob.expand(7, 1, 28, 28), atol=1e-5)


def _fake_gan(cfg, dm, need):
    """Stand-in for the GAN cache: ``need[c]`` blank images of each class (uint8)."""
    n = sum(need.values())
    labels = torch.cat([torch.full((k,), c, dtype=torch.int64) for c, k in need.items()])
    return torch.zeros(n, *dm.image_shape, dtype=torch.uint8), labels, {"gan": "stand-in"}


@pytest.mark.parametrize(
    # mnist_lt (nine minority classes, 16 s): make test-slow, to keep the default suite short
    "data",
    ["data.minority_count=30", pytest.param("data=mnist_lt", marks=pytest.mark.slow)],
)
def test_every_topped_up_scenario_ends_with_the_same_minority_totals(data, tmp_path, monkeypatch):
    import imbalance_gan.scenarios as scenarios
    from imbalance_gan.data import TrainingSet, split_from_config

    monkeypatch.setattr(scenarios, "synthetic_for_scenario", _fake_gan)
    totals, added = {}, {}
    for scenario in ("oversample", "affine", "elastic", "smote", "projgan", "projgan_affine"):
        cfg = make_cfg("classify", [f"scenario={scenario}", data], tmp_path / scenario)
        dm = split_from_config(cfg.data)
        real = TrainingSet.real(dm).counts()["real"]
        counts = build_training_data(cfg, dm).training.counts()
        totals[scenario] = [counts["total"][c] for c in dm.minority]
        added[scenario] = counts["added"]
        assert counts["real"] == real  # nothing real is lost or duplicated into "real"
    # MNIST: every minority class ends at 6,000; long-tailed: at the largest class's count
    target = 6000 if "minority_count" in data else max(real)
    assert all(t == [target] * len(dm.minority) for t in totals.values()), totals
    # stacking: half of each deficit generated, half affine copies of real images
    deficit = [target - real[c] for c in dm.minority]
    assert [added["projgan"][c] for c in dm.minority] == deficit
    # no majority class gets anything
    assert all(a[c] == 0 for a in added.values() for c in range(10) if c not in dm.minority)


def test_presets_compose(tmp_path):
    lt = make_cfg("classify", ["data=mnist_lt"], tmp_path)
    assert list(lt.data.class_counts) == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    assert lt.scenario.target_count is None
    compare = make_cfg(
        "study", ["study=compare", "experiment=quick", "data.minority_count=30"], tmp_path
    )
    issue_11 = ["original", "oversample", "affine", "elastic", "dcgan", "projgan", "projgan_affine"]
    assert set(issue_11) <= set(compare.study.scenarios)
    # issue 15's list: each kind of made image (warps, generated) beside its class-agnostic twin
    issue_15 = ["oversample_aug", "affine_agnostic", "projgan_agnostic"]
    assert set(issue_15) <= set(compare.study.scenarios)
    assert {"diffusion", "diffusion_affine"} <= set(compare.study.scenarios)  # issue 27
    assert compare.study.baseline == "original" and compare.data.minority_count == 30
    pg = make_cfg("classify", ["scenario=projgan", "experiment=quick"], tmp_path)
    assert pg.gan.name == "projgan" and pg.gan.max_steps == 4000 and pg.gan.class_balanced_sampling
    for command in ("train", "classify", "study"):
        paper = OmegaConf.to_container(make_cfg(command, ["gan=vanilla"], tmp_path), resolve=True)
        assert paper["gan"]["gp_on"] == "prob" and len(paper["deviations"]) >= 6


def test_projection_discriminator_shares_features_across_classes():
    torch.manual_seed(0)
    d = ProjectionDiscriminator(channels=(8, 16), hidden=32)
    g = CGANGenerator(16, 10, 8, 1)
    x = g(torch.randn(4, 16), torch.tensor([0, 1, 2, 3]))
    a, b = d(x, torch.zeros(4, dtype=torch.int64)), d(x, torch.ones(4, dtype=torch.int64))
    assert a.shape == (4,) and not torch.allclose(a, b)  # the class changes the score


@pytest.mark.parametrize(
    "override, message",
    [
        ("gan.gp_on=score", "gan.gp_on='score' is not known"),
        ("gan.diffaug=zoom", "unknown DiffAugment policy"),
        ("gan.ema_decay=1.5", "gan.ema_decay=1.5"),
        ("gan.max_steps=0", "gan.max_steps=0"),
        ("gan.mode_seeking=-1", "gan.mode_seeking=-1"),
        ("gan.filter={min_confidence:2,copy_quantile:0.05,max_rounds:4}", "min_confidence=2"),
        ("gan.filter={min_confidence:0.9,quantile:0.05}", "unknown keys"),
        ("gan.generator.img_size=[30,30]", "multiples of 4"),  # a net that cannot take the shape
    ],
)
def test_bad_generator_options_are_refused_before_training(
    override, message, mnist_split, tmp_path
):
    from imbalance_gan.generators.pipeline import check_generator_config

    cfg = make_cfg("train", ["gan=projgan", override], tmp_path)
    with pytest.raises(UserError, match=message):
        check_generator_config(cfg, mnist_split)
