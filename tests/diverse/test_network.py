"""``diverse.network``: one encoder per stream whose CLS output is the stream's embedding, concatenated in stream order;
gradients reach every stream; seeded initialisation; positions shared by windows of any length."""

from __future__ import annotations

import pytest
import torch

from hear_gear_embed.diverse.config import get_diverse
from hear_gear_embed.diverse.network import DiverseNet, sinusoidal_positions

DIMS = {"pitch": 84, "timbre": 12, "waveform": 160, "neuralogram": 7}


def net(seed: int = 0) -> DiverseNet:
    model = DiverseNet(get_diverse("diverse_tiny"), DIMS)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    return model


def frames(batch: int = 3) -> dict[str, torch.Tensor]:
    return {name: torch.randn(batch, 9 if name != "neuralogram" else 3, dim) for name, dim in DIMS.items()}


def test_each_stream_fills_its_own_columns() -> None:
    model, inputs = net(), frames()
    out = model(inputs)
    assert out.shape == (3, 4 * 16)
    changed = dict(inputs, timbre=inputs["timbre"] + torch.randn(3, 9, 12))
    moved = (model(changed) - out).abs().amax(dim=0)
    assert moved[16:32].min() > 0 and moved[:16].max() == 0 and moved[32:].max() == 0


def test_gradients_reach_every_stream() -> None:
    model = net()
    model(frames()).square().sum().backward()
    for name, encoder in model.encoders.items():
        for parameter_name, parameter in encoder.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"{name}.{parameter_name}"


def test_seeded_initialisation_and_checked_inputs() -> None:
    a, b = net(1), net(1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not torch.equal(net(2).encoders["pitch"].proj.weight, a.encoders["pitch"].proj.weight)
    with pytest.raises(ValueError, match=r"expected frames \(batch, n_frames, 84\)"):
        a({**frames(), "pitch": torch.randn(3, 9, 83)})
    with pytest.raises(ValueError, match="no frame size for the streams"):
        DiverseNet(get_diverse("diverse_tiny"), {"pitch": 84})


def test_positions_are_offsets_from_the_centre_frame() -> None:
    short, long = sinusoidal_positions(3, 16, torch.device("cpu")), sinusoidal_positions(7, 16, torch.device("cpu"))
    assert torch.allclose(short, long[2:5])
    assert torch.allclose(long[3, 1::2], torch.ones(8)) and torch.allclose(long[3, 0::2], torch.zeros(8))
