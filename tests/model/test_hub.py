"""The local cache of official checkpoints (:mod:`hear_gear_embed.model.hub`): where files live, checking them
against their record, downloading them (``file://`` URLs: no network), and what ``load_model`` says offline."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import re
import shutil
import urllib.error
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import hear_gear_embed
from hear_gear_embed import get_variant
from hear_gear_embed.model import hub
from hear_gear_embed.model.checkpoint import CheckpointError
from hear_gear_embed.model.hub import (
    HOME_ENV,
    CacheUnavailableError,
    ChecksumMismatchError,
    WeightsUnavailableError,
    cache_dir,
    cached_path,
    download,
    resolve,
    sha256_of,
    verify,
)
from hear_gear_embed.model.weights import PretrainedWeights, get_weights

SWA = "passt_s_swa_p16_128_ap476"
TINY = get_variant("tiny_test").net


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder as ``$HEAR_GEAR_EMBED_HOME`` (created on first download)."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def release(tmp_path: Path, tiny_ckpt: Path) -> Path:
    """A small file standing for a release asset: a checkpoint of the tiny geometry in the official layout."""
    path = tmp_path / "server" / "release.pt"
    path.parent.mkdir()
    shutil.copyfile(tiny_ckpt, path)
    return path


def local(source: Path, sha256: str | None = None) -> PretrainedWeights:
    """An official record of the tiny geometry pointing at ``source`` (a ``file://`` URL), with ``sha256`` attested
    by a test."""
    return dataclasses.replace(get_weights(SWA), name="local", url=source.as_uri(), net=TINY, sha256=sha256,
                               sha256_source="this test" if sha256 else "")


def not_checkpoints(folder: Path, release: Path) -> dict[str, tuple[Path, str]]:
    """Files that are not a checkpoint of the tiny record, each with what the verdict must say about it."""
    folder.mkdir(exist_ok=True)
    state = torch.load(release, weights_only=True)
    files = {
        "junk": (b"<html>rate limit exceeded</html>", "is not a PyTorch checkpoint"),
        "truncated": (release.read_bytes()[:1000], "is a truncated or corrupt PyTorch checkpoint: it starts as a zip archive"),
        "other tensors": ({"x": torch.arange(5.0)}, "does not fit the network: missing keys"),
        "missing key": ({k: v for k, v in state.items() if k != "head_dist.bias"}, r"missing keys \(1\): head_dist.bias"),
        "other shape": ({**state, "cls_token": torch.zeros(1, 1, 8)}, r"shape mismatches \(1\): cls_token"),
    }
    out = {}
    for name, (content, reason) in files.items():
        path = folder / f"{name.replace(' ', '_')}.pt"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            torch.save(content, path)
        out[name] = (path, reason)
    return out


def offline(url: str, dst: str, **kwargs: object) -> None:
    raise urllib.error.URLError("network is unreachable")


def test_cache_location(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_dir() == home
    assert cached_path(get_weights(SWA)) == home / "passt-s-f128-p16-s10-ap.476-swa.pt"
    monkeypatch.delenv(HOME_ENV)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch_hub"))
    assert cache_dir() == tmp_path / "torch_hub" / "checkpoints"


def test_verify_every_verdict(release: Path) -> None:
    digest = hashlib.sha256(release.read_bytes()).hexdigest()
    assert sha256_of(release) == sha256_of(release, chunk_bytes=7) == digest

    match = verify(local(release, digest), release)
    assert (match.verdict, match.sha256, match.path) == ("match", digest, release)
    assert match.explain() == f"local: sha256 {digest} matches (this test)"

    mismatch = verify(local(release, "0" * 64), release)
    assert mismatch.verdict == "mismatch" and mismatch.sha256 == digest
    text = mismatch.explain()
    assert f"sha256 {digest} differs from {'0' * 64} (this test)" in text
    assert "truncated or corrupted download, a substituted file, or a re-upload by the authors" in text

    unpinned = verify(local(release), release)
    assert unpinned.verdict == "no published checksum" and unpinned.sha256 == digest
    assert digest in unpinned.explain() and "cannot be verified" in unpinned.explain()
    assert "a checkpoint of this record's network" in unpinned.explain()

    missing = verify(local(release), release.with_name("absent.pt"))
    assert (missing.verdict, missing.sha256) == ("missing", None)
    assert missing.explain() == f"local: not cached at {release.with_name('absent.pt')}"


def test_without_a_checksum_a_file_must_be_a_checkpoint_of_the_record(release: Path, tmp_path: Path) -> None:
    """No checksum is published for most checkpoints: then at least the file must load into the record's network,
    as load_model would load it."""
    for name, (path, reason) in not_checkpoints(tmp_path / "bad", release).items():
        check = verify(local(release), path)
        assert (check.verdict, check.sha256) == ("not a checkpoint", sha256_of(path)), name
        assert re.search(reason, check.reason), (name, check.reason)
        assert check.explain().startswith(f"local: {path} (sha256 {check.sha256}) is not a checkpoint of this record: ")
        assert "hear-gear weights download --force local" in check.explain()
    # A published checksum decides alone: a file that matches it is the attested one.
    junk = not_checkpoints(tmp_path / "bad", release)["junk"][0]
    assert verify(local(release, sha256_of(junk)), junk).verdict == "match"


def test_verify_defaults_to_the_cached_file(home: Path, release: Path) -> None:
    weights = local(release)
    assert verify(weights).path == home / "release.pt" and verify(weights).verdict == "missing"
    home.mkdir()
    (home / "release.pt").write_bytes(release.read_bytes())
    assert verify(weights).verdict == "no published checksum"


def test_download_into_the_cache(home: Path, release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = local(release, sha256_of(release))
    path = download(weights, progress=False)
    assert path == home / "release.pt" and path.read_bytes() == release.read_bytes()
    assert [p.name for p in home.iterdir()] == ["release.pt"]  # no .partial left behind
    assert resolve(weights, download_missing=False) == path
    # Cached: neither download nor resolve fetch it again, unless forced.
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    assert download(weights) == path and resolve(weights) == path
    with pytest.raises(WeightsUnavailableError, match="network is unreachable"):
        download(weights, force=True, progress=False)
    assert path.read_bytes() == release.read_bytes()


def test_unpinned_download_is_kept(home: Path, release: Path) -> None:
    assert resolve(local(release)).read_bytes() == release.read_bytes()


def test_a_download_that_is_not_a_checkpoint_is_never_used(home: Path, release: Path, tmp_path: Path) -> None:
    junk = not_checkpoints(tmp_path / "server", release)["other tensors"][0]
    with pytest.raises(CheckpointError, match="does not fit the network: missing keys") as info:
        download(local(junk), progress=False)
    rejected = home / (junk.name + ".not-a-checkpoint")
    assert [p.name for p in home.iterdir()] == [rejected.name] and rejected.read_bytes() == junk.read_bytes()
    assert f"the download of local from {junk.as_uri()} is not a checkpoint of this record" in str(info.value)
    assert str(rejected) in str(info.value)
    with pytest.raises(WeightsUnavailableError, match="is not cached"):
        resolve(local(junk), download_missing=False)


def test_a_cached_file_that_fails_its_check_is_reported_not_returned(home: Path, release: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """download() of a cached file checks it (loads only look for it): a file that is not a checkpoint, or that
    mismatches a published checksum, is an error that says how to replace it; force=True replaces it."""
    home.mkdir()
    cached = home / "release.pt"
    cached.write_bytes(b"half a file")
    fetch = torch.hub.download_url_to_file
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(CheckpointError, match=rf"the cached file {re.escape(str(cached))} is not a checkpoint of this "
                       "record: .*force=True \\(hear-gear weights download --force local\\) replaces it"):
        download(local(release))
    with pytest.raises(ChecksumMismatchError, match="force=True"):
        download(local(release, sha256_of(release)))
    monkeypatch.setattr(torch.hub, "download_url_to_file", fetch)
    assert download(local(release), force=True, progress=False).read_bytes() == release.read_bytes()
    assert download(local(release)) == cached


def test_a_cache_folder_that_cannot_be_made_is_named(tmp_path: Path, release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "a_file" / "weights"))
    with pytest.raises(CacheUnavailableError) as info:
        download(local(release), progress=False)
    message = str(info.value)
    assert f"the weights cache folder {tmp_path / 'a_file' / 'weights'} (${HOME_ENV}) cannot be created or written" in message
    assert "NotADirectoryError" in message
    assert isinstance(info.value, WeightsUnavailableError) and isinstance(info.value.__cause__, OSError)
    assert not (tmp_path / "a_file").is_dir()

    def read_only(folder: Path) -> None:  # a read-only mount, which refuses root as well
        raise OSError(f"cannot create or write the folder {folder}: read-only") from OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "read_only"))
    monkeypatch.setattr(hub, "check_writable", read_only)
    with pytest.raises(CacheUnavailableError, match=rf"folder {re.escape(str(tmp_path / 'read_only'))} \(\${HOME_ENV}\) "
                       r"cannot be created or written: OSError: \[Errno 30\] Read-only file system"):
        download(local(release), progress=False)


def test_mismatching_download_is_never_used(home: Path, release: Path) -> None:
    weights = local(release, "0" * 64)
    with pytest.raises(ChecksumMismatchError, match="differs from 0{64} \\(this test\\)") as info:
        download(weights, progress=False)
    # Only the rejected file is left, under a name that no load looks for, and the message says where it is.
    rejected = home / "release.pt.sha256-mismatch"
    assert [p.name for p in home.iterdir()] == [rejected.name] and rejected.read_bytes() == release.read_bytes()
    assert str(rejected) in str(info.value) and "load_model(model_file_path=...)" in str(info.value)
    with pytest.raises(WeightsUnavailableError, match="is not cached"):
        resolve(weights, download_missing=False)


def test_missing_weights_say_how_to_get_them(home: Path, release: Path) -> None:
    weights = get_weights(SWA)
    with pytest.raises(WeightsUnavailableError) as info:
        resolve(weights, download_missing=False)
    message = str(info.value)
    assert f"checkpoint {SWA} is not cached at {home / weights.filename}" in message
    assert f"`hear-gear weights download {SWA}`" in message and weights.url in message and HOME_ENV in message
    with pytest.raises(WeightsUnavailableError, match="could not download local from file:"):
        download(local(release.with_name("absent.pt")), progress=False)
    assert not home.exists() or not list(home.iterdir())


def test_offline_load_model_says_where_to_put_the_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    expected = home / "passt-s-f128-p16-s10-ap.476-swa.pt"
    with pytest.raises(WeightsUnavailableError) as info:
        hear_gear_embed.load_model(device="cpu")
    message = str(info.value)
    assert str(expected) in message and "github.com/kkoutini/PaSST/releases" in message
    assert "network is unreachable" in message
    with pytest.raises(WeightsUnavailableError, match="is not cached"):
        hear_gear_embed.load_model(download=False, device="cpu")


def test_empty_path_uses_the_cache(official_ckpt: Callable[[str], Path], home: Path) -> None:
    home.mkdir()
    (home / "passt-s-f128-p16-s10-ap.476-swa.pt").symlink_to(official_ckpt("passt_base"))
    model = hear_gear_embed.load_model(download=False, device="cpu")
    state = torch.load(official_ckpt("passt_base"), weights_only=True)
    torch.testing.assert_close(model.net.cls_token, state["cls_token"], rtol=0, atol=0)
