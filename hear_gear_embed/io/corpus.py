"""The local corpus engine: :func:`embed_files` embeds audio files and folders into one ``.npz`` per file on this
machine, batched by length, resumable, with a per-file report in which one bad file never costs the others their
results. What it shares with the Ray engine lives beside it: planning (:mod:`.jobs`), outputs (:mod:`.outputs`), the
resume rule (:mod:`.resume`), the report (:mod:`~hear_gear_embed.io.report`) and the folder's lock and record (:mod:`.folder`)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..embedding.config import KINDS, Kind, check_kinds
from ..hear.handle import EmbeddingModel
from ..hear.spec import ModelSpec, as_model
from ..util.chunking import length_batches
from .audio import AudioInfo, AudioReadError, probe, require_backends
from .folder import OutputFolder
from .jobs import Job, plan_jobs
from .outputs import Decoded, decode, embed_and_save
from .report import CorpusReport, FileResult, failed

logger = logging.getLogger(__name__)


def check_batching(batch_size: int, batch_seconds: float) -> None:
    """The one check of both engines' batching options.

    Raises:
        ValueError: ``batch_size`` below 1, or ``batch_seconds`` not a positive finite number of seconds.
    """
    if batch_size < 1 or not math.isfinite(batch_seconds) or batch_seconds <= 0:
        raise ValueError(f"batch_size must be >= 1 and batch_seconds a positive number of seconds, got {batch_size} and "
                         f"{batch_seconds}")


def embed_files(
    paths: Iterable[str | os.PathLike[str]],
    model: EmbeddingModel | ModelSpec | str,
    out_dir: str | os.PathLike[str],
    *,
    kinds: tuple[Kind, ...] = KINDS,
    overwrite: bool = False,
    batch_size: int = 16,
    batch_seconds: float = 600.0,
    root: str | os.PathLike[str] | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> CorpusReport:
    """Embed audio files and folders into one ``.npz`` per file (layout in the module docstring), on this machine.

    Files are read with :func:`~hear_gear_embed.io.audio.read_audio` (mono mix-down, soxr
    resampling to the model's rate). Files that resample to the same length are embedded
    together in batches. Existing outputs made by the same model and weights from the unchanged
    source file are skipped unless ``overwrite`` (:func:`~.resume.is_up_to_date`). Outputs are written atomically. A
    file that cannot be read, or whose embedding fails, is recorded as failed and the run goes on; when a batch
    fails, its files are retried one by one so that only the culprit fails. The folder is locked for the run, and the
    report and manifest are saved in ``out_dir`` (:data:`~.report.REPORT_NAME`, :data:`~.report.MANIFEST_NAME`), also
    when the run is interrupted (:class:`~.folder.OutputFolder` says what they list).

    Args:
        paths: audio files and folders.
        model: the model (:func:`~hear_gear_embed.hear.spec.load`: any variant or HEAR module), a
            :class:`~hear_gear_embed.hear.spec.ModelSpec` or a name (loaded with its defaults).
        out_dir: output folder (created).
        kinds: the embedding kinds to compute (default both, :data:`~hear_gear_embed.embedding.config.KINDS`).
        overwrite: re-embed files whose outputs exist.
        batch_size: most files per batch.
        batch_seconds: most audio per batch, in seconds at the model's rate (bounds the memory
            of long files; a longer file still forms a batch of one).
        root: outputs mirror the inputs' paths below this folder (see :func:`~.jobs.plan_jobs`).
        progress: called with the number of inputs finished after each step (e.g. a progress bar's
            ``update``).
        on_total: called once with the number of inputs to process, before the first.

    Returns:
        The :class:`~.report.CorpusReport`: the inputs in order, then outputs kept from earlier runs.

    Raises:
        ValueError: bad kinds or batching options.
        OSError: the output folder cannot be created or written.
        FolderBusyError: another run holds the output folder (:func:`~hear_gear_embed.util.files.folder_lock`).
        ReportWriteError: the run finished but its report could not be written (it carries the report).
    """
    kinds = check_kinds(kinds)
    check_batching(batch_size, batch_seconds)
    require_backends()
    corpus_model = as_model(model)
    with OutputFolder(Path(out_dir), corpus_model.identity, kinds, "local") as folder:
        folder.plan(*plan_jobs(paths, folder.out, root=root))
        if on_total is not None:
            on_total(len(folder.jobs))
        todo: list[tuple[Job, AudioInfo]] = []
        for job in folder.pending(overwrite):
            try:
                todo.append((job, probe(job.source)))
            except (AudioReadError, OSError) as err:
                folder.results[job.source] = failed(job.source, err)
        if progress is not None:
            progress(len(folder.jobs) - len(todo))
        rate = corpus_model.sample_rate
        lengths = [math.ceil(info.frames * rate / info.sample_rate) for _, info in todo]
        for batch in length_batches([job for job, _ in todo], lengths, max_items=batch_size,
                                    max_samples=int(batch_seconds * rate)):
            for result in _run_batch(corpus_model, batch, kinds):
                folder.results[Path(result.source)] = result
            if progress is not None:
                progress(len(batch))
    return folder.report


def _run_batch(model: EmbeddingModel, batch: list[Job], kinds: tuple[Kind, ...]) -> list[FileResult]:
    """Read, embed and save one batch (clips of one real length together; a failed batch file by file)."""
    results: list[FileResult] = []
    decoded: list[Decoded] = []
    for job in batch:
        try:
            decoded.append(decode(job, model.sample_rate))
        except (AudioReadError, OSError) as err:
            results.append(failed(job.source, err))
    return results + embed_and_save(model, decoded, kinds)
