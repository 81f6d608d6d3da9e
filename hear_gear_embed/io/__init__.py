"""Audio files in, embeddings out (the ``cli`` extra: ``pip install "hear_gear_embed[cli]"``): find and read audio
files (any sample rate, mixed to mono, resampled with soxr) and embed whole corpora into ``.npz`` files with any
variant or HEAR module, on this machine (:func:`embed_files`) or on a Ray cluster (:mod:`.ray_engine`, the ``ray``
extra). Both engines share the planning (:mod:`.jobs`), the output files (:mod:`.outputs`), the resume rule
(:mod:`.resume`), the report (:mod:`~hear_gear_embed.io.report`) and the output folder's lock and record (:mod:`.folder`).
"""

from .audio import (
    AUDIO_EXTENSIONS,
    AudioInfo,
    AudioReadError,
    Clip,
    find_audio_files,
    probe,
    read_audio,
    require_backends,
    resample,
)
from .corpus import embed_files
from .jobs import Job, plan_jobs, read_path_list
from .outputs import OUTPUT_KEYS
from .report import MANIFEST_NAME, REPORT_NAME, STATUSES, CorpusReport, FileResult, ReportWriteError
from .resume import is_up_to_date, pending_jobs

__all__ = [
    "AUDIO_EXTENSIONS",
    "MANIFEST_NAME",
    "OUTPUT_KEYS",
    "REPORT_NAME",
    "STATUSES",
    "AudioInfo",
    "AudioReadError",
    "Clip",
    "CorpusReport",
    "FileResult",
    "Job",
    "ReportWriteError",
    "embed_files",
    "find_audio_files",
    "is_up_to_date",
    "pending_jobs",
    "plan_jobs",
    "probe",
    "read_audio",
    "read_path_list",
    "require_backends",
    "resample",
]
