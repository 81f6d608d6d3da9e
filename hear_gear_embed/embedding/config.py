"""What a variant is (pure data): the blocks of a timestamp embedding, the levels and features of a scene
embedding, the geometry they run on, and the plan of one call (:meth:`VariantConfig.plan`), which the embedder
executes and from which its FLOP count and memory estimate derive. Every size is derived here, never typed by hand."""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..features.catalogue import get_descriptor
from ..features.config import FeatureConfig
from ..frontends.config import Frontend, MelConfig
from ..model.config import PasstConfig
from ..model.weights import PretrainedWeights
from ..util.units import ms_to_samples, n_timestamps

Level = Literal["L", "M", "H"]
"""Feature levels of the PaSST paper (seed 003, section 4.1).

``"L"`` (low): log-mel frames; ``"M"`` (mid): averaged CLS/DIST token after the final norm;
``"H"`` (high): AudioSet logits.
"""

LEVELS: tuple[Level, ...] = ("L", "M", "H")
"""Every level, in the order the paper names them."""

Kind = Literal["scene", "timestamp"]
"""The two kinds of HEAR embedding: one vector per clip, or one per timestamp."""

KINDS: tuple[Kind, ...] = ("scene", "timestamp")
"""Every kind, in the order outputs store them: the one vocabulary of the package's API, CLI, files and reports."""


def check_kinds(kinds: Iterable[str]) -> tuple[Kind, ...]:
    """``kinds`` as a selection of :data:`KINDS`, in that order.

    Raises:
        ValueError: empty, or holding an unknown kind.
    """
    given = tuple(kinds)
    unknown = [k for k in given if k not in KINDS]
    if unknown or not given:
        raise ValueError(f"kinds must be a non-empty selection of {KINDS}, got {given!r}")
    return tuple(k for k in KINDS if k in given)


@dataclass(frozen=True)
class WindowBlock:
    """One block of a timestamp embedding: features of windows of one length around each timestamp.

    Attributes:
        window_ms: window (receptive field) length in milliseconds, centred on the timestamp.
        levels: feature levels computed on each window, concatenated in this order.
    """

    window_ms: float
    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        _check_levels(self.levels)
        if self.window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {self.window_ms}")


def _check_levels(levels: tuple[str, ...]) -> None:
    if not levels:
        raise ValueError("at least one feature level is needed")
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise ValueError(f"unknown feature levels {unknown}; valid levels are {list(LEVELS)}")
    if len(set(levels)) != len(levels):
        raise ValueError(f"feature levels repeat: {levels}")


Pooling = Literal["meanstd", "frames"]


@dataclass(frozen=True)
class FeatureBlock:
    """One block of a timestamp embedding from frame features pooled over a window around each timestamp.

    The window holds the frames whose centres lie within ``window_ms / 2`` of the timestamp (an odd
    number, ``2 * floor(window / 2 / hop) + 1``). ``"meanstd"`` gives, per feature, the mean then the
    standard deviation over those frames (frames outside the clip are left out); ``"frames"`` gives
    all of them flattened band-major like level ``"L"`` (outside the clip, the edge frame repeats).

    Attributes:
        window_ms: window length in milliseconds, centred on the timestamp.
        features: names from :data:`~hear_gear_embed.features.catalogue.FEATURES`, concatenated in this order.
        pooling: ``"meanstd"`` or ``"frames"``.
    """

    window_ms: float
    features: tuple[str, ...]
    pooling: Pooling = "meanstd"

    def __post_init__(self) -> None:
        _check_features(self.features)
        if self.window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {self.window_ms}")
        if self.pooling not in ("meanstd", "frames"):
            raise ValueError(f"pooling must be 'meanstd' or 'frames', got {self.pooling!r}")


def _check_features(features: tuple[str, ...]) -> None:
    for feature in features:
        get_descriptor(feature)
    if len(set(features)) != len(features):
        raise ValueError(f"features repeat: {features}")


