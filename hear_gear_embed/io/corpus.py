"""Embed a collection of audio files into one ``.npz`` per file: batched by length, resumable, and
with a per-file report in which one bad file never costs the others their results.

Output file layout (all arrays ``float32`` unless said otherwise; strings are 0-d unicode arrays)::

    scene                  (scene_embedding_size,)                  when "scene" is among the kinds
    timestamp_embeddings   (n_timestamps, timestamp_embedding_size) when "timestamp" is among the kinds
    timestamps_ms          (n_timestamps,) centre of each window, ms, with timestamp_embeddings
    variant                variant name
    weights                checkpoint path, "random (seed N)" or "none"
    weights_sha256         SHA-256 of the checkpoint file ("" when there is none)
    precision              format of the network's matrix products: "fp32", "bf16" or "fp16"
    sample_rate            int64, Hz: the rate the clip was embedded at
    source                 the input file
    source_sample_rate     int64, Hz
    source_channels        int64 (mixed down to mono by averaging)
    source_frames          int64, samples per channel
    source_bytes           int64, size of the input file (resume check)
    source_mtime_ns        int64, modification time of the input file (resume check)
    package_version        hear_gear_embed version
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .._version import __version__
from ..embedding.config import KINDS, Kind
from ..embedding.embedder import Embedder
from ..model.hub import sha256_of
from .audio import AUDIO_EXTENSIONS, AudioInfo, AudioReadError, Clip, find_audio_files, probe, read_audio, require_backends

logger = logging.getLogger(__name__)

_OUTPUT_KEYS: dict[str, tuple[str, ...]] = {"scene": ("scene",), "timestamp": ("timestamp_embeddings",)}
"""The ``.npz`` arrays each embedding kind is saved as (``timestamps_ms`` goes with ``timestamp_embeddings``)."""

REPORT_NAME = "embed-report.json"
"""Name of the run report written in the output folder."""


@dataclass(frozen=True)
class Job:
    """One input file and where its embeddings go.

    Attributes:
        source: the audio file.
        output: its ``.npz`` file: ``<out>/<path relative to the folder given>/<file name>.npz``, or
            ``<out>/<file name>.npz`` for a file given directly. The audio extension is kept, so
            ``a.wav`` and ``a.flac`` side by side do not collide.
    """

    source: Path
    output: Path


@dataclass
class FileResult:
    """Outcome for one input.

    Attributes:
        source: the input path as given or found.
        status: ``"embedded"``, ``"skipped"`` (up-to-date output from an earlier run) or ``"failed"``.
        output: the ``.npz`` file (``None`` when there is none).
        error: why it failed (``None`` otherwise).
        seconds: audio duration in seconds (when read).
    """

    source: str
    status: str
    output: str | None = None
    error: str | None = None
    seconds: float | None = None


@dataclass
class CorpusReport:
    """Outcome of :func:`embed_files`, one :class:`FileResult` per input; saved as JSON in the output folder."""

    variant: str
    weights: str
    kinds: tuple[Kind, ...]
    precision: str = "fp32"
    results: list[FileResult] = field(default_factory=list)
    wall_seconds: float = 0.0

    def count(self, status: str) -> int:
        """Number of inputs with ``status``."""
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[FileResult]:
        """Inputs that failed, in input order."""
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        """One line: counts per status and the audio time embedded."""
        audio = sum(r.seconds or 0.0 for r in self.results if r.status == "embedded")
        return (f"{self.count('embedded')} embedded ({audio:.1f} s of audio in {self.wall_seconds:.1f} s), "
                f"{self.count('skipped')} already done, {self.count('failed')} failed")

    def save(self, path: Path) -> None:
        """Write the report as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def plan_jobs(paths: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str]) -> tuple[list[Job], list[FileResult]]:
    """Map inputs to output files.

    Args:
        paths: audio files and folders (searched recursively, see :func:`find_audio_files`).
        out_dir: output folder.

    Returns:
        ``(jobs, failures)``: a job per audio file found, in order, without repeats; a failed
        :class:`FileResult` for each path that does not exist and each file whose output would
        collide with an earlier one's (same file name given from two folders).
    """
    out = Path(out_dir)
    jobs: list[Job] = []
    failures: list[FileResult] = []
    seen_sources: set[Path] = set()
    owner: dict[Path, Path] = {}
    for given in map(Path, paths):
        try:
            files = find_audio_files(given)
        except FileNotFoundError as err:
            failures.append(FileResult(str(given), "failed", error=_describe(err, given)))
            continue
        if given.is_dir() and not files:
            logger.warning("%s: no audio files (%s) in this folder", given, ", ".join(AUDIO_EXTENSIONS))
        for source in files:
            key = source.resolve()
            if key in seen_sources:
                continue
            seen_sources.add(key)
            relative = source.relative_to(given).parent if given.is_dir() else Path()
            output = out / relative / (source.name + ".npz")
            if output in owner:
                failures.append(FileResult(str(source), "failed", error=(
                    f"its output {output} would overwrite that of {owner[output]}; embed the two in separate runs "
                    "or pass their common folder")))
                continue
            owner[output] = source
            jobs.append(Job(source, output))
    return jobs, failures


