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

from ..util.files import check_writable
from .weights import PretrainedWeights

logger = logging.getLogger(__name__)

HOME_ENV = "HEAR_GEAR_EMBED_HOME"
"""Environment variable naming the directory where official checkpoints are cached."""


class WeightsUnavailableError(FileNotFoundError):
    """Official weights are not in the cache and could not be downloaded."""


class ChecksumMismatchError(ValueError):
    """A checkpoint file's SHA-256 differs from the one its record holds (names both, and who attests the expected one)."""


class CacheUnavailableError(WeightsUnavailableError):
    """The cache folder cannot be created or is not writable, so no checkpoint can be downloaded into it (names the
    folder, where its name comes from, and the operating system's error)."""


def cache_dir() -> Path:
    """Directory for official checkpoints: ``$HEAR_GEAR_EMBED_HOME``, else torch hub's ``checkpoints``."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import torch.hub  # the default location is torch's, wherever $TORCH_HOME puts it

    return Path(torch.hub.get_dir()) / "checkpoints"


def writable_cache_dir() -> Path:
    """:func:`cache_dir`, created if needed, once it is known to be writable (downloads are written there); checked by
    writing in it (:func:`~hear_gear_embed.util.files.check_writable`), which also holds for root and read-only mounts.

    Raises:
        CacheUnavailableError: the folder cannot be created (a file in the way, no permission) or written.
    """
    folder = cache_dir()
    origin = f"${HOME_ENV}" if os.environ.get(HOME_ENV) else "torch hub's checkpoints folder"
    try:
        check_writable(folder)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        cause = err.__cause__ if isinstance(err.__cause__, OSError) else err
        raise CacheUnavailableError(
            f"the weights cache folder {folder} ({origin}) cannot be created or written: {type(cause).__name__}: {cause}; "
            f"set ${HOME_ENV} to a folder that can be written, or pass a checkpoint's path to "
            "load_model(model_file_path=...)") from err
    return folder


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


Verdict = Literal["match", "mismatch", "no published checksum", "not a checkpoint", "missing"]


@dataclass(frozen=True)
class Verification:
    """The result of checking one file against its record.

    Attributes:
        weights: the record.
        path: the file checked.
        verdict: ``"match"`` or ``"mismatch"`` (against the record's checksum); without a checksum,
            ``"no published checksum"`` (the file loads into the record's network, and its hash is reported so that
            users can pin it themselves) or ``"not a checkpoint"`` (it does not load: :attr:`reason` says why);
            ``"missing"`` (no such file).
        sha256: the file's hash (``None`` when missing).
        reason: why the file is not a checkpoint of the record (``""`` for the other verdicts).
    """

    weights: PretrainedWeights
    path: Path
    verdict: Verdict
    sha256: str | None
    reason: str = ""

    def explain(self) -> str:
        """One line for people: the verdict, the hashes and, for a mismatch, what it means."""
        w = self.weights
        if self.verdict == "missing":
            return f"{w.name}: not cached at {self.path}"
        if self.verdict == "match":
            return f"{w.name}: sha256 {self.sha256} matches ({w.sha256_source})"
        if self.verdict == "no published checksum":
            return (f"{w.name}: sha256 {self.sha256}, a checkpoint of this record's network (no checksum is published "
                    "for this file, so its content cannot be verified)")
        if self.verdict == "not a checkpoint":
            return (f"{w.name}: {self.path} (sha256 {self.sha256}) is not a checkpoint of this record: {self.reason}. "
                    f"Download it again: `hear-gear weights download --force {w.name}`")
        return (
            f"{w.name}: sha256 {self.sha256} differs from {w.sha256} ({w.sha256_source}). The file is not the one "
            "that source downloaded: a truncated or corrupted download, a substituted file, or a re-upload by the "
            "authors. Download it again; if it still differs, compare with the release page before trusting it"
        )


def verify(weights: PretrainedWeights, path: str | os.PathLike[str] | None = None) -> Verification:
    """Check ``path`` (default: the cached file) against ``weights.sha256``, or, where the record has none, check that
    it loads into the record's network as ``load_model`` would load it (:func:`.checkpoint.load_checkpoint`)."""
    target = Path(path) if path is not None else cached_path(weights)
    if not target.is_file():
        return Verification(weights, target, "missing", None)
    digest = sha256_of(target)
    if weights.sha256 is not None:
        return Verification(weights, target, "match" if digest == weights.sha256 else "mismatch", digest)
    reason = _not_a_checkpoint(weights, target)
    return Verification(weights, target, "not a checkpoint" if reason else "no published checksum", digest, reason)


def _not_a_checkpoint(weights: PretrainedWeights, path: Path) -> str:
    """Why ``path`` does not load into the network of ``weights`` (``""`` when it does)."""
    # the checkpoint modules import torch, which listing the records does not need
    from .checkpoint import CheckpointError, load_checkpoint
    from .passt import passt_without_weights

    try:
        load_checkpoint(passt_without_weights(weights.net), path)
    except CheckpointError as err:
        return str(err)
    return ""


def download(weights: PretrainedWeights, *, force: bool = False, progress: bool = True) -> Path:
    """Download ``weights`` into the cache (unless cached and not ``force``), and check it (:func:`verify`): its
    checksum when one is known, else that it is a checkpoint of the record's network. A cached file is checked too.

    The file is written under a temporary name and moved into place only after the check, so an
    interrupted or refused download never leaves a file that later loads would trust; a refused one is kept
    beside the cache as ``<file>.sha256-mismatch`` or ``<file>.not-a-checkpoint``.

    Raises:
        WeightsUnavailableError: the download failed; the message says how to place the file by hand.
        CacheUnavailableError: the cache folder cannot be created or written (a ``WeightsUnavailableError``).
        ChecksumMismatchError: the downloaded (or cached) file's SHA-256 differs from the record's.
        CheckpointError: without a published checksum, the downloaded (or cached) file is not a checkpoint of the
            record's network.
    """
    target = cached_path(weights)
    if target.is_file() and not force:
        _check_cached(weights, target)
        return target
    writable_cache_dir()
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
    if check.verdict == "not a checkpoint":
        from .checkpoint import CheckpointError

        rejected = target.with_name(target.name + ".not-a-checkpoint")
        os.replace(partial, rejected)
        raise CheckpointError(f"the download of {weights.name} from {weights.url} is not a checkpoint of this record: "
                              f"{check.reason}. It is kept as {rejected} for inspection; nothing was placed in the cache")
    os.replace(partial, target)
    return target


def _check_cached(weights: PretrainedWeights, target: Path) -> None:
    """Refuse a cached file that mismatches its record's checksum or, without one, is not a checkpoint of its network."""
    check = verify(weights, target)
    replace = f"force=True (hear-gear weights download --force {weights.name}) replaces it"
    if check.verdict == "mismatch":
        raise ChecksumMismatchError(f"the cached file {target}: {check.explain()}; {replace}")
    if check.verdict == "not a checkpoint":
        from .checkpoint import CheckpointError

        raise CheckpointError(f"the cached file {target} is not a checkpoint of this record: {check.reason}; {replace}")


def resolve(weights: PretrainedWeights, *, download_missing: bool = True) -> Path:
    """Path of ``weights`` in the cache, downloading it (with a progress bar) when missing and allowed.

    Raises:
        WeightsUnavailableError: not cached and the download is off or failed; the message says
            where to put the file by hand (:class:`CacheUnavailableError`: the cache folder cannot be written).
        ChecksumMismatchError: a fresh download does not match the record's checksum.
        CheckpointError: a fresh download without a published checksum is not a checkpoint of the record's network.
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
