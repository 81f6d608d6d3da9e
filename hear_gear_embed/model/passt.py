"""PaSST: the Patchout faSt Spectrogram Transformer (Koutini et al., 2022) in plain PyTorch.

A ViT/DeiT with a convolutional patch embedding over a log-mel spectrogram, disentangled frequency
and time positional encodings, and CLS and DIST tokens. Parameter names and shapes are those of the
authors' checkpoints so that ``load_state_dict(strict=True)`` accepts them. The readout follows timm's
names: :meth:`PaSST.forward_intermediates` (the tokens after chosen blocks) and :meth:`PaSST.forward_head`
(pooling and the classification head). Every operation is differentiable. Patchout (:class:`~.config.Patchout`), a
training regulariser that leaves patch tokens out of the sequence, acts in training mode only, like dropout.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import PasstConfig, Patchout

_BLOCK_EPS = 1e-6
"""LayerNorm epsilon inside the transformer and of the final norm (DeiT convention)."""

READOUT_TOKENS = 2
"""Tokens every readout uses: CLS and DIST, the first two of the sequence."""

SHORT_SEQUENCE = 160
"""Longest sequence whose bf16 / fp16 attention is computed as explicit products rather than by the fused kernel: the
timestamp windows of every variant (14 to 146 tokens) and scenes of clips up to 1.36 s, but not 10 s scene windows
(1190 tokens and more), where the explicit products are slower (docs/performance.md, "Compiled graphs and int8")."""


class PasstOutput(NamedTuple):
    """What one forward pass yields.

    Attributes:
        mid: ``(batch, embed_dim)`` mean of the CLS and DIST tokens after the final norm, read after
            block ``mid_layer``; ``None`` when not requested.
        logits: ``(batch, num_classes)`` output of the classification head; ``None`` when not requested.
    """

    mid: Tensor | None
    logits: Tensor | None


class Attention(nn.Module):
    """Multi-head self-attention on ``(batch, tokens, dim)`` through ``scaled_dot_product_attention``."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, n_out: int | None = None) -> Tensor:
        """``(batch, tokens, dim)`` -> ``(batch, n_out or tokens, dim)``: with ``n_out``, only the first
        ``n_out`` tokens query (every token is still a key and a value), which is exact for those tokens."""
        batch, tokens, dim = x.shape
        head_dim = dim // self.num_heads
        if n_out is None or is_quantized(self.qkv):
            # A quantised weight is not sliced (torchao's int8 tensors refuse it under inference mode): its last block
            # projects every token's query, 1/3 of that block's qkv product, and reads the first n_out.
            qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0][:, :, :n_out], qkv[1], qkv[2]
        else:
            weight, bias = self.qkv.weight, self.qkv.bias
            q = F.linear(x[:, :n_out], weight[:dim], bias[:dim]).reshape(batch, n_out, self.num_heads, head_dim).transpose(1, 2)
            kv = F.linear(x, weight[dim:], bias[dim:]).reshape(batch, tokens, 2, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
            k, v = kv[0], kv[1]
        if q.dtype in (torch.bfloat16, torch.float16) and tokens <= SHORT_SEQUENCE:
            # The fused CPU kernel computes short reduced-precision sequences no faster than float32 ones; explicit
            # products in the reduced dtype, with the softmax in float32, take a fifth of its time at 14 tokens.
            scores = (q @ k.transpose(-2, -1)).float() * head_dim**-0.5
            out = scores.softmax(-1).to(v.dtype) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, q.shape[2], dim))


def is_quantized(layer: nn.Linear) -> bool:
    """Whether ``layer``'s weight was quantised (:meth:`PaSST.quantize_int8`): a tensor subclass, not a float tensor."""
    return type(layer.weight) not in (nn.Parameter, Tensor)


