"""``training.config``: the seeds' defaults, the record's round trip through JSON, every out-of-range setting named, and
seed 003's Patchout per STFT hop."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from hear_gear_embed.model.config import Patchout
from hear_gear_embed.training.config import SEED003_PATCHOUT, Becr, TrainConfig, default_patchout


def test_defaults_are_the_seeds() -> None:
    config = TrainConfig()
    assert (config.lr, config.weight_decay, config.batch_size) == (1e-5, 1e-4, 10)  # seed 003 appendix; seed 000
    assert (Becr().lam, Becr().epsilon, Becr().form) == (0.05, 0.7, "trace")
    assert config.becr is None and config.patchout is None and config.mixup is None
    assert (config.accumulate, config.micro_batch, config.audioset_head) == (1, 10, "keep")


def test_record_round_trips_through_json() -> None:
    config = TrainConfig(epochs=3, batch_size=12, accumulate=3, lr=2e-4, becr=Becr(0.1, 0.6, "eig"),
                         patchout=Patchout(2, 30, 0.25), mixup=0.3, freeze_blocks=1, audioset_head="train",
                         clip_seconds=0.5, grad_clip=None, schedule="linear", seed=7)
    record = json.loads(json.dumps(config.to_dict()))
    assert record["becr"] == {"lam": 0.1, "epsilon": 0.6, "form": "eig"}
    assert record["patchout"] == {"freq": 2, "time": 30, "proportion": 0.25}
    assert TrainConfig.from_dict(record) == config
    assert config.micro_batch == 4
    plain = TrainConfig()
    assert TrainConfig.from_dict(json.loads(json.dumps(plain.to_dict()))) == plain


@pytest.mark.parametrize(("change", "message"), [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"batch_size": True}, "batch_size must be a positive integer"),
    ({"accumulate": 1.5}, "accumulate must be a positive integer"),
    ({"batch_size": 10, "accumulate": 3}, "batch_size 10 is not a multiple of accumulate 3"),
    ({"lr": 0.0}, "lr must be a positive number"),
    ({"head_lr": math.nan}, "head_lr must be a positive number"),
    ({"weight_decay": -1e-4}, "weight_decay must be a non-negative number"),
    ({"warmup": 1.0}, r"warmup is a share of the steps in \[0, 1\)"),
    ({"schedule": "step"}, "schedule must be one of"),
    ({"grad_clip": 0.0}, "grad_clip must be a positive number or None"),
    ({"mixup": -0.2}, "mixup's alpha must be a positive number or None"),
    ({"freeze_blocks": -1}, "freeze_blocks must be a non-negative integer"),
    ({"audioset_head": "drop"}, "audioset_head must be one of"),
    ({"clip_seconds": math.inf}, "clip_seconds must be a positive number of seconds"),
    ({"becr": Becr(), "batch_size": 4, "accumulate": 4}, "BECR needs at least 2 clips per micro-batch"),
])
def test_bad_settings_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change)


@pytest.mark.parametrize(("change", "message"), [
    ({"lam": 1.5}, r"BECR lambda must lie in \[0, 1\]"),
    ({"epsilon": -0.1}, r"BECR epsilon must lie in \[0, 1\]"),
    ({"form": "svd"}, "BECR form must be 'trace' or 'eig'"),
])
def test_bad_becr_settings_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Becr(**change)


@pytest.mark.parametrize(("hop_ms", "freq", "time"), [(10.0, 4, 40), (5.0, 6, 100), (3.125, 6, 150)])
def test_seed003_patchout_per_hop(hop_ms: float, freq: int, time: int) -> None:
    assert default_patchout(hop_ms) == Patchout(freq, time) == SEED003_PATCHOUT[hop_ms]


def test_an_unlisted_hop_takes_the_nearest_listed_one() -> None:
    assert default_patchout(20.0) == SEED003_PATCHOUT[10.0]
    assert default_patchout(4.0) == SEED003_PATCHOUT[5.0]  # nearer on a log scale than 3.125 ms
    assert default_patchout(1.0) == SEED003_PATCHOUT[3.125]
    for bad in (0.0, -5.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="STFT hop must be a positive number"):
            default_patchout(bad)
