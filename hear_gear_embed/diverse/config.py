"""What a diverse model is (pure data, no torch): its streams, its encoders' geometry and how it reads audio out, and the
registry of its configurations (:func:`register_diverse`, :func:`get_diverse`). Every size is derived here.

Seed 001 learns one embedding per kind of audio feature (pitch, timbre, waveform, a network's embeddings) with one
small transformer each, and concatenates them. A :class:`Stream` names where a stream's frames come from: frame
features of the descriptor table, raw-waveform patches, or the timestamp embeddings of another network (a
"neuralogram"). The seed's encoder is 6 layers of width 64 with "12 heads", which does not divide 64: this package
uses 8 heads of 8 dimensions (8 and 16 are the divisors of 64 nearest to 12; 16 would leave heads of 4).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ..features.catalogue import get_descriptor
from ..features.config import FeatureConfig
from ..frontends.config import CqtConfig, MelConfig
from ..util.names import unknown_name
from ..util.units import ms_to_samples

StreamKind = Literal["features", "waveform", "neuralogram"]
STREAM_KINDS: tuple[StreamKind, ...] = ("features", "waveform", "neuralogram")


@dataclass(frozen=True)
class Stream:
    """One stream of a diverse model: a sequence of frames, each ``frame_dim`` values, read by its own encoder.

    Attributes:
        name: what the stream is called in sizes, reports and ``--streams`` (an identifier).
        kind: ``"features"`` (frame features of the descriptor table), ``"waveform"`` (non-overlapping patches of the
            raw waveform, frame ``j`` centred on sample ``j * patch``) or ``"neuralogram"`` (the timestamp embeddings
            of another model, frozen).
        features: descriptor names (kind ``"features"``), concatenated per frame; they share one frame hop.
        patch_ms: patch length in ms (kind ``"waveform"``).
        source: a variant name or a HEAR module's import name (kind ``"neuralogram"``), e.g. ``passt_base``.
        source_weights: the source's weights: ``""`` (its default), ``"random"`` (seeded, for tests) or a file.
    """

    name: str
    kind: StreamKind
    features: tuple[str, ...] = ()
    patch_ms: float = 0.0
    source: str = ""
    source_weights: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"stream name {self.name!r} must be an identifier")
        if self.kind not in STREAM_KINDS:
            raise ValueError(f"stream {self.name}: kind must be one of {STREAM_KINDS}, got {self.kind!r}")
        given = {"features": bool(self.features), "waveform": self.patch_ms != 0.0, "neuralogram": bool(self.source)}
        wrong = [k for k, is_set in given.items() if is_set and k != self.kind]
        if wrong or not given[self.kind] or (self.source_weights and self.kind != "neuralogram"):
            raise ValueError(f"stream {self.name}: a {self.kind} stream takes "
                             + {"features": "features (descriptor names)", "waveform": "patch_ms",
                                "neuralogram": "source (and source_weights)"}[self.kind] + " only")
        for feature in self.features:
            get_descriptor(feature)
        if len(set(self.features)) != len(self.features):
            raise ValueError(f"stream {self.name}: features repeat: {self.features}")
        if self.kind == "waveform" and (not math.isfinite(self.patch_ms) or self.patch_ms <= 0):
            raise ValueError(f"stream {self.name}: patch_ms must be a positive number of ms, got {self.patch_ms}")


@dataclass(frozen=True)
class Encoder:
    """The geometry of every stream's transformer: a linear projection of each frame to ``width``, a CLS token,
    sinusoidal positions, ``depth`` pre-norm blocks, a final LayerNorm; the CLS token's output is the stream's
    embedding.

    Attributes:
        depth: transformer blocks.
        width: token width (the stream's embedding size).
        heads: attention heads; must divide ``width``.
        mlp_ratio: hidden width of each block's MLP over ``width``.
    """

    depth: int = 6
    width: int = 64
    heads: int = 8
    mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        for name in ("depth", "width", "heads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"encoder {name} must be a positive integer, got {value!r}")
        if self.width % self.heads:
            raise ValueError(f"{self.heads} heads do not divide a width of {self.width}")
        if not math.isfinite(self.mlp_ratio) or self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be a positive number, got {self.mlp_ratio}")


SEED001_FEATURES = FeatureConfig(n_mfcc=12)
"""Frame features as seed 001 reads them: 12 MFCCs (timbre); binary CQT peaks (pitch) as the descriptor table
computes them (84 semitone bins from C1, 10 ms hop)."""


@dataclass(frozen=True)
class DiverseConfig:
    """A diverse model: streams, one encoder each, their embeddings concatenated in stream order.

    Audio is read in windows of ``window_ms`` (seed 001's 1 s chunks): a timestamp embedding is the model's output on
    the window centred on the timestamp; a scene embedding is the mean of its outputs on windows centred every
    ``window_ms`` from the clip's start (each window sees the frames whose centres lie within it; frames beyond the
    clip repeat its edge frame). Stream frames are computed once per clip, then gathered per window.

    Attributes:
        name: registry name.
        description: one line for listings.
        streams: the streams, in embedding order.
        encoder: every stream encoder's geometry.
        features: parameters of the frame features.
        window_ms: window (receptive field) of one embedding, ms.
        timestamp_hop_ms: distance between timestamps, ms.
        published: listed by :func:`list_diverse` (test geometries are not).
    """

    name: str
    description: str
    streams: tuple[Stream, ...]
    encoder: Encoder = field(default_factory=Encoder)
    features: FeatureConfig = SEED001_FEATURES
    window_ms: float = 1000.0
    timestamp_hop_ms: float = 50.0
    published: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name.startswith("_"):
            raise ValueError(f"diverse model name {self.name!r} must be an identifier not starting with '_'")
        if not self.streams:
            raise ValueError(f"{self.name}: at least one stream is needed")
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: stream names repeat: {names}")
        for value, what in ((self.window_ms, "window_ms"), (self.timestamp_hop_ms, "timestamp_hop_ms")):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{self.name}: {what} must be a positive number of ms, got {value}")
        if self.timestamp_hop_samples < 1:
            raise ValueError(f"{self.name}: the timestamp hop is shorter than one sample")
        for stream in self.streams:
            if stream.kind == "features":
                hops = {self.features.hop(f) for f in stream.features}
                if len(hops) > 1:
                    raise ValueError(f"{self.name}: the features of stream {stream.name} {stream.features} have "
                                     f"different frame hops ({sorted(hops)} samples); put them in separate streams")
                for feature in stream.features:
                    problem = get_descriptor(feature).requires(self.features)
                    if problem:
                        raise ValueError(f"{self.name}: {problem}")
            if stream.kind == "waveform" and self.patch_samples(stream) < 1:
                raise ValueError(f"{self.name}: stream {stream.name}'s patches are shorter than one sample")

    @property
    def sample_rate(self) -> int:
        """Sample rate in Hz the model reads."""
        return self.features.sample_rate

    @property
    def window_samples(self) -> int:
        """Samples in one window."""
        return ms_to_samples(self.window_ms, self.sample_rate)

    @property
    def timestamp_hop_samples(self) -> int:
        """Timestamp hop in samples."""
        return ms_to_samples(self.timestamp_hop_ms, self.sample_rate)

    def patch_samples(self, stream: Stream) -> int:
        """Samples in one patch of a waveform stream."""
        return ms_to_samples(stream.patch_ms, self.sample_rate)

    def frame_hop(self, stream: Stream) -> int | None:
        """Samples between a stream's frames; ``None`` for a neuralogram (its source's hop, known once loaded)."""
        if stream.kind == "features":
            return self.features.hop(stream.features[0])
        if stream.kind == "waveform":
            return self.patch_samples(stream)
        return None

    def frame_dim(self, stream: Stream) -> int | None:
        """Values per frame of a stream; ``None`` for a neuralogram (its source's embedding size)."""
        if stream.kind == "features":
            return sum(self.features.dim(f) for f in stream.features)
        if stream.kind == "waveform":
            return self.patch_samples(stream)
        return None

    def frames_per_window(self, hop: int) -> int:
        """Frames one window reads at a frame hop of ``hop`` samples: the centre frame and as many whole hops on each
        side as fit in half a window (at least the centre frame)."""
        return 2 * ((self.window_samples // 2) // hop) + 1

    @property
    def embedding_size(self) -> int:
        """Size of a scene or timestamp embedding: one encoder width per stream."""
        return self.encoder.width * len(self.streams)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Descriptor names of every features stream, in first-use order."""
        return tuple(dict.fromkeys(f for s in self.streams for f in s.features))

    @property
    def neuralogram(self) -> Stream | None:
        """The neuralogram stream, if any."""
        return next((s for s in self.streams if s.kind == "neuralogram"), None)

    def stream(self, name: str) -> Stream:
        """The stream called ``name``.

        Raises:
            ValueError: no such stream, with the closest names.
        """
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise ValueError(unknown_name("stream", name, [s.name for s in self.streams]))

    def with_streams(self, names: tuple[str, ...] | list[str]) -> DiverseConfig:
        """This configuration with the streams ``names`` only (in this configuration's order), named
        ``<name>_<stream>_<stream>...``: an ablation of seed 001.

        Raises:
            ValueError: an unknown or repeated stream name, or none.
        """
        wanted = list(names)
        if not wanted or len(set(wanted)) != len(wanted):
            raise ValueError(f"choose one or more distinct streams of {self.name}, got {wanted}")
        for name in wanted:
            self.stream(name)
        kept = tuple(s for s in self.streams if s.name in wanted)
        if len(kept) == len(self.streams):
            return self
        return dataclasses.replace(self, name="_".join([self.name, *(s.name for s in kept)]), streams=kept,
                                   description=f"{self.name} with the streams {', '.join(s.name for s in kept)} only")

    def with_source(self, source: str, weights: str = "") -> DiverseConfig:
        """This configuration with its neuralogram read from ``source`` (a variant or HEAR module) with ``weights``.

        Raises:
            ValueError: the configuration has no neuralogram stream.
        """
        stream = self.neuralogram
        if stream is None:
            raise ValueError(f"{self.name} has no neuralogram stream to take from {source}")
        replaced = dataclasses.replace(stream, source=source, source_weights=weights)
        return dataclasses.replace(self, streams=tuple(replaced if s is stream else s for s in self.streams))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (what a checkpoint stores as its geometry)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> DiverseConfig:
        """The inverse of :meth:`to_dict`.

        Raises:
            ValueError: a record that is not a diverse configuration.
        """
        try:
            record = dict(record)
            features = dict(record["features"])
            features["mel"] = MelConfig(**features["mel"])
            features["cqt"] = CqtConfig(**features["cqt"])
            streams = tuple(Stream(**{**s, "features": tuple(s["features"])}) for s in record["streams"])
            return cls(**{**record, "streams": streams, "encoder": Encoder(**record["encoder"]),
                          "features": FeatureConfig(**features)})
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a diverse model configuration: {type(err).__name__}: {err}") from err


_DIVERSE: dict[str, DiverseConfig] = {}


def register_diverse(config: DiverseConfig, *, overwrite: bool = False) -> DiverseConfig:
    """Add ``config`` to the registry of diverse models (``overwrite`` to replace one of the same name)."""
    if config.name in _DIVERSE and not overwrite:
        raise ValueError(f"diverse model {config.name!r} is already registered; pass overwrite=True to replace it")
    _DIVERSE[config.name] = config
    return config


def get_diverse(name: str) -> DiverseConfig:
    """The registered diverse model ``name``.

    Raises:
        KeyError: unknown name, with the closest names.
    """
    try:
        return _DIVERSE[name]
    except KeyError:
        raise KeyError(unknown_name("diverse model", name, list(_DIVERSE))) from None


def is_diverse(name: str) -> bool:
    """Whether ``name`` is a registered diverse model."""
    return name in _DIVERSE


def list_diverse(pattern: str | None = None, *, include_unpublished: bool = False) -> list[str]:
    """Names of registered diverse models (published ones unless ``include_unpublished``) matching ``pattern``."""
    return [n for n, c in _DIVERSE.items()
            if (c.published or include_unpublished) and (pattern is None or fnmatch.fnmatchcase(n, pattern))]


SEED001_STREAMS: tuple[Stream, ...] = (
    Stream("pitch", "features", features=("peaks",)),
    Stream("timbre", "features", features=("mfcc",)),
    Stream("waveform", "waveform", patch_ms=10.0),
    Stream("neuralogram", "neuralogram", source="passt_base"),
)
"""Seed 001's four streams: binary spectral peaks, 12 MFCCs, 10 ms raw-waveform patches, and a pretrained network's
embeddings (the seed's MobileNet weights are not public: PaSST's M+H timestamp embeddings stand in, the same idea)."""

register_diverse(DiverseConfig(
    name="diverse",
    description="Seed 001: pitch peaks, 12 MFCCs, 10 ms waveform patches and PaSST's embeddings, one transformer each "
    "(6 x 64, 8 heads), 1 s windows",
    streams=SEED001_STREAMS,
))
register_diverse(DiverseConfig(
    name="diverse_tiny",
    description="Tiny geometry of diverse for tests (1 block of width 16, 2 heads; neuralogram from random tiny_test)",
    streams=SEED001_STREAMS[:3] + (Stream("neuralogram", "neuralogram", source="tiny_test", source_weights="random"),),
    encoder=Encoder(depth=1, width=16, heads=2, mlp_ratio=2.0),
    window_ms=500.0,
    published=False,
))
