"""The long-tail fixes against their papers' formulas, and the metrics the prior cannot fool
against scikit-learn and hand-worked cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score

from imbalance_gan.classifier.adjust import Posthoc
from imbalance_gan.classifier.augment import Mixup
from imbalance_gan.classifier.losses import (
    LDAM,
    CrossEntropy,
    Focal,
    LogitAdjusted,
    effective_number_weights,
    ldam_margins,
)
from imbalance_gan.classifier.metrics import classification_metrics
from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.classifier.sampling import ClassPowered
from imbalance_gan.nets.cnn import CNN

from .conftest import make_cfg

COUNTS = [30, 5000, 6000]


def _batch(seed: int = 0, n: int = 64, c: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g), torch.randint(0, c, (n,), generator=g)


def test_logit_adjusted_loss_adds_tau_log_prior_and_tau_zero_is_cross_entropy():
    logits, y = _batch()
    prior = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    for tau in (0.5, 1.0, 2.0):
        loss = LogitAdjusted(tau, class_counts=COUNTS)
        assert torch.allclose(loss.offset.double(), tau * prior.log(), atol=1e-6)
        expected = F.cross_entropy(logits + tau * prior.log().float(), y)
        assert torch.allclose(loss(logits, y), expected)
    assert torch.allclose(
        LogitAdjusted(0.0, class_counts=COUNTS)(logits, y), CrossEntropy()(logits, y)
    )


def test_posthoc_adjustment_shifts_only_the_logits():
    logits, _ = _batch(1)
    adjusted = Posthoc(1.0, class_counts=COUNTS)(logits)
    prior = torch.tensor(COUNTS, dtype=torch.float32) / sum(COUNTS)
    assert torch.allclose(adjusted, logits - prior.log())  # the same shift for every image
    same = Posthoc(0.0, class_counts=COUNTS)(logits)
    assert torch.equal(same.argmax(1), logits.argmax(1)) and torch.allclose(same, logits)


def test_focal_with_gamma_zero_is_cross_entropy_and_gamma_down_weights_easy_images():
    logits, y = _batch(2)
    assert torch.allclose(Focal(0.0)(logits, y), F.cross_entropy(logits, y), atol=1e-6)
    p_t = F.softmax(logits, 1).gather(1, y[:, None]).squeeze(1)
    by_hand = (-((1 - p_t) ** 2) * p_t.log()).mean()
    assert torch.allclose(Focal(2.0)(logits, y), by_hand, atol=1e-6)


def test_effective_number_weights_match_the_closed_form():
    beta = 0.9999
    raw = [(1 - beta) / (1 - beta**n) for n in COUNTS]
    expected = [w / sum(raw) * len(raw) for w in raw]
    assert np.allclose(effective_number_weights(COUNTS, beta).tolist(), expected, rtol=1e-5)
    assert np.allclose(effective_number_weights(COUNTS, 0.0).tolist(), [1.0, 1.0, 1.0])
    logits, y = _batch(3)
    weighted = Focal(0.0, beta=beta, class_counts=COUNTS)(logits, y)
    w = torch.tensor(expected, dtype=torch.float32)
    assert torch.allclose(weighted, (F.cross_entropy(logits, y, reduction="none") * w[y]).mean())


def test_mixup_targets_sum_to_one_and_images_are_convex_mixes_of_two_batch_images():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 4, 4)
    y = torch.arange(16) % 3
    mixed, soft = Mixup(alpha=1.0, num_classes=3)(x, y)
    assert soft.shape == (16, 3) and torch.allclose(soft.sum(1), torch.ones(16))
    for i in range(16):  # mixed[i] = lam * x[i] + (1 - lam) * x[j] for one j and one lam
        fits = []
        for j in range(16):
            diff = (x[i] - x[j]).flatten()
            if diff.abs().max() < 1e-6:
                fits.append(torch.allclose(mixed[i], x[i], atol=1e-5))
                continue
            lam = float(((mixed[i] - x[j]).flatten() @ diff) / (diff @ diff))
            fits.append(
                0 <= lam <= 1 and torch.allclose(mixed[i], lam * x[i] + (1 - lam) * x[j], atol=1e-5)
            )
        assert any(fits)
    # the soft labels mix the same two images with the same weight
    assert torch.allclose(CrossEntropy()(torch.zeros(16, 3), soft), torch.tensor(math.log(3)))


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0])
def test_class_powered_sampler_draws_each_class_in_proportion_to_n_to_the_power(power):
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate([50, 2000, 8000])])
    draws = torch.cat([labels[ClassPowered(power)(labels, 3, seed=s).indices()] for s in range(4)])
    share = torch.bincount(draws, minlength=3).double() / len(draws)
    target = torch.tensor([50, 2000, 8000], dtype=torch.float64) ** power
    assert torch.allclose(share, target / target.sum(), atol=0.01)


def test_average_precision_auroc_and_ece_match_scikit_learn_and_a_hand_worked_case():
    g = torch.Generator().manual_seed(4)
    probs = torch.softmax(torch.randn(300, 3, generator=g) * 2, 1)
    target = torch.randint(0, 3, (300,), generator=g)
    m = classification_metrics(probs, target)
    for c in range(3):
        is_c, score = (target == c).numpy(), probs[:, c].numpy()
        assert m["test/average_precision"][c] == pytest.approx(
            average_precision_score(is_c, score), abs=1e-5
        )
        assert m["test/auroc"][c] == pytest.approx(roc_auc_score(is_c, score), abs=1e-5)
    # two confidence bins: 0.9 (right once in two) and 0.6 (right twice): |0.5-0.9|/2 + |1-0.6|/2
    hand = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    ece = classification_metrics(hand, torch.tensor([0, 1, 0, 0]))["test/ece"]
    assert ece == pytest.approx(0.4, abs=1e-6)


def test_a_stacked_fix_is_recorded_with_the_prior_free_metrics(tmp_path):
    out = tmp_path / "run"
    run = classify(make_cfg("classify", ["experiment=smoke", "scenario=mixup_la"], out))
    record = json.loads((out / "metrics.json").read_text())
    assert record["scenario"] == "mixup_la" and record["family"] == "classic"
    assert record["fixes"]["loss"]["_target_"].endswith("LogitAdjusted")
    assert record["fixes"]["augment"]["_target_"].endswith("Mixup")
    for split in ("metrics", "val_metrics"):
        prefix = "test" if split == "metrics" else "val"
        assert len(record[split][f"{prefix}/average_precision"]) == 10
    assert 0.0 <= run["metrics"]["test/ece"] <= 1.0


def test_ldam_margins_follow_n_to_the_minus_quarter_and_drw_switches_at_its_share():
    margins = ldam_margins(COUNTS, max_margin=0.5)
    raw = torch.tensor(COUNTS, dtype=torch.float64) ** -0.25
    assert torch.allclose(margins.double(), raw / raw.max() * 0.5, atol=1e-6)
    assert margins.max().item() == pytest.approx(0.5) and margins.argmax().item() == 0
    loss = LDAM(max_margin=0.5, scale=30.0, drw_start=0.8, beta=0.9999, class_counts=COUNTS)
    cosines, y = torch.tanh(_batch(5)[0]), _batch(5)[1]
    shifted = 30.0 * (cosines - F.one_hot(y, 3).float() * margins)
    assert loss.weights_at(0.79) is None
    assert torch.allclose(loss(cosines, y, progress=0.79), F.cross_entropy(shifted, y))
    drw = effective_number_weights(COUNTS, 0.9999)
    assert torch.allclose(loss.weights_at(0.8), drw)
    assert torch.allclose(loss(cosines, y, progress=0.8), F.cross_entropy(shifted, y, weight=drw))


def test_the_cosine_head_gives_cosines():
    net = CNN(head="cosine")
    out = net(torch.randn(4, 1, 28, 28))
    assert out.shape == (4, 10) and out.abs().max() <= 1.0 + 1e-5


def test_posthoc_tau_is_chosen_on_validation_by_balanced_accuracy():
    g = torch.Generator().manual_seed(6)
    target = torch.cat(
        [torch.zeros(30, dtype=torch.long), torch.randint(1, 3, (600,), generator=g)]
    )
    logits = F.one_hot(target, 3).float() * 2.0 + torch.randn(630, 3, generator=g)
    logits[:, 0] -= 2.5  # a classifier pushed away from the rare class
    grid = [0.0, 0.5, 1.0, 2.0]
    adjust = Posthoc(1.0, choose_from=grid, class_counts=COUNTS)
    adjust.choose(logits, target)
    prior = torch.tensor(COUNTS, dtype=torch.float32) / sum(COUNTS)
    scores = [
        balanced_accuracy_score(target.numpy(), (logits - t * prior.log()).argmax(1).numpy())
        for t in grid
    ]
    assert adjust.tau.item() == grid[int(np.argmax(scores))] and adjust.tau.item() > 0
    assert torch.allclose(adjust(logits), logits - adjust.tau * prior.log())
    assert "tau" in adjust.state_dict()  # the chosen tau travels with the checkpoint
