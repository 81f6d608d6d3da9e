"""``check_writable`` (:mod:`hear_gear_embed.util.files`): a folder checked for writing by doing it, the file system
left as it was, and a refusal that names the folder and the operating system's error, for root too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hear_gear_embed.util.files import check_writable


def test_check_writable_leaves_everything_as_it_was(tmp_path: Path) -> None:
    check_writable(tmp_path / "a" / "b")  # folders that can be created
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "a").mkdir()
    check_writable(tmp_path / "a")  # an existing folder
    assert list(tmp_path.iterdir()) == [tmp_path / "a"] and list((tmp_path / "a").iterdir()) == []


def test_check_writable_names_the_folder_and_the_os_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # a path under a regular file cannot be created, whoever runs
    with pytest.raises(OSError, match=r"cannot create or write the folder .*file/out: \[Errno 20\] Not a directory"):
        check_writable(tmp_path / "file" / "out")
    with pytest.raises(OSError, match=r"cannot create or write the folder .*file: \[Errno 20\] Not a directory"):
        check_writable(tmp_path / "file")
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_writable_refuses_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OSError, match=r"folder .*ro: \[Errno 13\] Permission denied"):
            check_writable(folder)
    finally:
        folder.chmod(0o755)


def test_folder_lock_keeps_a_second_holder_out_and_names_the_first(tmp_path: Path) -> None:
    from hear_gear_embed.util.files import FolderBusyError, folder_lock

    with folder_lock(tmp_path / "out", ".lock", "test run"):
        with pytest.raises(FolderBusyError, match=rf"{tmp_path / 'out'} is in use by another test run \(test run, pid "
                                                  rf"{os.getpid()} on .*; lock file .*\.lock\)"):
            with folder_lock(tmp_path / "out", ".lock", "test run"):
                pass
    with folder_lock(tmp_path / "out", ".lock", "test run"):  # released with its holder
        pass


def test_folder_lock_is_released_when_its_process_dies(tmp_path: Path) -> None:
    """An advisory lock belongs to its process: one killed while holding it (``os._exit``, no clean-up) leaves the
    folder free."""
    import subprocess
    import sys

    from hear_gear_embed.util.files import folder_lock

    code = ("import os, sys; from pathlib import Path; from hear_gear_embed.util.files import folder_lock\n"
            "with folder_lock(Path(sys.argv[1]), '.lock', 'killed run'):\n    os._exit(3)\n")
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=False).returncode == 3
    assert "killed run" in (tmp_path / ".lock").read_text()
    with folder_lock(tmp_path, ".lock", "test run"):
        pass