class Mlp(nn.Module):
    """Two-layer GELU MLP of the transformer block."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``.

    The residual stream and the LayerNorms stay in the input's dtype (float32); the normalised inputs of
    the attention and the MLP are cast to the dtype of the linear layers' weights (see
    :meth:`PaSST.set_compute_dtype`), and their outputs cast back before the residual addition.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=_BLOCK_EPS)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=_BLOCK_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, n_out: int | None = None) -> Tensor:
        """``(batch, tokens, dim)`` -> ``(batch, n_out or tokens, dim)``: with ``n_out``, the block's output
        for the first ``n_out`` tokens only (exact: the other tokens still serve as keys and values)."""
        dtype = self.attn.qkv.weight.dtype
        attended = self.attn(self.norm1(x).to(dtype), n_out).to(x.dtype)
        x = (x if n_out is None else x[:, :n_out]) + attended
        return x + self.mlp(self.norm2(x).to(dtype)).to(x.dtype)


class PatchEmbed(nn.Module):
    """Overlapping patches of the spectrogram projected by one strided convolution."""

    def __init__(self, config: PasstConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            1,
            config.embed_dim,
            kernel_size=config.patch_size,
            stride=(config.freq_stride, config.time_stride),
        )

    def forward(self, spec: Tensor) -> Tensor:
        """``(batch, 1, n_mels, frames)`` -> ``(batch, embed_dim, freq_patches, time_patches)``, in float32, also under
        ``torch.autocast``: oneDNN's bf16 convolution returns NaN on one-patch-wide inputs on some CPUs (docs/fidelity.md)."""
        with torch.autocast(spec.device.type, enabled=False):
            return self._project(spec.float())

    def _project(self, spec: Tensor) -> Tensor:
        if not spec.is_cuda:
            return self.proj(spec)
        # cuDNN computes float32 convolutions in TF32 unless told otherwise; its 10-bit mantissa moves the
        # embeddings beyond the 1e-4 of fp32 parity (docs/gpu.md).
        cudnn = torch.backends.cudnn
        with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                         allow_tf32=False):
            return self.proj(spec)


