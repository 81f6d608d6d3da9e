"""The compiled fast path of the network: :class:`CompiledPasst`, PaSST's forward pass through ``torch.compile``.

Inductor compiles the whole pass into one graph (``fullgraph``: a construct it cannot trace is an error, never a silent
split) with its weights frozen, so that oneDNN receives pre-packed weights and fuses GELU, casts and additions into the
matrix products. The batch axis, and the frame axis of inputs wider than one patch column, are marked dynamic: a corpus
of windows of one length compiles once per process, whatever its batch sizes, and clips of many lengths a few times.
Every compilation is counted, timed and logged; a network that would compile more than :data:`MAX_GRAPHS` graphs stops
with :class:`CompilationLimitError` rather than going on in eager code. Inference only: with gradients on, the
eager network runs. Measured gains and compile times: docs/performance.md ("Compiled graphs and int8").
"""

from __future__ import annotations

import logging
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .passt import PaSST, PasstOutput

logger = logging.getLogger(__name__)

MAX_GRAPHS = 16
"""Graphs one :class:`CompiledPasst` may compile (torch's own limit per function, 8 by default, raised for its calls
only): a variant with two window lengths needs up to two graphs per length (batches of one window are always a graph
of their own) and two or three for scenes; each costs 5-40 s on a CPU."""


class CompilationLimitError(RuntimeError):
    """The network would compile more graphs than :data:`MAX_GRAPHS`: inputs of too many geometries."""


@dataclass
class CompileStats:
    """What compiling has cost one :class:`CompiledPasst` so far.

    Attributes:
        graphs: graphs compiled (one per input geometry that no earlier graph covers).
        seconds: wall-clock seconds spent compiling them (inductor's work; the first call of a graph also traces it).
        shapes: the input shape ``(batch, n_mels, frames)`` that triggered each compilation, in order.
    """

    graphs: int = 0
    seconds: float = 0.0
    shapes: tuple[tuple[int, ...], ...] = ()


class CompiledPasst:
    """A :class:`~.passt.PaSST`'s forward pass compiled by inductor, called like the network.

    The network's weights are frozen into the graphs: a wrapper must not outlive a change of weights or precision
    (:class:`~hear_gear_embed.embedding.embedder.Embedder` makes a new one after each).

    Args:
        net: the network, in eval mode, on its device, in its final precision.
    """

    def __init__(self, net: PaSST) -> None:
        if net.training:
            raise ValueError("compile a network in eval mode: the compiled path is for inference")
        self.net = net
        self.stats = CompileStats()
        self._readouts: dict[int, _Readout] = {}
        # A function of its own per wrapper: torch keeps compiled graphs, and counts them against its limit, per code
        # object, so that compiling PaSST.forward itself would share one budget among every network of the process.
        template = _call_readout
        own = types.FunctionType(template.__code__.replace(), template.__globals__, template.__name__)
        self._forward: Callable[..., PasstOutput] = torch.compile(own, fullgraph=True, backend=self._backend)
        self._shape: tuple[int, ...] = ()

    def _backend(self, graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        from torch._inductor.compile_fx import compile_fx

        start = time.perf_counter()
        compiled = compile_fx(graph, example_inputs, config_patches={"freezing": True})
        seconds = time.perf_counter() - start
        self.stats.graphs += 1
        self.stats.seconds += seconds
        self.stats.shapes += (self._shape,)
        logger.info("compiled the network for input %s (%s, graph %d) in %.1f s", self._shape, self.net.compute_dtype,
                    self.stats.graphs, seconds)
        assert callable(compiled)  # compile_fx returns the compiled callable when it is not asked for code
        return compiled

    def __call__(self, spec: Tensor, mid_layer: int = -1, want_mid: bool = True, want_logits: bool = True) -> PasstOutput:
        """:meth:`PaSST.forward <.passt.PaSST.forward>` through the compiled graphs; the eager network when gradients
        are on (training and ``torch.func`` transforms need the eager code)."""
        if torch.is_grad_enabled():
            return self.net(spec, mid_layer, want_mid, want_logits)
        self._shape = tuple(spec.shape)
        # Sizes 0 and 1 are always specialised by torch; marking them would only fail.
        if spec.shape[0] > 1:
            torch._dynamo.maybe_mark_dynamic(spec, 0)
        if spec.shape[-1] > self.net.config.patch_size:
            torch._dynamo.maybe_mark_dynamic(spec, spec.ndim - 1)
        try:
            index = mid_layer % self.net.config.depth
            readout = self._readouts.setdefault(index, _Readout(self.net, index))
            # torch reads its limit when it compiles, so patching it around this call sets it for this function only.
            with torch._dynamo.config.patch(recompile_limit=MAX_GRAPHS):
                return self._forward(readout, spec, want_mid, want_logits)
        except torch._dynamo.exc.FailOnRecompileLimitHit as err:
            raise CompilationLimitError(
                f"this network has compiled {self.stats.graphs} graphs (input shapes {list(self.stats.shapes)}), the "
                f"limit, and input {self._shape} needs another; embed with compile off (compile=False, --compile off) "
                "for inputs of this many geometries"
            ) from err


class _Readout(torch.nn.Module):
    """The network with its mid layer fixed: torch traces an integer attribute of a module as a constant, where an
    integer argument (or closure) that has taken two values in the process becomes symbolic, and the mid layer indexes
    the blocks."""

    def __init__(self, net: PaSST, mid_layer: int) -> None:
        super().__init__()
        self.net = net
        self.mid_layer = mid_layer

    def forward(self, spec: Tensor, want_mid: bool, want_logits: bool) -> PasstOutput:
        return self.net(spec, self.mid_layer, want_mid, want_logits)


def _call_readout(readout: _Readout, spec: Tensor, want_mid: bool, want_logits: bool) -> PasstOutput:
    """The function each :class:`CompiledPasst` compiles a copy of."""
    return readout(spec, want_mid, want_logits)