def half_window_frames(window_samples: int, hop: int) -> int:
    """Frames on each side of the centre frame inside a window of ``window_samples`` (hop ``hop``)."""
    return (window_samples // 2) // hop


@dataclass(frozen=True)
class WindowPass:
    """Windows of one length through the frontend (and the network for ``"M"`` / ``"H"``), for every sound of a call.

    Attributes:
        levels: the levels computed on each window, concatenated in this order.
        window_samples: samples per window; for a single pass, the clip zero-padded at its end to the shortest input.
        hop_samples: samples between window centres (the first at sample 0, windows mirrored at the clip's edges,
            :mod:`~hear_gear_embed.embedding.windowing`); ``0`` for a single pass over each whole clip.
        windows: windows per sound.
        pool_low: ``"L"`` as the per-band mean over frames (scene) instead of every frame flattened (timestamp).
        columns: ``(start, stop)`` of the output columns it fills.
    """

    levels: tuple[Level, ...]
    window_samples: int
    hop_samples: int
    windows: int
    pool_low: bool
    columns: tuple[int, int]

    @property
    def uses_network(self) -> bool:
        """Whether the transformer runs (levels ``"M"`` or ``"H"``)."""
        return bool(set(self.levels) & {"M", "H"})


@dataclass(frozen=True)
class PooledFeatures:
    """A :class:`FeatureBlock` of a timestamp embedding: frame features of the whole clip pooled around each timestamp.

    Attributes:
        block: the block.
        window_samples: its window length in samples.
        columns: ``(start, stop)`` of the output columns it fills.
    """

    block: FeatureBlock
    window_samples: int
    columns: tuple[int, int]


@dataclass(frozen=True)
class ClipFeatures:
    """The frame features of a scene embedding: each one's mean then standard deviation over every frame of the clip.

    Attributes:
        features: names from the descriptor table, in order.
        columns: ``(start, stop)`` of the output columns they fill.
    """

    features: tuple[str, ...]
    columns: tuple[int, int]


Step = WindowPass | PooledFeatures | ClipFeatures
"""One step of a call's plan (:meth:`VariantConfig.plan`)."""


_SPEC_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_.=,+")
"""Characters between the brackets of a variant named by its spec (:mod:`~hear_gear_embed.variant_spec`): none that a
file name cannot hold, so that the name can name folders."""


def _valid_name(name: str) -> bool:
    """Whether ``name`` can name a variant: an identifier not starting with ``_``, optionally followed by a spec's
    ``[key=value,...]``."""
    head, bracket, rest = name.partition("[")
    spec = not bracket or (rest.endswith("]") and set(rest[:-1]) <= _SPEC_CHARACTERS)
    return head.isidentifier() and not head.startswith("_") and spec


@dataclass(frozen=True)
class VariantConfig:
    """A complete embedding model: frontend, network, checkpoint, frame features and how they are read out.

    Attributes:
        name: registry name, or the canonical spec of a variant made from one (also the HEAR module name under
            ``hear_gear_embed.hear``).
        description: one line for listings.
        timestamp_blocks: blocks concatenated, in order, into each timestamp embedding: network
            levels on windows of audio (:class:`WindowBlock`) or pooled frame features of the clip
            (:class:`FeatureBlock`).
        frontend: the spectrogram of the network input and of level ``"L"`` (mel or CQT).
        scene_levels: levels concatenated into a scene embedding. ``"L"`` at scene level is the
            per-band mean of the frontend over the clip (for clips longer than ``scene_window_ms``,
            averaged over the windows like the other levels).
        scene_features: frame features appended to the scene embedding, each as its mean then its
            standard deviation over all frames of the clip.
        net: the PaSST geometry (``None`` for weight-free variants).
        weights: the official weights this variant loads by default (``None``: a checkpoint must be given).
        features: parameters of the frame features.
        timestamp_hop_ms: distance between timestamps in milliseconds.
        scene_window_ms: clips up to this length get one forward pass; longer clips are averaged
            over windows of this length.
        scene_hop_ms: hop between those windows in milliseconds.
        mid_layer: index of the transformer block whose CLS/DIST tokens (after the final norm) form
            ``"M"``; ``-1`` is the last block, as in the paper.
        reference: the authors' module this variant reproduces exactly, if any.
        published: listed by :func:`~hear_gear_embed.registry.list_variants` and offered by the command line
            (test geometries are not, though they work by name everywhere).
    """

    name: str
    description: str
    timestamp_blocks: tuple[WindowBlock | FeatureBlock, ...]
    frontend: Frontend = field(default_factory=MelConfig)
    scene_levels: tuple[Level, ...] = ()
    scene_features: tuple[str, ...] = ()
    net: PasstConfig | None = None
    weights: PretrainedWeights | None = None
    features: FeatureConfig = field(default_factory=FeatureConfig)
    timestamp_hop_ms: float = 50.0
    scene_window_ms: float = 10000.0
    scene_hop_ms: float = 2500.0
    mid_layer: int = -1
    reference: str | None = None
    published: bool = True

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise ValueError(f"variant name {self.name!r} must be a Python identifier not starting with '_', or a "
                             "variant spec such as passt[levels=L+M,rf=160+640,hop=5] (it is also the name of its HEAR "
                             "module)")
        if self.features.sample_rate != self.frontend.sample_rate:
            raise ValueError(
                f"{self.name}: the frame features run at {self.features.sample_rate} Hz, the frontend at "
                f"{self.frontend.sample_rate} Hz"
            )
        if not self.timestamp_blocks:
            raise ValueError(f"{self.name}: at least one timestamp block is needed")
        if not (self.scene_levels or self.scene_features):
            raise ValueError(f"{self.name}: the scene embedding needs scene_levels or scene_features")
        if self.scene_levels:
            _check_levels(self.scene_levels)
        _check_features(self.scene_features)
        if self.timestamp_hop_samples < 1 or self.scene_hop_samples < 1:
            raise ValueError(f"{self.name}: hops must be at least one sample")
        self._check_network()
        for block in self.timestamp_blocks:
            if isinstance(block, WindowBlock):
                self._check_window_block(block)
        for feature in self.feature_names:
            if self.timestamp_hop_samples % self.features.hop(feature):
                raise ValueError(
                    f"{self.name}: the timestamp hop ({self.timestamp_hop_samples} samples) is not a multiple of "
                    f"the {feature!r} frame hop ({self.features.hop(feature)} samples)"
                )
        for feature in self.feature_names:
            problem = get_descriptor(feature).requires(self.features)
            if problem:
                raise ValueError(f"{self.name}: {problem}")

    def _check_network(self) -> None:
        if self.net is None:
            if self.needs_network:
                raise ValueError(f"{self.name}: levels 'M' and 'H' need a network; set net")
            if self.weights is not None:
                raise ValueError(f"{self.name}: official weights without a network geometry (net is None)")
            return
        if self.frontend.n_bands != self.net.n_mels:
            raise ValueError(
                f"{self.name}: the frontend has {self.frontend.n_bands} bands, the network expects {self.net.n_mels}"
            )
        if not -self.net.depth <= self.mid_layer < self.net.depth:
            raise ValueError(f"{self.name}: mid_layer {self.mid_layer} is outside a {self.net.depth}-block network")
        if self.needs_network:
            self._check_fits(self.frontend.n_frames(self.scene_window_samples), "the scene window")

    def _check_window_block(self, block: WindowBlock) -> None:
        n = self.window_samples(block.window_ms)
        if n < self.frontend.min_samples:
            raise ValueError(
                f"{self.name}: a {block.window_ms} ms window is {n} samples, shorter than the "
                f"{self.frontend.min_samples} samples the frontend needs"
            )
        if set(block.levels) & {"M", "H"} and self.net is not None:
            frames = self.frontend.n_frames(n)
            if frames < self.net.patch_size:
                raise ValueError(
                    f"{self.name}: a {block.window_ms} ms window gives {frames} frames, fewer than one "
                    f"{self.net.patch_size}-frame patch"
                )
            self._check_fits(frames, f"the {block.window_ms} ms window")

    def _check_fits(self, frames: int, what: str) -> None:
        if self.net is not None and frames > self.net.max_input_frames:
            raise ValueError(
                f"{self.name}: {what} gives {frames} frames, more than the {self.net.max_input_frames} "
                "frames the time positional encoding covers"
            )

    @property
    def sample_rate(self) -> int:
        """Sample rate in Hz the variant expects."""
        return self.frontend.sample_rate

    def window_samples(self, window_ms: float) -> int:
        """Length in samples of a window of ``window_ms`` milliseconds."""
        return ms_to_samples(window_ms, self.sample_rate)

    @property
    def timestamp_hop_samples(self) -> int:
        """Timestamp hop in samples."""
        return ms_to_samples(self.timestamp_hop_ms, self.sample_rate)

    @property
    def scene_window_samples(self) -> int:
        """Longest clip (samples) embedded in one forward pass."""
        return ms_to_samples(self.scene_window_ms, self.sample_rate)

    @property
    def scene_hop_samples(self) -> int:
        """Hop (samples) of the averaged windows of long clips."""
        return ms_to_samples(self.scene_hop_ms, self.sample_rate)

    @property
    def min_net_samples(self) -> int:
        """Shortest input (samples) the levels accept: one patch of frames (with a network) and a valid frontend."""
        if self.net is None:
            return self.frontend.min_samples
        n = (self.net.patch_size - 1) * self.frontend.hop_length + 1
        return max(n, self.frontend.min_samples)

    def level_size(self, level: Level, window_ms: float | None = None) -> int:
        """Size of one level's features.

        Args:
            level: ``"L"``, ``"M"`` or ``"H"``.
            window_ms: window length for ``"L"`` in a timestamp block (``None``: scene level, where
                ``"L"`` is the per-band mean over the clip).
        """
        if level in ("M", "H"):
            if self.net is None:
                raise ValueError(f"{self.name} has no network, so no level {level!r}")
            return self.net.embed_dim if level == "M" else self.net.num_classes
        if window_ms is None:
            return self.frontend.n_bands
        return self.frontend.n_bands * self.frontend.n_frames(self.window_samples(window_ms))

    def feature_size(self, feature: str, block: FeatureBlock | None = None) -> int:
        """Size of one feature in a :class:`FeatureBlock` (``None``: scene level, mean and std)."""
        dim = self.features.dim(feature)
        if block is None or block.pooling == "meanstd":
            return 2 * dim
        return dim * (2 * half_window_frames(self.window_samples(block.window_ms), self.features.hop(feature)) + 1)

    def block_size(self, block: WindowBlock | FeatureBlock) -> int:
        """Size of one timestamp block."""
        if isinstance(block, WindowBlock):
            return sum(self.level_size(lv, block.window_ms) for lv in block.levels)
        return sum(self.feature_size(f, block) for f in block.features)

    @property
    def timestamp_embedding_size(self) -> int:
        """Size of one timestamp embedding, derived from the blocks."""
        return sum(self.block_size(b) for b in self.timestamp_blocks)

    @property
    def scene_embedding_size(self) -> int:
        """Size of one scene embedding, derived from the scene levels and features."""
        return sum(self.level_size(lv) for lv in self.scene_levels) + sum(self.feature_size(f) for f in self.scene_features)

    @property
    def window_levels(self) -> frozenset[str]:
        """Network-path levels used anywhere (scene or timestamp)."""
        blocks = [b.levels for b in self.timestamp_blocks if isinstance(b, WindowBlock)]
        return frozenset(self.scene_levels).union(*blocks)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Frame features used anywhere, in first-use order."""
        names = [f for b in self.timestamp_blocks if isinstance(b, FeatureBlock) for f in b.features]
        return tuple(dict.fromkeys(names + list(self.scene_features)))

    @property
    def needs_network(self) -> bool:
        """Whether any output uses the transformer (``"M"`` or ``"H"``)."""
        return bool(self.window_levels & {"M", "H"})

    @property
    def shortest_input_samples(self) -> int:
        """Shortest clip (samples) embedded as it is: shorter scene clips are zero-padded at the end to this length."""
        return self.min_net_samples if self.needs_network else self.frontend.min_samples

    def plan(self, n_samples: int, kind: Kind) -> tuple[Step, ...]:
        """What one call on clips of ``n_samples`` samples computes, step by step, in output-column order.

        Timestamp embeddings: one :class:`WindowPass` per :class:`WindowBlock` (a window around every timestamp) and one
        :class:`PooledFeatures` per :class:`FeatureBlock`. Scene embeddings: the scene levels in one
        :class:`WindowPass`, over the whole clip (padded to :attr:`shortest_input_samples`) when it lasts at most
        ``scene_window_ms``, else over windows of that length every ``scene_hop_ms``, averaged; then the scene
        features as :class:`ClipFeatures`.

        Raises:
            ValueError: an unknown kind, or fewer than one sample.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if n_samples < 1:
            raise ValueError(f"a clip needs at least one sample, got {n_samples}")
        steps: list[Step] = []
        start = 0
        if kind == "timestamp":
            stamps = n_timestamps(n_samples, self.timestamp_hop_samples)
            for block in self.timestamp_blocks:
                columns = (start, start + self.block_size(block))
                window = self.window_samples(block.window_ms)
                if isinstance(block, WindowBlock):
                    steps.append(WindowPass(block.levels, window, self.timestamp_hop_samples, stamps, False, columns))
                else:
                    steps.append(PooledFeatures(block, window, columns))
                start = columns[1]
            return tuple(steps)
        if self.scene_levels:
            stop = sum(self.level_size(level) for level in self.scene_levels)
            if n_samples > self.scene_window_samples:
                stamps = n_timestamps(n_samples, self.scene_hop_samples)
                steps.append(WindowPass(self.scene_levels, self.scene_window_samples, self.scene_hop_samples, stamps, True,
                                        (0, stop)))
            else:
                steps.append(WindowPass(self.scene_levels, max(n_samples, self.shortest_input_samples), 0, 1, True, (0, stop)))
            start = stop
        if self.scene_features:
            steps.append(ClipFeatures(self.scene_features, (start, self.scene_embedding_size)))
        return tuple(steps)
