"""The inputs of a corpus run and where their outputs go: lists of paths (:func:`read_path_list`) and the planning of
one :class:`Job` per audio file found (:func:`plan_jobs`), with a failure for each input that cannot be planned."""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .audio import AUDIO_EXTENSIONS, find_audio_files
from .report import FileResult, describe_error

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One input file and where its embeddings go.

    Attributes:
        source: the audio file.
        output: its ``.npz`` file: ``<out>/<path relative to the folder given>/<file name>.npz``, or
            ``<out>/<file name>.npz`` for a file given directly (``<out>/<path relative to root>.npz``
            when :func:`plan_jobs` has a ``root``). The audio extension is kept, so ``a.wav`` and
            ``a.flac`` side by side do not collide.
    """

    source: Path
    output: Path


def read_path_list(path: str | os.PathLike[str]) -> list[str]:
    """The inputs listed in a text file: one path or ``file://`` URI per line; blank lines and lines
    starting with ``#`` are left out, and surrounding whitespace is stripped.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not UTF-8 text (e.g. an audio file given as the list), or a line holds a NUL byte or a
            URI of another scheme than ``file`` (mount such storage on every node, or read it with Ray:
            :func:`~.ray_engine.embed_dataset`); the message names the list file and the line.
    """
    entries = []
    with open(path, encoding="utf-8") as handle:
        number = 0
        try:
            lines = [(number := number + 1, raw) for raw in handle]
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not a text file of paths (line {number + 1} is not UTF-8: {err.reason}); "
                             "--from-list takes a file with one path or file:// URI per line") from err
        for number, raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if "\0" in line:
                raise ValueError(f"{path}, line {number}: holds a NUL byte, which no path can; --from-list takes a text "
                                 "file with one path or file:// URI per line")
            # "://" marks a URI; a colon alone may be part of a file name
            scheme = urllib.parse.urlsplit(line).scheme if "://" in line else ""
            if scheme == "file":
                line = urllib.parse.unquote(urllib.parse.urlsplit(line).path)
            elif scheme:
                raise ValueError(f"{path}, line {number}: {line!r} is a {scheme}:// URI; list paths or file:// URIs on "
                                 "storage every worker can read (mount object stores, e.g. with s3fs or gcsfuse), or "
                                 "read them with ray.data.read_binary_files and embed_dataset (docs/cluster.md)")
            entries.append(line)
    return entries


def plan_jobs(paths: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
              root: str | os.PathLike[str] | None = None) -> tuple[list[Job], list[FileResult]]:
    """Map inputs to output files.

    Args:
        paths: audio files and folders (searched recursively, see :func:`find_audio_files`); relative
            paths are taken relative to ``root`` when one is given.
        out_dir: output folder.
        root: when given, every output mirrors its file's path below ``root``
            (``<out>/<path relative to root>.npz``), and an input outside ``root`` fails. For lists of
            files from many folders (``--from-list``), where file names alone may collide.

    Returns:
        ``(jobs, failures)``: a job per audio file found, in order, without repeats; a failed
        :class:`FileResult` for each path that does not exist, is outside ``root``, or whose output
        would collide with an earlier one's (same file name given from two folders).
    """
    out = Path(out_dir)
    base = Path(root).resolve() if root is not None else None
    jobs: list[Job] = []
    failures: list[FileResult] = []
    seen_sources: set[Path] = set()
    owner: dict[Path, Path] = {}
    for given in map(Path, paths):
        if base is not None:
            given = base / given
        try:
            files = find_audio_files(given)
        except FileNotFoundError as err:
            failures.append(FileResult(str(given), "failed", error=describe_error(err, given)))
            continue
        if given.is_dir() and not files:
            logger.warning("%s: no audio files (%s) in this folder", given, ", ".join(AUDIO_EXTENSIONS))
        for source in files:
            key = source.resolve()
            if key in seen_sources:
                continue
            seen_sources.add(key)
            if base is not None:
                if not key.is_relative_to(base):
                    failures.append(FileResult(str(source), "failed", error=f"not inside the root folder {base}"))
                    continue
                output = out / (str(key.relative_to(base)) + ".npz")
            else:
                relative = source.relative_to(given).parent if given.is_dir() else Path()
                output = out / relative / (source.name + ".npz")
            if output in owner:
                failures.append(FileResult(str(source), "failed", error=(
                    f"its output {output} would overwrite that of {owner[output]}; embed the two in separate runs, "
                    "pass their common folder, or give a root folder (--list-root) so that outputs keep the folders")))
                continue
            owner[output] = source
            jobs.append(Job(source, output))
    return jobs, failures
