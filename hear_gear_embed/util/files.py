"""Files and folders: files written whole or not at all, folders checked for writing before any work, and a lock
that keeps a second run out of a folder."""

from __future__ import annotations

import errno
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # reading the umask sets it: put it back at once, at import, before any thread writes


def write_atomic(path: Path, write: Callable[[BinaryIO], object] | bytes) -> None:
    """Write ``path`` (``write``'s bytes, or what ``write`` writes to a binary stream) through a temporary file in its
    folder and ``os.replace``, so that an interrupted run or a killed worker never leaves a partial file that a later
    run would take for a finished one. The folder is created. The file gets the permissions of any new file
    (``0o666`` less the umask), not the owner-only ones of a temporary file: outputs on shared storage are read by
    others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            if isinstance(write, bytes):
                stream.write(write)
            else:
                write(stream)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FolderBusyError(RuntimeError):
    """Another process holds the lock of a folder (:func:`folder_lock`)."""


def check_writable(folder: Path) -> None:
    """Check that ``folder`` can be created (with its parents) and written into, by doing it: the folders missing are
    created, a file is created in ``folder`` and removed, and the folders created are removed, so the file system is
    left as it was. ``os.access`` is not asked: it answers for the real user id and says yes to root everywhere.

    Raises:
        OSError: the folder cannot be created or written; the message names it and the operating system's error.
    """
    folder = Path(folder)
    created: list[Path] = []
    try:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
        missing = []
        for path in (folder, *folder.parents):
            if path.exists():
                break
            missing.append(path)
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        raise OSError(f"cannot create or write the folder {folder}: {err}") from err
    finally:
        for path in reversed(created):
            path.rmdir()


def _try_lock(handle: TextIO) -> bool:
    """Take an exclusive advisory lock on the open file without waiting; whether it was free."""
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)  # the lock covers the file's first byte, whoever holds it
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def folder_lock(folder: Path, name: str, holder: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (the file ``name`` in it, which says who holds it) while the block runs.

    The lock is the operating system's advisory file lock (``flock``; ``msvcrt.locking`` on Windows), which a process
    loses when it exits however it ends, so a killed run never leaves a folder locked; the file itself stays. On a
    network filesystem it holds where the filesystem supports such locks (NFSv4 and most cluster filesystems do).

    Args:
        folder: the folder (created).
        name: the lock file's name in it.
        holder: what holds the lock, for the message of the next one (e.g. ``"hear-gear embed run"``).

    Raises:
        FolderBusyError: another process (or another open of it in this one) holds the lock; names it.
        OSError: the folder or the lock file cannot be created.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for as long as the lock
    try:
        if not _try_lock(handle):
            handle.seek(0)
            who = handle.read().strip() or "a process that did not say who it is"
            raise FolderBusyError(f"{folder} is in use by another {holder} ({who}; lock file {path}); wait for it to "
                                  "finish, or choose another folder")
        handle.seek(0)
        handle.truncate()
        handle.write(f"{holder}, pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}\n")
        handle.flush()
        yield
    finally:
        handle.close()