def weights_identity(embedder: Embedder) -> tuple[str, str]:
    """``(weights, sha256)``: where the embedder's weights come from and the checkpoint's SHA-256
    (``""`` for random weights or a weight-free variant)."""
    source = embedder.weights_source
    if embedder.net is None or not Path(source).is_file():
        return source, ""
    return source, sha256_of(source)


def _is_up_to_date(job: Job, identity: dict[str, object], wanted: tuple[str, ...]) -> bool:
    """Whether ``job.output`` holds the wanted arrays for this source file and these weights.

    Raises:
        ValueError: the output exists but was made with another variant, other weights or another precision, so that
            neither skipping it nor silently replacing it would be right.
    """
    if not job.output.is_file():
        return False
    try:
        with np.load(job.output, allow_pickle=False) as saved:
            stored = {k: saved[k] for k in saved.files}
    except (OSError, ValueError, EOFError) as err:
        logger.warning("%s: unreadable earlier output (%s); embedding again", job.output, err)
        return False
    # The same checkpoint file may have moved: its hash identifies it; random weights go by their seed.
    # Outputs written before precisions existed are fp32.
    stored.setdefault("precision", np.array("fp32"))
    keys = ("variant", "weights_sha256") if identity["weights_sha256"] else ("variant", "weights")
    for key in (*keys, "precision"):
        if key in stored and str(stored[key]) != str(identity[key]):
            raise ValueError(f"{job.output} exists with {key} {str(stored[key])!r}, not {str(identity[key])!r}; "
                             "pass --overwrite to replace it, or choose another output folder")
    stat = job.source.stat()
    if int(stored.get("source_bytes", -1)) != stat.st_size or int(stored.get("source_mtime_ns", -1)) != stat.st_mtime_ns:
        logger.info("%s changed since %s was written; embedding again", job.source, job.output)
        return False
    return all(k in stored for k in wanted)


