"""The diffusion generator against the papers' formulas: the cosine schedule and forward
noising (against diffusers' own schedule), the ε-prediction loss, label dropout and
classifier-free guidance, the EMA copy that sampling uses, DDIM's relation to DDPM, and the
shape and range of what it generates."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from imbalance_gan.generators.diffusion.module import DiffusionModule
from imbalance_gan.generators.diffusion.schedule import Schedule, cosine_betas, guided
from imbalance_gan.nets.unet import UNet


class Recorder(nn.Module):
    """A stand-in ε-predictor: a label-dependent affine map of x_t, recording its inputs."""

    null_label = 3
    image_shape = (1, 4, 4)

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.5))
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x, t, labels):
        self.calls.append((x.detach().clone(), t.clone(), labels.clone()))
        return self.scale * x + labels.float().reshape(-1, 1, 1, 1) / 10


def _module(net: nn.Module | None = None, **kw) -> DiffusionModule:
    return DiffusionModule(
        net or Recorder(), optimizer=lambda p: torch.optim.SGD(p, lr=0.1), timesteps=50, **kw
    )


def test_the_cosine_schedule_and_forward_noising_match_the_closed_form_and_diffusers():
    from diffusers import DDPMScheduler

    reference = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    assert torch.allclose(cosine_betas(1000).float(), reference.betas, atol=1e-6)
    schedule = Schedule(1000)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(4, 1, 6, 6, generator=g) * 2 - 1, torch.randn(4, 1, 6, 6, generator=g)
    for t in (0, 10, 500, 999):
        steps = torch.full((4,), t)
        abar = torch.cumprod(1 - cosine_betas(1000), 0)[t].float()
        by_hand = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
        assert torch.allclose(schedule.noise(x0, steps, eps), by_hand, atol=1e-6)
        assert torch.allclose(
            schedule.noise(x0, steps, eps), reference.add_noise(x0, eps, steps), atol=1e-5
        )


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_a_ddim_step_is_diffusers_ddim_step(eta):
    """Against an independent implementation: diffusers' DDIMScheduler on the same cosine
    schedule, 10 of 1000 steps (100 apart), clipping x_0 to [-1, 1], ᾱ = 1 before t = 0."""
    from diffusers import DDIMScheduler

    reference = DDIMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=True
    )
    reference.set_timesteps(10)
    schedule = Schedule(1000)
    g = torch.Generator().manual_seed(1)
    x, eps, noise = (torch.randn(3, 1, 5, 5, generator=g, dtype=torch.float64) for _ in range(3))
    for t in (900, 500, 100, 0):
        ours = schedule.ddim_step(x, eps, t, t - 100 if t else -1, eta=eta, noise=noise)
        theirs = reference.step(eps, t, x, eta=eta, variance_noise=noise).prev_sample
        assert torch.allclose(ours, theirs, atol=1e-5), t  # diffusers keeps ᾱ in float32


def test_the_training_loss_is_the_mean_squared_error_of_the_predicted_noise():
    module = _module(label_dropout=0.0)
    x0, y = torch.rand(8, 1, 4, 4) * 2 - 1, torch.randint(0, 3, (8,))
    torch.manual_seed(1)
    loss = module.loss(x0, y)
    torch.manual_seed(1)  # the same draws: t, then ε
    t = torch.randint(0, 50, (8,))
    eps = torch.randn_like(x0)
    x_t, t_seen, labels_seen = module.net.calls[-1]
    assert torch.equal(t_seen, t) and torch.equal(labels_seen, y)
    assert torch.allclose(x_t, module.schedule.noise(x0, t, eps))
    assert torch.allclose(loss, F.mse_loss(0.5 * x_t + y.float().reshape(-1, 1, 1, 1) / 10, eps))


def test_min_snr_weights_each_images_squared_error_by_min_snr_gamma_over_snr():
    module = _module(label_dropout=0.0, snr_gamma=1.0)
    x0, y = torch.rand(8, 1, 4, 4) * 2 - 1, torch.randint(0, 3, (8,))
    torch.manual_seed(1)
    loss = module.loss(x0, y)
    torch.manual_seed(1)
    t = torch.randint(0, 50, (8,))
    eps = torch.randn_like(x0)
    x_t = module.net.calls[-1][0]
    abar = torch.cumprod(1 - cosine_betas(50), 0)[t].float()
    snr = abar / (1 - abar)
    assert (snr > 1).any() and (snr < 1).any()  # both sides of gamma are checked
    err = ((0.5 * x_t + y.float().reshape(-1, 1, 1, 1) / 10 - eps) ** 2).mean((1, 2, 3))
    assert torch.allclose(loss, (err * torch.clamp(snr, max=1.0) / snr).mean())
    with pytest.raises(ValueError, match="snr_gamma"):
        _module(snr_gamma=0.0)


def test_label_dropout_hits_its_rate_with_the_null_label():
    module = _module(label_dropout=0.1)
    torch.manual_seed(2)
    labels = torch.randint(0, 3, (200_000,))
    dropped = module.drop_labels(labels)
    is_null = dropped == Recorder.null_label
    assert is_null.float().mean().item() == pytest.approx(0.1, abs=0.003)
    assert torch.equal(dropped[~is_null], labels[~is_null])  # the others keep their label
    assert not (_module(label_dropout=0.0).drop_labels(labels) == Recorder.null_label).any()


def test_guidance_uses_the_null_label_and_scale_one_is_the_conditional_prediction():
    x, labels = torch.randn(5, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1])
    net = Recorder()
    cond = net(x, torch.full((5,), 7), labels)
    uncond = net(x, torch.full((5,), 7), torch.full((5,), Recorder.null_label))
    one = _module(net, guidance_scale=1.0)
    assert torch.allclose(one.predict_noise(net, x, 7, labels), cond)
    three = _module(net, guidance_scale=3.0)
    out = three.predict_noise(net, x, 7, labels)
    assert torch.allclose(out, uncond + 3.0 * (cond - uncond), atol=1e-6)
    _, _, seen = net.calls[-1]  # one doubled batch: the labels, then the null label
    assert torch.equal(seen, torch.cat([labels, torch.full((5,), Recorder.null_label)]))
    assert torch.allclose(guided(cond, uncond, 0.0), uncond)


def test_the_ema_weights_move_slower_than_the_live_ones_and_are_what_sampling_uses():
    module = _module(ema_decay=0.9)
    opt = torch.optim.SGD(module.net.parameters(), lr=0.5)
    for _ in range(20):
        opt.zero_grad()
        module.loss(torch.rand(8, 1, 4, 4) * 2 - 1, torch.randint(0, 3, (8,))).backward()
        opt.step()
        module._update_ema()
    live, avg = module.net.scale.item(), module.net_ema.scale.item()
    assert live != pytest.approx(avg) and int(module.ema_updates) == 20
    module.net.calls.clear()
    module.net_ema.calls.clear()
    module.sample(3, [1], seed=0)
    assert not module.net.calls and module.net_ema.calls  # sampling calls the EMA copy only


def test_ddim_at_eta_one_and_the_full_step_count_is_the_ddpm_ancestral_mean():
    schedule = Schedule(100)
    g = torch.Generator().manual_seed(3)
    x_t, eps = torch.randn(4, 1, 5, 5, generator=g), torch.randn(4, 1, 5, 5, generator=g)
    for t in (99, 50, 1):
        ddim = schedule.ddim_step(
            x_t, eps, t, t - 1, eta=1.0, noise=torch.zeros_like(x_t), clip=False
        )
        assert torch.allclose(ddim, schedule.ddpm_mean(x_t, eps, t), atol=1e-5)
    assert schedule.sampling_timesteps(100) == list(range(99, -1, -1))
    assert schedule.sampling_timesteps(5) == [99, 74, 50, 25, 0]
    assert schedule.sampling_timesteps(1) == [99]  # one step starts from pure noise
    # the last DDIM step lands on the predicted data itself
    last = schedule.ddim_step(x_t, eps, 0, -1, clip=False)
    assert torch.allclose(last, schedule.predicted_x0(x_t, eps, 0), atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 20, 30)])
def test_generated_images_have_the_data_shape_and_range(shape):
    torch.manual_seed(4)
    net = UNet(
        num_classes=4,
        in_channels=shape[0],
        img_size=list(shape[1:]),
        channels=[8, 16, 16],
        norm_groups=4,
    )
    module = _module(net, sample_steps=3, sample_classes=[2])
    images = module.sample(5, seed=9)
    assert images.shape == (5, *shape)
    assert images.min() >= -1 and images.max() <= 1
    assert torch.equal(images, module.sample(5, seed=9))  # the same seed, the same images


def test_the_diffusion_generator_trains_is_selected_and_generates_through_the_shared_pipeline(
    tmp_path, capsys
):
    import json

    import numpy as np

    from imbalance_gan.generators.generate import generate
    from imbalance_gan.generators.pipeline import train_generator

    from .conftest import benchmark_module, make_cfg

    out = tmp_path / "run"
    tiny = ["gan.net.channels=[8,8,8]", "gan.sample_steps=2", "gan.batch_size=32"]
    train_generator(make_cfg("train", ["gan=diffusion", "experiment=smoke", *tiny], out), out)
    record = json.loads((out / "metrics.json").read_text())
    for key in ("eval/precision", "eval/recall", "eval/minority_share", "copy/near_share"):
        assert key in record, key  # quality floor and copy detection, unchanged
    assert (out / "samples.png").stat().st_size > 0
    synthetic = torch.load(out / "synthetic.pt", weights_only=True)
    images, labels = synthetic["images"], synthetic["labels"]
    assert images.dtype == torch.uint8 and tuple(images.shape[1:]) == (1, 28, 28)
    assert len(images) == record["num_synthetic"] and set(labels.tolist()) == {0}
    gen = tmp_path / "gen"
    generate(make_cfg("generate", [f"run={out}", "n=6", "classes=[0,3]", "seed=1"], gen), gen)
    drawn = np.load(gen / "generated.npz")
    assert drawn["images"].shape == (6, 1, 28, 28) and sorted(drawn["labels"]) == [0, 0, 0, 3, 3, 3]
    # the sampler benchmark reads the same run: one row per (guidance, steps), scored
    bench = benchmark_module("diffusion_sampling")
    result = tmp_path / "sampling.json"
    argv = [str(out), "--guidance", "1", "2", "--steps", "1", "2", "--n", "12"]
    assert bench.main([*argv, "--json", str(result), "--grids", str(tmp_path / "grids")]) == 0
    rows = json.loads(result.read_text())["rows"]
    assert [(r["guidance"], r["steps"]) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(r["n"] == 12 and 0 <= r["eval/precision"] <= 1 for r in rows)
    assert len(list((tmp_path / "grids").glob("*.png"))) == 4
    # and refuses a run whose config names other code than the package's, before loading
    # anything, in one line
    import shutil

    hostile = tmp_path / "hostile"
    shutil.copytree(out, hostile)
    text = (hostile / "config.yaml").read_text()
    (hostile / "config.yaml").write_text(text.replace("torch.optim.Adam", "os.system", 1))
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        bench.main([str(hostile), "--n", "2"])
    assert stopped.value.code == 2
    assert "_target_ is 'os.system' there" in capsys.readouterr().err