class PaSST(nn.Module):
    """The PaSST network (see the module docstring).

    Input: log-mel spectrograms ``(batch, n_mels, n_frames)`` (or with a channel axis,
    ``(batch, 1, n_mels, n_frames)``), ``patch_size <= n_frames <= config.max_input_frames``.
    """

    def __init__(self, config: PasstConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.new_pos_embed = nn.Parameter(torch.zeros(1, 2, dim))
        self.freq_new_pos_embed = nn.Parameter(torch.zeros(1, dim, config.freq_patches, 1))
        self.time_new_pos_embed = nn.Parameter(torch.zeros(1, dim, 1, config.time_patches))
        self.blocks = nn.Sequential(*(Block(dim, config.num_heads, config.mlp_ratio) for _ in range(config.depth)))
        self.norm = nn.LayerNorm(dim, eps=_BLOCK_EPS)
        # The head's LayerNorm keeps torch's default eps (1e-5), as in the authors' code.
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, config.num_classes))
        # DeiT's distillation head: the authors' checkpoints carry it and strict loading needs its keys, but PaSST's
        # forward never reads it (its logits are `head` on the mean of CLS and DIST), and neither does this one.
        self.head_dist = nn.Linear(dim, config.num_classes)
        self.patchout: Patchout | None = None
        """Patchout applied in training mode (:meth:`tokens`); ``None``: none."""
        self.patchout_generator: torch.Generator | None = None
        """Source of Patchout's draws (a CPU generator; ``None``: torch's global one). A trainer that seeds it per step
        makes the draws independent of how many processes share a batch."""
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Random initialisation as in DeiT: truncated normal (std 0.02) for tokens, encodings and
        linear weights, zero biases, unit LayerNorms. Used for random-weight tests."""
        for tensor in (self.cls_token, self.dist_token, self.new_pos_embed, self.freq_new_pos_embed,
                       self.time_new_pos_embed):
            nn.init.trunc_normal_(tensor, std=0.02, a=-0.04, b=0.04, generator=generator)
        init_layers(self, generator)

    def tokens(self, spec: Tensor) -> Tensor:
        """Token sequence ``(batch, 2 + freq_patches * time_patches, embed_dim)`` entering block 0.

        Patches are flattened frequency-major (row by row of the patch grid), after CLS and DIST. In training mode with
        :attr:`patchout` set, fewer patches remain (:meth:`~.config.Patchout.kept`), in grid order.
        """
        cfg = self.config
        if spec.ndim == 3:
            spec = spec.unsqueeze(1)
        if spec.ndim != 4 or spec.shape[1] != 1:
            raise ValueError(f"expected a spectrogram (batch, n_mels, frames), got {tuple(spec.shape)}")
        n_mels, frames = spec.shape[-2:]
        if n_mels != cfg.n_mels:
            raise ValueError(f"the network expects {cfg.n_mels} mel bands, got {n_mels}")
        if frames < cfg.patch_size:
            raise ValueError(f"the network needs at least {cfg.patch_size} frames, got {frames}")
        if frames > cfg.max_input_frames:
            raise ValueError(
                f"a {frames}-frame spectrogram gives {cfg.n_time_patches(frames)} patch columns, but the time "
                f"positional encoding covers only {cfg.time_patches} ({cfg.max_input_frames} frames); embed "
                "longer audio in windows"
            )
        x = self.patch_embed(spec)
        x = x + self.time_new_pos_embed[..., : x.shape[-1]]
        x = x + self.freq_new_pos_embed
        if self.training and self.patchout is not None and self.patchout.active:
            x = self._patch_out(x)
        else:
            x = x.flatten(2).transpose(1, 2)
        batch = x.shape[0]
        cls = self.cls_token.expand(batch, -1, -1) + self.new_pos_embed[:, :1]
        dist = self.dist_token.expand(batch, -1, -1) + self.new_pos_embed[:, 1:]
        return torch.cat((cls, dist, x), dim=1)

    def _patch_out(self, grid: Tensor) -> Tensor:
        """The patch grid ``(batch, dim, rows, columns)`` less Patchout's rows, columns and tokens, flattened to
        ``(batch, kept tokens, dim)``; one draw for the whole batch."""
        assert self.patchout is not None
        rows, columns, tokens = self.patchout.kept(self.config, grid.shape[-1])
        draw = self.patchout_generator

        def keep(n: int, k: int) -> Tensor:
            return torch.randperm(n, generator=draw)[:k].sort().values.to(grid.device)

        x = grid.index_select(2, keep(grid.shape[2], rows)).index_select(3, keep(grid.shape[3], columns))
        x = x.flatten(2).transpose(1, 2)
        return x if tokens == x.shape[1] else x.index_select(1, keep(x.shape[1], tokens))

    @property
    def compute_dtype(self) -> torch.dtype:
        """Dtype of the transformer blocks' matrix products (:meth:`set_compute_dtype`); float32 when they are
        quantised (:attr:`quantized`), the dtype of their activations."""
        return next(m.weight.dtype for m in self.blocks.modules() if isinstance(m, nn.Linear))

    def set_compute_dtype(self, dtype: torch.dtype) -> None:
        """Run the matrix products of the transformer blocks (linear layers and attention) in ``dtype``.

        Only the blocks' linear weights are converted (in place, so float32 weights are lost to rounding).
        The patch convolution, the positional encodings, the LayerNorms, the residual stream, the final
        norm and the head stay float32: the convolution because oneDNN's bf16 convolution returns NaN on
        one-patch-wide inputs on some CPUs (``docs/fidelity.md``), the rest because they are a small share
        of the work and carry the error of every block.
        """
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(f"compute dtype must be float32, bfloat16 or float16, got {dtype}")
        if self.quantized:
            raise ValueError("the network's linear layers are quantised to int8; load the weights again for a float dtype")
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                module.to(dtype)

    @property
    def quantized(self) -> bool:
        """Whether the blocks' linear layers were quantised to int8 (:meth:`quantize_int8`)."""
        return any(is_quantized(m) for m in self.blocks.modules() if isinstance(m, nn.Linear))

    def quantize_int8(self) -> None:
        """Quantise the transformer blocks' linear layers to int8 in place, for inference (torchao, the ``int8`` extra).

        Weights symmetric per output channel, activations symmetric per token at run time (torchao's
        ``Int8DynamicActivationInt8WeightConfig``). Everything :meth:`set_compute_dtype` keeps in float32 stays
        float32, and so do attention and GELU. Fast only compiled (:class:`~.compiled.CompiledPasst`); irreversible
        (the float weights are gone).

        Raises:
            ImportError: torchao is not installed (``pip install 'hear_gear_embed[int8]'``).
            ValueError: already quantised, or the blocks compute in another dtype than float32.
        """
        if self.quantized:
            raise ValueError("the network's linear layers are quantised already")
        if self.compute_dtype != torch.float32:
            raise ValueError(f"int8 quantises float32 weights; these were rounded to {self.compute_dtype}")
        # Importing torchao 0.18 logs two warnings of no concern here: its CUDA kernels do not load on a CPU-only torch,
        # and torch 2.13 finds an Enum registered with its pytree that it now supports natively.
        quiet = [logging.getLogger(name) for name in ("torchao", "torch.utils._pytree")]
        levels = [log.level for log in quiet]
        for log in quiet:
            log.setLevel(logging.ERROR)
        try:
            from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
        except ImportError as err:
            raise ImportError("precision 'int8' needs torchao: pip install 'hear_gear_embed[int8]'") from err
        finally:
            for log, level in zip(quiet, levels, strict=True):
                log.setLevel(level)
        quantize_(self.blocks, Int8DynamicActivationInt8WeightConfig())

    def blocks_run(self, mid_layer: int = -1, want_mid: bool = True, want_logits: bool = True) -> int:
        """Number of transformer blocks :meth:`forward` runs for these arguments."""
        if not (want_mid or want_logits):
            return 0
        depth = self.config.depth
        return depth if want_logits else mid_layer % depth + 1

    def forward_intermediates(self, spec: Tensor, indices: Sequence[int], *, readout_only: bool = False) -> list[Tensor]:
        """The token sequences after the transformer blocks ``indices``, each through the final norm (timm's name).

        Args:
            spec: log-mel spectrograms (see the class docstring).
            indices: block indices, negative counting from the end; the blocks up to the largest one run.
            readout_only: return the CLS and DIST tokens only, ``(batch, 2, embed_dim)`` each; the last block run
                then computes its output for those two tokens alone (exact: the other tokens still serve as its keys
                and values), which saves that block's queries, projection and MLP for every patch.

        Returns:
            One tensor per index, in the order given, ``(batch, tokens, embed_dim)`` (``(batch, 2, embed_dim)`` with
            ``readout_only``).
        """
        depth = self.config.depth
        wanted = [index % depth for index in indices]
        if any(not -depth <= index < depth for index in indices):
            raise ValueError(f"block indices must lie in [{-depth}, {depth}), got {list(indices)}")
        x = self.tokens(spec)
        n_blocks = max(wanted) + 1 if wanted else 0
        found: dict[int, Tensor] = {}
        for index in range(n_blocks):
            x = self.blocks[index](x, READOUT_TOKENS if readout_only and index == n_blocks - 1 else None)
            if index in wanted:
                found[index] = self.norm(x[:, :READOUT_TOKENS] if readout_only else x)
        return [found[index] for index in wanted]

    def forward_head(self, tokens: Tensor, *, pre_logits: bool = False) -> Tensor:
        """Pool normalised tokens ``(batch, tokens >= 2, embed_dim)`` (from :meth:`forward_intermediates`) into the mean
        of CLS and DIST, ``(batch, embed_dim)``, and classify it: ``(batch, num_classes)`` logits, or the pooled
        features with ``pre_logits`` (timm's name)."""
        pooled = (tokens[:, 0] + tokens[:, 1]) / 2
        return pooled if pre_logits else self.head(pooled)

    def forward(self, spec: Tensor, mid_layer: int = -1, want_mid: bool = True, want_logits: bool = True) -> PasstOutput:
        """The feature levels of ``spec`` (see the class docstring): pooled features after block ``mid_layer`` and the
        logits after the last block, each computed only when asked for.

        Args:
            spec: log-mel spectrograms.
            mid_layer: block whose output gives the mid-level features (negative counts from the end).
            want_mid: compute the mid-level features.
            want_logits: compute the logits (needs all blocks).

        Returns:
            :class:`PasstOutput` with the requested fields.
        """
        indices = ([mid_layer % self.config.depth] if want_mid else []) + ([self.config.depth - 1] if want_logits else [])
        # Nothing reads the patch tokens after the last block run: it computes CLS and DIST only.
        outputs = self.forward_intermediates(spec, indices, readout_only=True)
        mid = self.forward_head(outputs[0], pre_logits=True) if want_mid else None
        logits = self.forward_head(outputs[-1]) if want_logits else None
        return PasstOutput(mid, logits)