def _save_atomic(path: Path, arrays: dict[str, object]) -> None:
    """Write ``arrays`` to ``path`` through a temporary file, so that an interrupted run never
    leaves a partial output that a resumed run would take for a finished one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            # numpy's stub lets **kwds fill its keyword `allow_pickle: bool`; no output array has that name
            np.savez(stream, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _batches(infos: Sequence[tuple[Job, AudioInfo]], rate: int, batch_size: int,
             batch_seconds: float) -> list[list[tuple[Job, AudioInfo]]]:
    """Groups of files that resample to the same length, each group split into batches of at most
    ``batch_size`` files and ``batch_seconds`` of audio in all (at least one file)."""
    groups: dict[int, list[tuple[Job, AudioInfo]]] = {}
    for job, info in infos:
        groups.setdefault(math.ceil(info.frames * rate / info.sample_rate), []).append((job, info))
    batches = []
    for length, members in sorted(groups.items()):
        per_batch = max(1, min(batch_size, int(batch_seconds * rate // max(length, 1))))
        batches += [members[i: i + per_batch] for i in range(0, len(members), per_batch)]
    return batches


def _embed_clips(embedder: Embedder, clips: list[Clip], kinds: tuple[Kind, ...]) -> list[dict[str, np.ndarray]]:
    """Embeddings of equal-length clips, one dict per clip."""
    audio = np.stack([c.samples for c in clips])
    out: list[dict[str, np.ndarray]] = [{} for _ in clips]
    if "scene" in kinds:
        scene = embedder.scene_embeddings(audio).cpu().numpy()
        for i, row in enumerate(scene):
            out[i]["scene"] = row
    if "timestamp" in kinds:
        emb, stamps = embedder.timestamp_embeddings(audio)
        emb_np, stamps_np = emb.cpu().numpy(), stamps.cpu().numpy()
        for i in range(len(clips)):
            out[i]["timestamp_embeddings"] = emb_np[i]
            out[i]["timestamps_ms"] = stamps_np[i]
    return out


def _describe(err: BaseException, source: Path | None = None) -> str:
    """``err`` as one readable line: the message without a leading ``"<source>: "`` (the report names
    the file already), and with the exception type when it is not self-explanatory."""
    message = str(err).strip() or type(err).__name__
    if source is not None:
        message = message.removeprefix(f"{source}: ")
    return message if isinstance(err, (AudioReadError, FileNotFoundError)) else f"{type(err).__name__}: {message}"


def embed_files(
    paths: Iterable[str | os.PathLike[str]],
    embedder: Embedder,
    out_dir: str | os.PathLike[str],
    *,
    kinds: tuple[Kind, ...] = KINDS,
    overwrite: bool = False,
    batch_size: int = 16,
    batch_seconds: float = 600.0,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> CorpusReport:
    """Embed audio files and folders into one ``.npz`` per file (layout in the module docstring).

    Files are read with :func:`~hear_gear_embed.io.audio.read_audio` (mono mix-down, soxr
    resampling to the embedder's rate). Files that resample to the same length are embedded
    together in batches. Existing outputs made by the same variant and weights from the unchanged
    source file are skipped unless ``overwrite``. Outputs are written atomically. A file that
    cannot be read, or whose embedding fails, is recorded as failed and the run goes on; when a batch
    fails, its files are retried one by one so that only the culprit fails. The report is saved as
    :data:`REPORT_NAME` in ``out_dir``, also when the run is interrupted.

    Args:
        paths: audio files and folders.
        embedder: the model (any variant).
        out_dir: output folder (created).
        kinds: the embedding kinds to compute (default both, :data:`~hear_gear_embed.embedding.config.KINDS`).
        overwrite: re-embed files whose outputs exist.
        batch_size: most files per batch.
        batch_seconds: most audio per batch, in seconds at the embedder's rate (bounds the memory
            of long files; a longer file still forms a batch of one).
        progress: called with the number of inputs finished after each step (e.g. a progress bar's
            ``update``).
        on_total: called once with the number of inputs to process, before the first.

    Returns:
        The :class:`CorpusReport`, in input order.
    """
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty selection of {KINDS}, got {kinds!r}")
    kinds = tuple(k for k in KINDS if k in kinds)
    if batch_size < 1 or batch_seconds <= 0:
        raise ValueError(f"batch_size must be >= 1 and batch_seconds > 0, got {batch_size} and {batch_seconds}")
    require_backends()
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights, sha = weights_identity(embedder)
    report = CorpusReport(embedder.variant.name, weights, kinds, embedder.precision)
    identity: dict[str, object] = {"variant": embedder.variant.name, "weights": weights, "weights_sha256": sha,
                                   "precision": embedder.precision}
    wanted = tuple(key for kind in kinds for key in _OUTPUT_KEYS[kind])
    jobs, failures = plan_jobs(paths, out)
    results: dict[Path, FileResult] = {}
    if on_total is not None:
        on_total(len(jobs))
    try:
        todo: list[tuple[Job, AudioInfo]] = []
        for job in jobs:
            try:
                if not overwrite and _is_up_to_date(job, identity, wanted):
                    results[job.source] = FileResult(str(job.source), "skipped", str(job.output))
                else:
                    todo.append((job, probe(job.source)))
                    continue
            except (AudioReadError, ValueError, OSError) as err:
                results[job.source] = FileResult(str(job.source), "failed", error=_describe(err, job.source))
            if progress is not None:
                progress(1)
        for batch in _batches(todo, embedder.sample_rate, batch_size, batch_seconds):
            _run_batch(embedder, batch, kinds, identity, results)
            if progress is not None:
                progress(len(batch))
    finally:
        report.results = failures + [results.get(j.source) or FileResult(str(j.source), "failed", error="not processed "
                                     "(the run stopped early)") for j in jobs]
        report.wall_seconds = time.perf_counter() - start
        report.save(out / REPORT_NAME)
    return report


def _run_batch(embedder: Embedder, batch: list[tuple[Job, AudioInfo]], kinds: tuple[Kind, ...], identity: dict[str, object],
               results: dict[Path, FileResult]) -> None:
    """Read, embed and save one batch, filling ``results``; a failed batch is retried file by file."""
    clips: list[tuple[Job, Clip]] = []
    for job, _ in batch:
        try:
            clips.append((job, read_audio(job.source, embedder.sample_rate)))
        except (AudioReadError, OSError) as err:
            results[job.source] = FileResult(str(job.source), "failed", error=_describe(err, job.source))
    by_length: dict[int, list[tuple[Job, Clip]]] = {}
    for job, clip in clips:
        by_length.setdefault(clip.samples.shape[0], []).append((job, clip))
    for group in by_length.values():
        _embed_group(embedder, group, kinds, identity, results)


def _embed_group(embedder: Embedder, group: list[tuple[Job, Clip]], kinds: tuple[Kind, ...], identity: dict[str, object],
                 results: dict[Path, FileResult]) -> None:
    """Embed and save clips of equal length; when the batch fails, each clip is tried alone."""
    try:
        embedded = _embed_clips(embedder, [c for _, c in group], kinds)
    except Exception as err:  # noqa: BLE001 - whatever the cause, the files are retried alone, then reported one by one
        if len(group) > 1:
            logger.warning("a batch of %d files failed (%s); retrying them one by one", len(group), _describe(err))
            for member in group:
                _embed_group(embedder, [member], kinds, identity, results)
            return
        job, clip = group[0]
        results[job.source] = FileResult(str(job.source), "failed", error=_describe(err, job.source),
                                         seconds=clip.samples.shape[0] / clip.sample_rate)
        return
    for (job, clip), arrays in zip(group, embedded, strict=True):
        _save(job, clip, arrays, identity, results)


def _save(job: Job, clip: Clip, arrays: dict[str, np.ndarray], identity: dict[str, object],
          results: dict[Path, FileResult]) -> None:
    """Write one output file with its metadata and record the result."""
    stat = job.source.stat()
    meta: dict[str, object] = {
        **identity,
        "sample_rate": np.int64(clip.sample_rate),
        "source": str(job.source.resolve()),
        "source_sample_rate": np.int64(clip.source.sample_rate),
        "source_channels": np.int64(clip.source.channels),
        "source_frames": np.int64(clip.source.frames),
        "source_bytes": np.int64(stat.st_size),
        "source_mtime_ns": np.int64(stat.st_mtime_ns),
        "package_version": __version__,
    }
    seconds = clip.samples.shape[0] / clip.sample_rate
    try:
        _save_atomic(job.output, {**arrays, **meta})
    except OSError as err:
        results[job.source] = FileResult(str(job.source), "failed", error=f"cannot write {job.output}: {err}", seconds=seconds)
        return
    results[job.source] = FileResult(str(job.source), "embedded", str(job.output), seconds=seconds)
