"""A trained network that ended at chance is warned about in the training log."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import polars as pl

from layeratlas.stages.train import warn_if_at_chance
from layeratlas.training import chance_warning


def test_the_issue_case_warns_on_loss_and_accuracy():
    # 100 classes, loss 4.605 = ln 100, 1.3% of 1,000 test images right
    message = chance_warning(4.605, 13, 1000, 100)
    assert message is not None
    assert "ln 100 = 4.605" in message and "includes chance (1.0%)" in message


def test_a_network_that_learned_is_not_warned_about():
    assert chance_warning(0.2, 442, 450, 10) is None


def test_a_low_loss_with_accuracy_at_chance_still_warns():
    message = chance_warning(0.5, 52, 500, 10)  # 10.4%, interval includes 10%
    assert message is not None and "train loss" not in message


def test_train_stage_logs_the_warning(caplog):
    labels = [i % 10 for i in range(200)]
    result = SimpleNamespace(
        history=pl.DataFrame({"train_loss": [2.4, math.log(10)]}),
        predictions=pl.DataFrame({"label": labels, "predicted": [0] * 200}),
    )
    with caplog.at_level(logging.WARNING, logger="layeratlas"):
        assert warn_if_at_chance("small_cnn", result, 10)
    assert any("small_cnn" in r.message and "at chance" in r.message for r in caplog.records)
    result.predictions = pl.DataFrame({"label": labels, "predicted": labels})
    result.history = pl.DataFrame({"train_loss": [0.1]})
    assert warn_if_at_chance("small_cnn", result, 10) is None
