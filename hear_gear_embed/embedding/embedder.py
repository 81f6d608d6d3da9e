"""The :class:`Embedder`: a variant's frontend, frame features and network, executing the variant's plan of a call
(:meth:`~hear_gear_embed.embedding.config.VariantConfig.plan`) in memory-bounded chunks of windows. A ``torch.nn.Module``
whose :meth:`~Embedder.forward` is differentiable: inference mode belongs to the HEAR API and the engines."""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Callable
from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..features.frames import FrameFeatures
from ..frontends.build import build_frontend
from ..model.checkpoint import load_checkpoint, save_checkpoint
from ..model.compiled import CompiledPasst, CompileStats
from ..model.passt import PaSST, PasstOutput, forward_flops
from ..util.chunking import chunks
from ..util.precision import Precision, check_supported, compiles_by_default, compute_dtype, precision_of
from .config import KINDS, ClipFeatures, FeatureBlock, Kind, Level, PooledFeatures, VariantConfig, WindowPass, half_window_frames
from .inputs import AudioInput, as_audio_batch
from .pooling import centre_frames, clip_mean_std, window_frames, window_mean_std
from .windowing import centred_window_chunk, timestamps_ms

logger = logging.getLogger(__name__)

DEFAULT_BUDGET_MB = {"cpu": 512, "cuda": 4096}
"""Default working-memory budget (MiB) for one chunk of windows, per device type."""


