"""The compiled network (:class:`hear_gear_embed.model.compiled.CompiledPasst`) on the tiny geometry: the eager
network's outputs, one graph per input geometry whatever the batch size, eager code with gradients on, and an error,
never a silent return to eager code, past the compile limit."""

from __future__ import annotations

import pytest
import torch

from hear_gear_embed import get_variant
from hear_gear_embed.model.compiled import CompilationLimitError, CompiledPasst
from hear_gear_embed.model.passt import random_passt

CONFIG = get_variant("tiny_test").net
assert CONFIG is not None


def spec(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, CONFIG.n_mels, frames, generator=torch.Generator().manual_seed(seed))


def test_compiled_outputs_are_the_eager_ones_and_batches_share_a_graph() -> None:
    net = random_passt(CONFIG, seed=3)
    compiled = CompiledPasst(net)
    with torch.inference_mode():
        for batch in (5, 3, 7):
            x = spec(batch, 16, seed=batch)
            got, expected = compiled(x, 0, True, True), net(x, 0, True, True)
            assert got.mid is not None and got.logits is not None and expected.mid is not None
            assert torch.allclose(got.mid, expected.mid, atol=1e-5) and torch.allclose(got.logits, expected.logits, atol=1e-5)
        assert compiled.stats.graphs == 1 and compiled.stats.shapes == ((5, CONFIG.n_mels, 16),)
        wide = compiled(spec(2, 57), want_logits=False)
        assert wide.logits is None and wide.mid is not None
        assert torch.allclose(wide.mid, net(spec(2, 57), want_logits=False).mid, atol=1e-5)  # type: ignore[arg-type]
    assert compiled.stats.graphs == 2 and compiled.stats.seconds > 0


def test_gradients_run_the_eager_network() -> None:
    net = random_passt(CONFIG, seed=3)
    compiled = CompiledPasst(net)
    out = compiled(spec(2, 16))
    assert out.logits is not None and out.logits.requires_grad and compiled.stats.graphs == 0
    with pytest.raises(ValueError, match="eval mode"):
        CompiledPasst(random_passt(CONFIG).train())


def test_past_the_compile_limit_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import hear_gear_embed.model.compiled as module

    monkeypatch.setattr(module, "MAX_GRAPHS", 1)
    compiled = CompiledPasst(random_passt(CONFIG, seed=3))
    with torch.inference_mode():
        compiled(spec(3, 16))
        with pytest.raises(CompilationLimitError, match=r"compiled 1 graphs .* input \(1, 128, 16\) needs another; embed "
                                                        "with compile off"):
            compiled(spec(1, 16))  # torch specialises batches of one
    assert torch._dynamo.config.recompile_limit == 8  # torch's own limit, for every other function, is untouched
