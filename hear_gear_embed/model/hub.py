"""The local cache of official checkpoints: where files live, downloading them, and checking them.

``hear-gear weights list|download|verify`` is the command-line face of this module, so that
clusters without internet access can be given the files ahead of time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .weights import PretrainedWeights

logger = logging.getLogger(__name__)

HOME_ENV = "HEAR_GEAR_EMBED_HOME"
"""Environment variable naming the directory where official checkpoints are cached."""


class WeightsUnavailableError(FileNotFoundError):
    """Official weights are not in the cache and could not be downloaded."""


class ChecksumMismatchError(ValueError):
    """A checkpoint file's SHA-256 differs from the one its record holds (names both, and who attests the expected one)."""


def cache_dir() -> Path:
    """Directory for official checkpoints: ``$HEAR_GEAR_EMBED_HOME``, else torch hub's ``checkpoints``."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import torch.hub  # the default location is torch's, wherever $TORCH_HOME puts it

    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_path(weights: PretrainedWeights) -> Path:
    """Where ``weights`` lives in the cache (whether or not it is there)."""
    return cache_dir() / weights.filename


def sha256_of(path: str | os.PathLike[str], chunk_bytes: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in chunks of ``chunk_bytes``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


Verdict = Literal["match", "mismatch", "no published checksum", "missing"]


@dataclass(frozen=True)
class Verification:
    """The result of checking one file against its record.

    Attributes:
        weights: the record.
        path: the file checked.
        verdict: ``"match"``, ``"mismatch"``, ``"no published checksum"`` (the hash is reported so that
            users can pin it themselves) or ``"missing"`` (no such file).
        sha256: the file's hash (``None`` when missing).
    """

    weights: PretrainedWeights
    path: Path
    verdict: Verdict
    sha256: str | None

    def explain(self) -> str:
        """One line for people: the verdict, the hashes and, for a mismatch, what it means."""
        w = self.weights
        if self.verdict == "missing":
            return f"{w.name}: not cached at {self.path}"
        if self.verdict == "match":
            return f"{w.name}: sha256 {self.sha256} matches ({w.sha256_source})"
        if self.verdict == "no published checksum":
            return f"{w.name}: sha256 {self.sha256} (no checksum is published for this file, so it cannot be verified)"
        return (
            f"{w.name}: sha256 {self.sha256} differs from {w.sha256} ({w.sha256_source}). The file is not the one "
            "that source downloaded: a truncated or corrupted download, a substituted file, or a re-upload by the "
            "authors. Download it again; if it still differs, compare with the release page before trusting it"
        )


def verify(weights: PretrainedWeights, path: str | os.PathLike[str] | None = None) -> Verification:
    """Check ``path`` (default: the cached file) against ``weights.sha256``."""
    target = Path(path) if path is not None else cached_path(weights)
    if not target.is_file():
        return Verification(weights, target, "missing", None)
    digest = sha256_of(target)
    if weights.sha256 is None:
        return Verification(weights, target, "no published checksum", digest)
    return Verification(weights, target, "match" if digest == weights.sha256 else "mismatch", digest)


def download(weights: PretrainedWeights, *, force: bool = False, progress: bool = True) -> Path:
    """Download ``weights`` into the cache (unless cached and not ``force``) and check its checksum when one is known.

    The file is written under a temporary name and moved into place only after the check, so an
    interrupted or mismatching download never leaves a file that later loads would trust; a
    mismatching one is kept as ``<file>.sha256-mismatch`` beside the cache.

    Raises:
        WeightsUnavailableError: the download failed; the message says how to place the file by hand.
        ChecksumMismatchError: the downloaded file's SHA-256 differs from the record's.
    """
    target = cached_path(weights)
    if target.is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    logger.info("downloading %s to %s", weights.url, target)
    import torch.hub  # a resumable-enough downloader with a progress bar, already a dependency

    try:
        torch.hub.download_url_to_file(weights.url, str(partial), progress=progress)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise WeightsUnavailableError(f"could not download {weights.name} from {weights.url} ({err}). {_by_hand(weights)}") from err
    check = verify(weights, partial)
    if check.verdict == "mismatch":
        rejected = target.with_name(target.name + ".sha256-mismatch")
        os.replace(partial, rejected)
        raise ChecksumMismatchError(
            f"{check.explain()}. The download is kept as {rejected} for inspection; once checked, it can be used "
            "by passing its path to load_model(model_file_path=...)"
        )
    os.replace(partial, target)
    return target


def resolve(weights: PretrainedWeights, *, download_missing: bool = True) -> Path:
    """Path of ``weights`` in the cache, downloading it (with a progress bar) when missing and allowed.

    Raises:
        WeightsUnavailableError: not cached and the download is off or failed; the message says
            where to put the file by hand.
        ChecksumMismatchError: a fresh download does not match the record's checksum.
    """
    target = cached_path(weights)
    if target.is_file():
        return target
    if not download_missing:
        raise WeightsUnavailableError(f"checkpoint {weights.name} is not cached at {target}. {_by_hand(weights)}")
    return download(weights)


def _by_hand(weights: PretrainedWeights) -> str:
    target = cached_path(weights)
    return (
        f"Download {weights.url} by other means (`hear-gear weights download {weights.name}` on a machine with "
        f"internet access) and save it as {target} (or set ${HOME_ENV} to the folder holding {weights.filename}), "
        "or pass the file's path to load_model(model_file_path=...)."
    )
