"""Audio file input and embedding output: find and read audio files (any sample rate, mixed to
mono, resampled with soxr), and embed whole corpora into ``.npz`` files with any variant or HEAR module,
on this machine (:func:`embed_files`) or on a Ray cluster (:mod:`.ray_engine`, the ``ray`` extra).

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
from .corpus import embed_files, plan_jobs, read_path_list
from .models import IDENTITY_KEYS, CorpusModel, HearModuleModel, ModelSpec, VariantModel
from .record import (
    MANIFEST_NAME,
    REPORT_NAME,
    STATUSES,
    CorpusReport,
    FileResult,
    Job,
    ReportWriteError,
    is_up_to_date,
    pending_jobs,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "IDENTITY_KEYS",
    "MANIFEST_NAME",
    "REPORT_NAME",
    "STATUSES",
    "AudioInfo",
    "AudioReadError",
    "Clip",
    "CorpusModel",
    "CorpusReport",
    "FileResult",
    "HearModuleModel",
    "Job",
    "ModelSpec",
    "ReportWriteError",
    "VariantModel",
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
