"""The output files of a corpus run, shared by both engines: one ``.npz`` per input, written atomically from a clip
decoded at the model's rate (:func:`decode`) and its embeddings (:func:`embed_and_save`).

Layout (arrays ``float32`` unless said otherwise; strings are 0-d unicode arrays): ``scene``
``(scene_embedding_size,)``, ``timestamp_embeddings`` ``(n_timestamps, timestamp_embedding_size)`` and
``timestamps_ms`` ``(n_timestamps,)`` for the kinds computed (:data:`OUTPUT_KEYS`); the model's identity
(:meth:`~hear_gear_embed.hear.identity.ModelIdentity.to_dict`: ``variant``, ``module``, ``module_version``,
``weights``, ``weights_sha256``, ``precision``); ``sample_rate`` (int64, Hz); the source: ``source`` (path),
``source_sample_rate`` (Hz), ``source_channels``, ``source_frames`` (samples per channel), ``source_bytes`` and
``source_mtime_ns`` (the resume check), all int64 but the path; ``package_version``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._version import __version__
from ..embedding.config import Kind
from ..hear.handle import ClipEmbeddings, EmbeddingModel
from ..hear.identity import ModelIdentity
from ..util.files import write_atomic
from .audio import Clip, read_audio
from .jobs import Job
from .report import FileResult, failed

OUTPUT_KEYS: dict[str, tuple[str, ...]] = {"scene": ("scene",), "timestamp": ("timestamp_embeddings", "timestamps_ms")}
"""The ``.npz`` arrays each embedding kind is saved as."""


def wanted_arrays(kinds: tuple[Kind, ...]) -> tuple[str, ...]:
    """The ``.npz`` arrays a run of these kinds writes (and a resumed run requires)."""
    return tuple(key for kind in kinds for key in OUTPUT_KEYS[kind])


def output_arrays(embeddings: ClipEmbeddings) -> dict[str, np.ndarray]:
    """The arrays of one clip's output file, named as :data:`OUTPUT_KEYS` (timestamps in float32 ms)."""
    arrays = {}
    if embeddings.scene is not None:
        arrays["scene"] = embeddings.scene
    if embeddings.timestamp_embeddings is not None and embeddings.timestamps_ms is not None:
        arrays["timestamp_embeddings"] = embeddings.timestamp_embeddings
        arrays["timestamps_ms"] = embeddings.timestamps_ms.astype(np.float32)
    return arrays


@dataclass(frozen=True)
class Decoded:
    """A clip read for a job, with the source file's size and modification time when it was read (the
    resume check compares them).

    Attributes:
        job: the input and its output.
        clip: mono audio at the model's rate.
        source_bytes: size of the input file, bytes.
        source_mtime_ns: its modification time, ns (``-1`` when unknown).
    """

    job: Job
    clip: Clip
    source_bytes: int
    source_mtime_ns: int

    @property
    def seconds(self) -> float:
        return self.clip.samples.shape[0] / self.clip.sample_rate


def decode(job: Job, sample_rate: int, data: bytes | None = None) -> Decoded:
    """Read ``job.source`` (or ``data``, the bytes of a file of that name) as a mono clip at ``sample_rate``.

    Raises:
        AudioReadError: unreadable, not audio, empty, or NaN/Inf samples.
        OSError: the file cannot be opened or stat'ed.
    """
    if data is None:
        stat = job.source.stat()
        size, mtime = stat.st_size, stat.st_mtime_ns
    else:
        size = len(data)
        mtime = job.source.stat().st_mtime_ns if job.source.is_file() else -1
    return Decoded(job, read_audio(job.source, sample_rate, data=data), size, mtime)


def save_output(decoded: Decoded, embeddings: ClipEmbeddings, identity: ModelIdentity) -> FileResult:
    """Write one output file (arrays and metadata, layout in the module docstring) atomically.

    Returns:
        ``embedded``, or ``failed`` when the file cannot be written.
    """
    job, clip = decoded.job, decoded.clip
    meta: dict[str, object] = {
        **identity.to_dict(),
        "sample_rate": np.int64(clip.sample_rate),
        "source": str(job.source.resolve() if job.source.exists() else job.source),  # bytes read from elsewhere
        "source_sample_rate": np.int64(clip.source.sample_rate),
        "source_channels": np.int64(clip.source.channels),
        "source_frames": np.int64(clip.source.frames),
        "source_bytes": np.int64(decoded.source_bytes),
        "source_mtime_ns": np.int64(decoded.source_mtime_ns),
        "package_version": __version__,
    }
    # numpy's stub lets **kwds fill its keyword `allow_pickle: bool`; no output array has that name
    contents = {**output_arrays(embeddings), **meta}
    try:
        write_atomic(job.output, lambda stream: np.savez(stream, **contents))  # type: ignore[arg-type]
        size = job.output.stat().st_size
    except OSError as err:
        return FileResult(str(job.source), "failed", error=f"cannot write {job.output}: {err}", seconds=decoded.seconds)
    return FileResult(str(job.source), "embedded", str(job.output), seconds=decoded.seconds,
                      source_bytes=decoded.source_bytes, source_mtime_ns=decoded.source_mtime_ns, output_bytes=size)


def embed_and_save(model: EmbeddingModel, clips: list[Decoded], kinds: tuple[Kind, ...], *, max_items: int | None = None,
                   max_samples: int | None = None) -> list[FileResult]:
    """Embed decoded clips (:meth:`~hear_gear_embed.hear.handle.EmbeddingModel.embed`: equal lengths together, within
    the bounds, a failed batch clip by clip) and save each output that embedded: one result per clip, in order."""
    outcomes = model.embed([d.clip.samples for d in clips], kinds, max_items=max_items, max_samples=max_samples,
                           errors="return")
    identity = model.identity
    return [save_output(d, outcome, identity) if isinstance(outcome, ClipEmbeddings)
            else failed(d.job.source, outcome, d.seconds) for d, outcome in zip(clips, outcomes, strict=True)]
