"""The local cache of official checkpoints (:mod:`hear_gear_embed.model.hub`): where files live, checking them
against their record, downloading them (``file://`` URLs: no network), and what ``load_model`` says offline."""

from __future__ import annotations

import dataclasses
import hashlib
import urllib.error
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import hear_gear_embed
from hear_gear_embed.model.hub import (
    HOME_ENV,
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


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder as ``$HEAR_GEAR_EMBED_HOME`` (created on first download)."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A small file standing for a release asset."""
    path = tmp_path / "server" / "release.pt"
    path.parent.mkdir()
    torch.save({"x": torch.arange(5.0)}, path)
    return path


def local(source: Path, sha256: str | None = None) -> PretrainedWeights:
    """An official record pointing at ``source`` (a ``file://`` URL), with ``sha256`` attested by a test."""
    return dataclasses.replace(get_weights(SWA), name="local", url=source.as_uri(), sha256=sha256,
                               sha256_source="this test" if sha256 else "")


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

    missing = verify(local(release), release.with_name("absent.pt"))
    assert (missing.verdict, missing.sha256) == ("missing", None)
    assert missing.explain() == f"local: not cached at {release.with_name('absent.pt')}"


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