def init_layers(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """DeiT's initialisation of every layer inside ``module``, in ``modules()`` order: truncated normal (std 0.02)
    linear and convolution weights, zero biases, unit LayerNorms (PaSST's and the diverse encoders')."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.trunc_normal_(layer.weight, std=0.02, a=-0.04, b=0.04, generator=generator)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.LayerNorm):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Conv2d):
            nn.init.trunc_normal_(layer.weight, std=0.02, a=-0.04, b=0.04, generator=generator)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def forward_flops(config: PasstConfig, n_frames: int, blocks: int, logits: bool, patchout: Patchout | None = None) -> int:
    """Floating-point operations of one forward pass on one ``n_frames``-frame spectrogram.

    Counts multiply-adds as two operations in every matrix product: the patch convolution, the
    ``qkv``, ``proj``, ``fc1`` and ``fc2`` projections and the two attention products
    (``Q K^T`` and ``softmax V``) of each block run, the last of which computes keys and values for
    every token but queries, projection and MLP for the CLS and DIST tokens only, and the
    classification head's linear layer when
    ``logits``. Normalisations, GELU, softmax, additions and the positional encodings (all linear in
    the number of elements, together under 1% at width 768) are not counted, as is the convention for
    GFLOP/s figures.

    Args:
        config: the network geometry.
        n_frames: input frames (``patch_size <= n_frames <= config.max_input_frames``).
        blocks: transformer blocks run (see :meth:`PaSST.blocks_run`).
        logits: whether the head runs.
        patchout: count the sequence that remains after it (training); the patch convolution still sees every patch.

    Returns:
        The operation count (an exact integer for the given sequence length).
    """
    if not 0 <= blocks <= config.depth:
        raise ValueError(f"blocks must be in [0, {config.depth}], got {blocks}")
    dim = config.embed_dim
    hidden = int(dim * config.mlp_ratio)
    patches = config.freq_patches * config.n_time_patches(n_frames)
    tokens = (patchout.kept(config, config.n_time_patches(n_frames))[2] if patchout is not None else patches) + READOUT_TOKENS

    def block(queries: int) -> int:
        # Keys and values of every token; queries, projection and MLP of the querying tokens; attention products.
        return 2 * dim * (2 * tokens * dim + queries * (2 * dim + 2 * hidden)) + 4 * queries * tokens * dim

    patch_embed = 2 * patches * config.patch_size**2 * dim
    network = (blocks - 1) * block(tokens) + block(READOUT_TOKENS) if blocks else 0
    head = 2 * dim * config.num_classes if logits else 0
    return patch_embed + network + head


def passt_without_weights(config: PasstConfig) -> PaSST:
    """A PaSST of ``config`` with its parameters on ``meta``: shapes without storage, nothing initialised (a full-size
    initialisation costs seconds), for weights about to be loaded (``load_state_dict(..., assign=True)``) or drawn."""
    with torch.device("meta"):
        return PaSST(config)


def random_passt(config: PasstConfig, seed: int = 0) -> PaSST:
    """A PaSST with seeded random weights (:meth:`PaSST.reset_parameters`) in eval mode.

    For tests, pipeline checks and random-weight baselines; the embeddings mean nothing. The weights are drawn once,
    on the CPU: the network is built without storage (``meta``), so neither torch's layer defaults nor the unseeded
    draw of :class:`PaSST` run first (each pass costs seconds at full size); the seeded draw is the same as on a
    network built normally.
    """
    net = passt_without_weights(config)
    net.to_empty(device="cpu")
    net.reset_parameters(torch.Generator().manual_seed(seed))
    return net.eval()
