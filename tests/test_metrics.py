"""The metrics function agrees with scikit-learn on a fixed set of predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from imbalance_gan.classifier.metrics import classification_metrics, scalar_view


@pytest.fixture(scope="module")
def predictions():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (500,), generator=g)
    logits = torch.randn(500, 10, generator=g)
    logits[torch.arange(500), y] += 1.5  # better than chance, not perfect
    return logits.softmax(1), y


def test_metrics_match_sklearn(predictions):
    probs, y = predictions
    m = classification_metrics(probs, y)
    yt, yp, pr = y.numpy(), probs.argmax(1).numpy(), probs.numpy().astype(np.float64)
    pr = pr / pr.sum(1, keepdims=True)
    assert m["test/accuracy"] == pytest.approx(skm.accuracy_score(yt, yp), abs=1e-6)
    assert m["test/f1_macro"] == pytest.approx(skm.f1_score(yt, yp, average="macro"), abs=1e-6)
    assert m["test/balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(yt, yp), abs=1e-6
    )
    assert m["test/auroc_macro"] == pytest.approx(
        skm.roc_auc_score(yt, pr, multi_class="ovr", average="macro"), abs=1e-4
    )
    np.testing.assert_allclose(
        m["test/precision"], skm.precision_score(yt, yp, average=None), atol=1e-6
    )
    np.testing.assert_allclose(m["test/recall"], skm.recall_score(yt, yp, average=None), atol=1e-6)
    np.testing.assert_allclose(m["test/f1"], skm.f1_score(yt, yp, average=None), atol=1e-6)
    assert m["test/confusion_matrix"] == skm.confusion_matrix(yt, yp).tolist()


def test_scalar_view_names_per_class_values(predictions):
    flat = scalar_view(classification_metrics(*predictions))
    assert {"test/recall_c0", "test/f1_c9", "test/accuracy"} <= set(flat)
    assert not any("confusion" in k for k in flat)