class Embedder(nn.Module):
    """Embeds batches of audio with one variant; holds the frontend, the frame features and (when
    needed) the network.

    The module is created with random weights; load pretrained ones with
    :func:`hear_gear_embed.load_model` or :meth:`load_weights`.

    Attributes:
        variant: the :class:`~hear_gear_embed.embedding.config.VariantConfig`.
        sample_rate: expected sample rate (Hz).
        scene_embedding_size: size of one scene embedding.
        timestamp_embedding_size: size of one timestamp embedding.
        weights_source: where the network weights come from: the checkpoint path given to
            :meth:`load_weights`, ``"random (seed N)"``, ``"random (unseeded)"``, ``"network passed in"``,
            or ``"none"`` for a weight-free variant. Recorded with the embeddings of ``hear-gear embed``.
    """

    def __init__(self, variant: VariantConfig, memory_budget_mb: float | None = None, net: PaSST | None = None) -> None:
        super().__init__()
        self.variant = variant
        self.sample_rate = variant.sample_rate
        self.scene_embedding_size = variant.scene_embedding_size
        self.timestamp_embedding_size = variant.timestamp_embedding_size
        self.memory_budget_mb = memory_budget_mb
        self.frontend = build_frontend(variant.frontend)
        names = variant.feature_names
        self.frame_features = FrameFeatures(variant.features, names) if names else None
        if net is not None and net.config != variant.net:
            raise ValueError(f"the network geometry {net.config} does not match variant {variant.name}")
        self.net = (net or PaSST(variant.net)) if variant.needs_network and variant.net is not None else None
        self.weights_source = "none" if self.net is None else ("network passed in" if net is not None else "random (unseeded)")
        self._compile: bool | None = None
        self._compiled: CompiledPasst | None = None
        self._told_eager = False

    def __getstate__(self) -> dict[str, object]:
        # Compiled graphs neither pickle nor copy; a copy compiles its own on first use.
        state = dict(self.__dict__)
        state["_compiled"] = None
        return state

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Embedder:
        # A move or cast changes the weights the compiled graphs froze.
        self._compiled = None
        return super()._apply(fn, recurse)

    @property
    def memory_budget_mb(self) -> float | None:
        """Bound on the working memory of one chunk of windows, MiB; ``None``: :data:`DEFAULT_BUDGET_MB` for the device.

        Raises (on assignment):
            TypeError: not a real number (a string, a bool).
            ValueError: zero, negative, NaN or infinite.
        """
        return self._memory_budget_mb

    @memory_budget_mb.setter
    def memory_budget_mb(self, value: float | None) -> None:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"memory_budget_mb must be a number of MiB or None, got {type(value).__name__} {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"memory_budget_mb must be a positive, finite number of MiB, got {value}")
            value = float(value)
        self._memory_budget_mb = value

    @property
    def precision(self) -> Precision:
        """The format of the network's matrix products (:meth:`set_precision`), read from its weights; ``"fp32"``
        without a network. Outputs are float32 whatever it is."""
        if self.net is None:
            return "fp32"
        return "int8" if self.net.quantized else precision_of(self.net.compute_dtype)

    def set_precision(self, precision: str) -> None:
        """Compute the network's matrix products in ``precision`` on the module's current device (call it
        after moving the module); the frontend, frame features, patch convolution, normalisations and
        outputs stay float32 (:meth:`~hear_gear_embed.model.passt.PaSST.set_compute_dtype`). ``"int8"`` quantises the
        blocks' linear layers (:meth:`~hear_gear_embed.model.passt.PaSST.quantize_int8`).

        Going from a reduced precision to another is refused: the weights were rounded; load them again.
        A variant without a network computes in float32 whatever is asked.

        Raises:
            ValueError: unknown precision, or another precision than the current one from rounded weights.
            PrecisionUnsupportedError: the device cannot compute ``precision`` fast (see
                :func:`~hear_gear_embed.util.precision.check_supported`).
            ImportError: ``"int8"`` without torchao.
        """
        name = check_supported(precision, self.device)
        if self.net is None:
            if name != "fp32":
                logger.info("variant %s has no network: it computes in fp32 whatever the precision", self.variant.name)
            return
        if name == self.precision:
            return
        if self.precision != "fp32":
            raise ValueError(f"the weights were rounded to {self.precision}; load them again for {name}")
        self._compiled = None
        if name == "int8":
            self.net.quantize_int8()
        else:
            self.net.set_compute_dtype(compute_dtype(name, self.device))

    @property
    def compiles(self) -> bool:
        """Whether inference runs the compiled network (:class:`~hear_gear_embed.model.compiled.CompiledPasst`):
        as set by :meth:`set_compile`, by default in the precisions where it pays
        (:func:`~hear_gear_embed.util.precision.compiles_by_default`). ``False`` without a network."""
        if self.net is None:
            return False
        return compiles_by_default(self.precision) if self._compile is None else self._compile

    def set_compile(self, enabled: bool | None) -> None:
        """Run inference through the compiled network (``True``), the eager one (``False``), or decide by precision
        (``None``, the default; :attr:`compiles`). Compilation happens on the first call of each input geometry and
        is logged; with gradients on, the eager network runs whatever is set.

        Raises:
            TypeError: not a bool or None.
        """
        if enabled is not None and not isinstance(enabled, bool):
            raise TypeError(f"compile must be True, False or None (by precision), got {enabled!r}")
        if enabled is False and self.net is not None and self.precision == "int8":
            logger.warning("int8 without compiling runs at about 1.1-1.2x fp32, slower than bf16 (docs/performance.md)")
        self._compile = enabled
        self._compiled = None

    @property
    def compile_stats(self) -> CompileStats | None:
        """What compiling has cost so far (graphs, seconds), ``None`` before the first compiled call."""
        return None if self._compiled is None else self._compiled.stats

    def _network(self) -> PaSST | CompiledPasst:
        """The network to call: the compiled one in inference when :attr:`compiles`, else the eager one."""
        assert self.net is not None
        if not self.compiles:
            return self.net
        if self.net.training or torch.is_grad_enabled():
            if not self._told_eager:
                logger.info("the %s network runs eager, not compiled: compiled graphs serve inference only (eval mode, "
                            "no gradients)", self.variant.name)
                self._told_eager = True
            return self.net
        if self._compiled is None:
            self._compiled = CompiledPasst(self.net)
        return self._compiled

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Load network weights from ``path`` strictly (see :func:`~hear_gear_embed.model.checkpoint.read_checkpoint`
        for the accepted layouts).

        Raises:
            CheckpointError: unreadable file, or keys/shapes that do not fit, named in the message.
        """
        if self.net is None:
            raise ValueError(f"variant {self.variant.name} uses no network weights; do not pass a checkpoint")
        load_checkpoint(self.net, path)
        self._compiled = None
        self.weights_source = os.fspath(path)

    def save_weights(self, path: str | os.PathLike[str]) -> None:
        """Save the network weights with the variant name and geometry (loadable by :meth:`load_weights`)."""
        if self.net is None:
            raise ValueError(f"variant {self.variant.name} has no network weights to save")
        if self.precision != "fp32":
            raise ValueError(f"the weights were rounded to {self.precision}; save them from a model loaded in fp32")
        save_checkpoint(path, self.net, self.net.config, self.variant.name)

    @property
    def device(self) -> torch.device:
        """Device of the module's buffers and weights."""
        return next(self.frontend.buffers()).device

    def _budget_bytes(self) -> int:
        budget = self.memory_budget_mb
        if budget is None:
            budget = DEFAULT_BUDGET_MB.get(self.device.type, DEFAULT_BUDGET_MB["cpu"])
        return int(budget * 2**20)

    def bytes_per_window(self, n_samples: int, levels: tuple[Level, ...]) -> int:
        """Estimated peak working memory (bytes) to embed one window of ``n_samples`` samples through ``levels``.

        Counts the window's gather (its source indices and mask), the frontend (signal and
        spectrogram), the activations of one transformer block (tokens
        x width for the residual stream, qkv and MLP) and the attention matrix, all float32.
        """
        frames = self.variant.frontend.n_frames(n_samples)
        total = 13 * n_samples + self.frontend.working_bytes(n_samples)
        net = self.variant.net
        if self.net is not None and net is not None and set(levels) & {"M", "H"}:
            tokens = net.n_tokens(frames)
            total += 4 * (tokens * net.embed_dim * int(6 + 2 * net.mlp_ratio) + net.num_heads * tokens * tokens)
        return total

    def network_flops(self, n_sounds: int, n_samples: int, kind: Kind) -> int:
        """Floating-point operations the network performs for one call on ``(n_sounds, n_samples)`` audio: the sum of
        :func:`~hear_gear_embed.model.passt.forward_flops` over the window passes of the call's plan, each with its
        sequence length and block count. The frontend and pooling are not counted; zero without a network."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if n_sounds < 1 or n_samples < 1:
            raise ValueError(f"need at least one sound and one sample, got ({n_sounds}, {n_samples})")
        if self.net is None:
            return 0
        total = 0
        for step in self.variant.plan(n_samples, kind):
            if isinstance(step, WindowPass) and step.uses_network:
                levels = step.levels
                blocks = self.net.blocks_run(self.variant.mid_layer, "M" in levels, "H" in levels)
                frames = self.variant.frontend.n_frames(step.window_samples)
                total += n_sounds * step.windows * forward_flops(self.net.config, frames, blocks, "H" in levels)
        return total

    def window_features(self, windows: Tensor, levels: tuple[Level, ...], pool_low: bool) -> Tensor:
        """Features of a batch of windows, levels concatenated in order.

        Args:
            windows: ``(k, n_samples)`` float32 audio on the module's device.
            levels: feature levels to compute.
            pool_low: ``"L"`` as the per-band mean over frames (``n_mels``) instead of all frames
                flattened band-major (``n_mels * n_frames``).

        Returns:
            ``(k, sum of level sizes)`` float32.
        """
        spec = self.frontend(windows)
        out: PasstOutput | None = None
        if "M" in levels or "H" in levels:
            if self.net is None:
                raise RuntimeError(f"variant {self.variant.name} has no network for levels {levels}")
            out = self._network()(spec, self.variant.mid_layer, want_mid="M" in levels, want_logits="H" in levels)
            for value in (out.mid, out.logits):
                if value is not None and not bool(torch.isfinite(value).all()):
                    raise FloatingPointError(
                        f"the {self.variant.name} network returned non-finite values in {self.precision} on "
                        f"{self.device.type} (finite input audio); compute in fp32 (precision='fp32')"
                    )
        parts = []
        for level in levels:
            if level == "L":
                parts.append(spec.mean(-1) if pool_low else spec.flatten(1))
            else:
                assert out is not None  # the network ran above for "M" and "H"
                parts.append(out.mid if level == "M" else out.logits)
        return torch.cat(parts, dim=1)

    def _windowed_features(self, audio: Tensor, step: WindowPass, out: Tensor) -> None:
        """Fill ``out`` ``(n_sounds * step.windows, width)`` (sound-major rows; may be a column slice of a wider
        tensor) with the features of every centred window of ``step``, in chunks of windows across sounds and
        positions bounded by the memory budget."""
        per_chunk = self._budget_bytes() // self.bytes_per_window(step.window_samples, step.levels)
        for start, stop in chunks(out.shape[0], per_chunk):
            windows = centred_window_chunk(audio, step.window_samples, step.hop_samples, start, stop)
            out[start:stop] = self.window_features(windows, step.levels, step.pool_low)

    @overload
    def forward(self, audio: AudioInput, kind: Literal["scene"] = "scene") -> Tensor: ...

    @overload
    def forward(self, audio: AudioInput, kind: Literal["timestamp"]) -> tuple[Tensor, Tensor]: ...

    def forward(self, audio: AudioInput, kind: Kind = "scene") -> Tensor | tuple[Tensor, Tensor]:
        """:meth:`scene_embeddings` (``kind="scene"``) or :meth:`timestamp_embeddings` (``kind="timestamp"``) of
        ``audio``, with gradients to the network's parameters (and the frontend's, where it has any)."""
        if kind == "scene":
            return self.scene_embeddings(audio)
        if kind == "timestamp":
            return self.timestamp_embeddings(audio)
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def timestamp_embeddings(self, audio: AudioInput) -> tuple[Tensor, Tensor]:
        """Timestamp embeddings of a batch of sounds.

        Args:
            audio: ``(n_sounds, n_samples)`` float audio in [-1, 1] at :attr:`sample_rate`
                (tensor or NumPy array).

        Returns:
            ``(embeddings, timestamps)``: ``(n_sounds, n_timestamps, timestamp_embedding_size)``
            float32 and ``(n_sounds, n_timestamps)`` float32 centred times in milliseconds,
            ``n_timestamps = n_samples // hop + 1``; both on the module's device.
        """
        audio = as_audio_batch(audio, self.device)
        n_sounds, n_samples = audio.shape
        plan = self.variant.plan(n_samples, "timestamp")
        stamps = timestamps_ms(n_sounds, n_samples, self.variant.timestamp_hop_samples, self.sample_rate, self.device)
        n_stamps = stamps.shape[1]
        flat = torch.empty(n_sounds * n_stamps, self.timestamp_embedding_size, device=self.device)
        frames = self._frame_features(audio, [step.block for step in plan if isinstance(step, PooledFeatures)])
        for step in plan:
            out = flat[:, step.columns[0]: step.columns[1]]
            if isinstance(step, WindowPass):
                self._windowed_features(audio, step, out)
            elif isinstance(step, PooledFeatures):
                out.copy_(self._pooled_block(frames, step, n_stamps).flatten(0, 1))
            else:
                raise AssertionError(f"a timestamp plan has no {type(step).__name__}")
        return flat.view(n_sounds, n_stamps, -1), stamps

    def _frame_features(self, audio: Tensor, blocks: list[FeatureBlock], extra: tuple[str, ...] = ()) -> dict[str, Tensor]:
        """Frame features of ``audio`` needed by ``blocks`` and ``extra`` (computed once, shared by blocks)."""
        names = tuple(dict.fromkeys([f for b in blocks for f in b.features] + list(extra)))
        if not names:
            return {}
        if self.frame_features is None:
            raise RuntimeError(f"variant {self.variant.name} has no frame features {names}")
        return self.frame_features(audio, self._budget_bytes(), names)

    def _pooled_block(self, frames: dict[str, Tensor], step: PooledFeatures, n_stamps: int) -> Tensor:
        """One :class:`PooledFeatures` step for every timestamp: ``(n_sounds, n_stamps, block size)``."""
        variant, block = self.variant, step.block
        parts = []
        for name in block.features:
            feature = frames[name]
            frame_hop = variant.features.hop(name)
            centres = centre_frames(n_stamps, variant.timestamp_hop_samples, frame_hop, feature.shape[-1], self.device)
            half = half_window_frames(step.window_samples, frame_hop)
            pool = window_mean_std if block.pooling == "meanstd" else window_frames
            parts.append(pool(feature, centres, half))
        return torch.cat(parts, dim=-1)

    def scene_embeddings(self, audio: AudioInput) -> Tensor:
        """Scene embeddings of a batch of sounds.

        Levels: clips up to ``scene_window_ms`` get one forward pass each (clips shorter than the
        network's minimum input, one patch of frames, are zero-padded at the end to that length);
        longer clips are the mean over centred windows of ``scene_window_ms`` every ``scene_hop_ms``.
        Frame features (``scene_features``): mean and standard deviation over all frames of the clip.

        Args:
            audio: ``(n_sounds, n_samples)`` float audio in [-1, 1] at :attr:`sample_rate`.

        Returns:
            ``(n_sounds, scene_embedding_size)`` float32 on the module's device.
        """
        audio = as_audio_batch(audio, self.device)
        n_sounds, n_samples = audio.shape
        result = torch.empty(n_sounds, self.scene_embedding_size, device=self.device)
        for step in self.variant.plan(n_samples, "scene"):
            out = result[:, step.columns[0]: step.columns[1]]
            if isinstance(step, ClipFeatures):
                frames = self._frame_features(audio, [], step.features)
                out.copy_(torch.cat([clip_mean_std(frames[f]) for f in step.features], dim=1))
            elif isinstance(step, WindowPass) and step.hop_samples:
                per_window = torch.empty(n_sounds * step.windows, out.shape[1], device=self.device)
                self._windowed_features(audio, step, per_window)
                out.copy_(per_window.view(n_sounds, step.windows, -1).mean(dim=1))
            elif isinstance(step, WindowPass):
                clip = F.pad(audio, (0, step.window_samples - n_samples)) if n_samples < step.window_samples else audio
                per_chunk = self._budget_bytes() // self.bytes_per_window(step.window_samples, step.levels)
                for start, stop in chunks(n_sounds, per_chunk):
                    out[start:stop] = self.window_features(clip[start:stop], step.levels, True)
            else:
                raise AssertionError(f"a scene plan has no {type(step).__name__}")
        return result
