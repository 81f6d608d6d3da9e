"""Audio file input and embedding output: find and read audio files (any sample rate, mixed to
mono, resampled with soxr), and embed whole folders into ``.npz`` files (:func:`embed_files`).

Needs the ``cli`` extra: ``pip install "hear_gear_embed[cli]"``.
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
from .corpus import REPORT_NAME, CorpusReport, FileResult, Job, embed_files, plan_jobs, weights_identity

__all__ = [
    "AUDIO_EXTENSIONS",
    "REPORT_NAME",
    "AudioInfo",
    "AudioReadError",
    "Clip",
    "CorpusReport",
    "FileResult",
    "Job",
    "embed_files",
    "find_audio_files",
    "plan_jobs",
    "probe",
    "read_audio",
    "require_backends",
    "resample",
    "weights_identity",
]
