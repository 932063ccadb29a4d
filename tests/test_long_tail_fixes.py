"""The long-tail fixes against their papers' formulas, and the metrics the prior cannot fool
against scikit-learn and hand-worked cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score

from imbalance_gan.classifier.adjust import Posthoc, TauNorm
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
from imbalance_gan.classifier.module import ClassifierModule
from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.classifier.retrain import Retrain
from imbalance_gan.classifier.rules import check_classify_config
from imbalance_gan.classifier.sampling import ClassPowered
from imbalance_gan.data.loader import TensorLoader
from imbalance_gan.nets.cnn import CNN
from imbalance_gan.runtime.errors import UserError

from .conftest import bare_trainer, make_cfg
from .test_test_halves import assert_halves_match_predictions

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
    overrides = [
        "experiment=smoke",
        "scenario=mixup_la",
        "classifier/logit_adjustment=posthoc_tuned",
    ]
    run = classify(make_cfg("classify", overrides, out))
    record = json.loads((out / "metrics.json").read_text())
    assert record["scenario"] == "mixup_la" and record["family"] == "classic"
    assert record["fixes"]["loss"]["_target_"].endswith("LogitAdjusted")
    assert record["fixes"]["augment"]["_target_"].endswith("Mixup")
    grid = record["fixes"]["logit_adjustment"]["choose_from"]
    assert record["chosen_tau"] in grid  # the tau the tested checkpoint chose on validation
    best = torch.load(out / "checkpoints" / "best.ckpt", weights_only=True)
    assert record["chosen_tau"] == pytest.approx(float(best["state_dict"]["logit_adjustment.tau"]))
    for split in ("metrics", "val_metrics"):
        prefix = "test" if split == "metrics" else "val"
        assert len(record[split][f"{prefix}/average_precision"]) == 10
    assert 0.0 <= run["metrics"]["test/ece"] <= 1.0
    assert_halves_match_predictions(out)  # and both halves of the test set (issue 26, item 3)


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


def test_tau_norm_divides_each_class_logit_by_its_head_weight_norm_to_the_tau():
    torch.manual_seed(7)
    net = CNN(channels=[4, 8], hidden=16).eval()
    with torch.no_grad():
        net.head.weight[0] *= 0.2  # the rare class's weights stay small, as imbalance leaves them
    x = torch.randn(8, 1, 28, 28)
    logits = net(x)
    norms = net.head.weight.detach().norm(dim=1)
    adjust = TauNorm(1.0)
    adjust.attach(net)
    assert torch.allclose(adjust(logits), logits / norms, atol=1e-6)
    # without its bias, tau = 1 is the paper's classifier w_c / |w_c| applied to the features
    unbiased = net.features(x) @ (net.head.weight / norms[:, None]).T
    assert torch.allclose(adjust(logits - net.head.bias), unbiased, atol=1e-5)
    same = TauNorm(0.0)
    same.attach(net)
    assert torch.allclose(same(logits), logits)  # tau = 0: the model as trained
    with pytest.raises(UserError, match="linear head"):
        TauNorm(1.0).attach(CNN(channels=[4, 8], hidden=16, head="cosine"))


def test_tau_norm_is_chosen_on_validation_by_balanced_accuracy():
    net = CNN(channels=[4, 8], hidden=16)
    with torch.no_grad():
        net.head.weight.copy_(torch.ones_like(net.head.weight))
        net.head.weight[0] *= 0.5  # class 0's norm is half the others'
    target = torch.tensor([0] * 10 + [1] * 90)
    logits = torch.zeros(100, 10)
    logits[:, 1] = 1.0
    logits[:10, 0] = 0.8  # the rare images: class 0 wins only once its logit is scaled up
    adjust = TauNorm(0.0, choose_from=[0.0, 0.5, 1.0])
    adjust.attach(net)
    adjust.choose(logits, target)
    # tau 0: recall 0 / 1 (0.5); tau 0.5: 0.8 * sqrt(2) = 1.13 > 1 (1.0); tau 1 ties it: first
    assert adjust.tau.item() == 0.5
    assert "tau" in adjust.state_dict()


def _two_class_loader(n_rare: int = 16, n_common: int = 240, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.zeros(n_rare, dtype=torch.long), torch.ones(n_common, dtype=torch.long)])
    x = torch.randn(len(y), 1, 8, 8, generator=g) + y[:, None, None, None].float()
    return x, y


def test_crt_freezes_every_feature_weight_and_retrains_a_fresh_head_on_balanced_batches():
    x, y = _two_class_loader()
    retrain = Retrain(start=0.5)
    loader = TensorLoader((x, y), batch_size=32, shuffle=True, seed=3)
    loader.sampler = retrain.sampler(lambda labels, c, seed: loader.sampler, 2)(y, 2, 3)
    torch.manual_seed(0)
    net = CNN(num_classes=2, channels=[4], hidden=8, img_size=8)
    model = ClassifierModule(
        net, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2), retrain=retrain, seed=5
    )
    seen: dict[str, dict] = {}

    class Snapshot(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if batch_idx == 0:  # after every on_train_epoch_start hook, before any step
                seen[f"start{trainer.current_epoch}"] = {
                    k: v.clone() for k, v in module.net.state_dict().items()
                }
            seen.setdefault(f"labels{trainer.current_epoch}", []).append(batch[1])

    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=[Snapshot()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(model, train_dataloaders=loader)
    end = model.net.state_dict()
    features = [k for k in end if not k.startswith("head.")]
    assert features and all(torch.equal(end[k], seen["start1"][k]) for k in features)
    assert not all(torch.equal(seen["start0"][k], seen["start1"][k]) for k in features)
    # the head of epoch 2 is a fresh draw of the retrain stream, then trained
    fresh = CNN(num_classes=2, channels=[4], hidden=8, img_size=8)
    Retrain.reset_head(fresh, torch.optim.SGD(fresh.parameters(), lr=0.1), seed=5)
    assert torch.equal(seen["start1"]["head.weight"], fresh.head.weight)
    assert not torch.equal(end["head.weight"], fresh.head.weight)
    assert bool(model.head_retrained) and model.checkpoint_monitor == "val/retrain_score"
    # instance order first (16 of 256 rare), class-balanced draws when the head retrains
    rare = [float((torch.cat(seen[f"labels{e}"]) == 0).float().mean()) for e in (0, 1)]
    assert rare[0] == pytest.approx(16 / 256) and rare[1] == pytest.approx(0.5, abs=0.08)


def test_crt_is_not_reset_again_after_a_resume_and_needs_two_epochs(tmp_path):
    x, y = _two_class_loader()
    net = CNN(num_classes=2, channels=[4], hidden=8, img_size=8)
    model = ClassifierModule(net, optimizer=torch.optim.Adam, retrain=Retrain(start=0.5))
    model.head_retrained.fill_(True)  # as restored from a checkpoint of a retraining epoch
    assert "head_retrained" in model.state_dict()
    heads = {}

    class Head(pl.Callback):
        def on_train_epoch_end(self, trainer, module):
            heads[trainer.current_epoch] = module.net.head.weight.detach().clone()

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 0:
                heads["retraining"] = module.net.head.weight.detach().clone()

    trainer = bare_trainer(tmp_path, max_epochs=2)
    trainer.callbacks.append(Head())
    trainer.fit(model, train_dataloaders=TensorLoader((x, y), batch_size=64, shuffle=True))
    assert torch.equal(heads["retraining"], heads[0])  # frozen features, the head kept
    assert Retrain(0.9).first_epoch(2) == 1 and Retrain(0.9).first_epoch(20) == 18
    assert Retrain(0.01).first_epoch(20) == 1
    cfg = make_cfg(
        "classify", ["experiment=smoke", "scenario=crt", "classifier.max_epochs=1"], tmp_path
    )
    with pytest.raises(UserError, match="max_epochs >= 2"):
        check_classify_config(cfg)


def test_a_run_recorded_before_a_slot_existed_is_the_same_run_with_the_slot_unset():
    from imbalance_gan.record.rundir import first_difference

    old = {"seed": 0, "classifier": {"loss": {"_target_": "CE"}}}
    assert (
        first_difference(old, {**old, "classifier": {**old["classifier"], "retrain": None}}) is None
    )
    crt = {**old, "classifier": {**old["classifier"], "retrain": {"_target_": "Retrain"}}}
    assert first_difference(old, crt).startswith("classifier.retrain._target_")


def test_ldam_is_evaluated_on_the_logits_its_softmax_trained():
    torch.manual_seed(8)
    net = CNN(channels=[4, 8], hidden=16, head="cosine").eval()
    loss = LDAM(scale=30.0, class_counts=[30] + [5000] * 9)
    model = ClassifierModule(net, optimizer=torch.optim.Adam, loss=loss)
    x, y = torch.randn(6, 1, 28, 28), torch.arange(6)
    model._outputs = []
    model._collect((x, y))
    logits, _ = model._outputs[0]
    assert torch.allclose(logits, 30.0 * net(x), atol=1e-5)  # s · cos, not the bare cosines
    assert CrossEntropy().logit_scale == 1.0


def test_crt_resumed_in_the_middle_of_a_retraining_epoch_matches_an_uninterrupted_run(tmp_path):
    from imbalance_gan.runtime.errors import Preempted

    from .hooks.step_hooks import installed
    from .test_reliability import RESUME_ARGS

    args = [*RESUME_ARGS, "scenario=crt"]  # 2 epochs of 6 steps: the second retrains the head
    reference = tmp_path / "reference"
    classify(make_cfg("classify", args, reference))
    out = tmp_path / "run"
    with installed(sigterm_at_step=8), pytest.raises(Preempted):
        classify(make_cfg("classify", args, out))  # stopped at step 2 of the retraining epoch
    classify(make_cfg("classify", [*args, "resume=true"], out))
    records = [json.loads((d / "metrics.json").read_text()) for d in (reference, out)]
    assert records[0]["metrics"] == records[1]["metrics"]


def test_bad_retraining_and_tau_norm_settings_are_refused_before_any_work(tmp_path):
    for overrides, message in (
        (["scenario=crt", "classifier.retrain.power=2"], "power=2"),
        (["scenario=ldam_drw", "classifier/logit_adjustment=tau_norm"], "needs classifier.net"),
    ):
        cfg = make_cfg("classify", ["experiment=smoke", *overrides], tmp_path / "run")
        with pytest.raises(UserError, match=message):
            classify(cfg)
        assert not list((tmp_path / "run").glob("*"))  # nothing written
