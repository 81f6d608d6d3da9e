"""``hear-gear weights list|download|verify`` on an empty temporary cache (downloads are faked: no network)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch

from hear_gear_embed import get_variant
from hear_gear_embed.cli import main
from hear_gear_embed.model.hub import HOME_ENV
from hear_gear_embed.model.weights import PRETRAINED

SWA = "passt_s_swa_p16_128_ap476"
HOP5 = "passt_s_swa_f128_stfthop160_p16_s10_ap473"
HOP3 = "passt_s_swa_f128_stfthop100_p16_s10_ap473"
KD = "passt_s_kd_p16_128_ap486"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def tiny_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unpinned records KD and HOP5 with the tiny geometry, so that a small file can be a checkpoint of theirs."""
    for name in (KD, HOP5):
        monkeypatch.setitem(PRETRAINED, name, dataclasses.replace(PRETRAINED[name], net=get_variant("tiny_test").net))


def test_list(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == list(PRETRAINED)
    assert rows[SWA]["variants"] == ["passt_base", "passt_2lvl", "passt_2lvlmel", "passt_2lvl_cqt", "passt_2lvl_handcrafted"]
    assert rows[HOP5]["variants"] == ["passt_lm2rf_hop5"] and rows[HOP5]["stft_hop"] == 160
    assert rows[HOP3]["variants"] == ["passt_lm2rf_hop3"] and rows[HOP3]["stft_hop"] == 100
    assert all(rows[name]["variants"] == [] for name in rows if name not in (SWA, HOP5, HOP3))
    assert rows[SWA]["sha256"] == PRETRAINED[SWA].sha256 and rows[KD]["sha256"] is None
    assert all(not row["cached"] and row["cache_path"] == str(home / PRETRAINED[name].filename) for name, row in rows.items())
    assert main(["weights", "list"]) == 0
    text = capsys.readouterr().out
    assert f"{SWA}  [not cached]  variants: passt_base, passt_2lvl" in text and "sha256: none published" in text


def test_verify(home: Path, tiny_ckpt: Path, tiny_records: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "verify"]) == 1  # the checkpoints of the published variants, none cached
    out = capsys.readouterr().out
    assert out.splitlines() == [f"{name}: not cached at {home / PRETRAINED[name].filename}" for name in (SWA, HOP5, HOP3)]
    home.mkdir()
    cached = home / PRETRAINED[KD].filename
    cached.write_bytes(b"some bytes")
    assert main(["weights", "verify", KD]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{KD}: {cached} (sha256 ") and "is not a checkpoint of this record: " in out
    shutil.copyfile(tiny_ckpt, cached)
    assert main(["weights", "verify", KD]) == 0
    assert "no checksum is published" in capsys.readouterr().out
    (home / PRETRAINED[SWA].filename).write_bytes(b"not the release")
    assert main(["weights", "verify", "passt_base"]) == 1  # a variant name stands for its checkpoint
    assert f"{SWA}: sha256 " in (out := capsys.readouterr().out) and "differs from" in out


def test_download(home: Path, tiny_ckpt: Path, tiny_records: None, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> None:
    fetched: list[str] = []

    def fake_download(url: str, dst: str, progress: bool = True) -> None:
        fetched.append(url)
        shutil.copyfile(tiny_ckpt, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert main(["weights", "download", KD, HOP5]) == 0
    assert fetched == [PRETRAINED[KD].url, PRETRAINED[HOP5].url]
    assert capsys.readouterr().out.splitlines() == [f"{KD}: {home / PRETRAINED[KD].filename}",
                                                    f"{HOP5}: {home / PRETRAINED[HOP5].filename}"]
    assert main(["weights", "download", KD]) == 0 and len(fetched) == 2  # cached: not fetched again
    assert main(["weights", "download", KD, "--force"]) == 0 and len(fetched) == 3
    # The attested checksum of SWA cannot match the fake file: refused, and not cached under its name (kept aside
    # for inspection only).
    assert main(["weights", "download", SWA]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"failed: {SWA}: ") and f"differs from {PRETRAINED[SWA].sha256}" in err
    assert not (home / PRETRAINED[SWA].filename).exists() and not list(home.glob("*.partial"))
    assert (home / (PRETRAINED[SWA].filename + ".sha256-mismatch")).is_file()
    assert main(["weights", "verify", SWA]) == 1


def test_download_refuses_what_is_not_a_checkpoint(home: Path, tiny_ckpt: Path, tiny_records: None,
                                                   monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """No checksum is published for KD: a download, or a cached file, that does not load into its network is
    refused (exit status 1) and never placed in the cache; the other checkpoints are still downloaded."""
    def fake_download(url: str, dst: str, progress: bool = True) -> None:
        if url == PRETRAINED[KD].url:
            Path(dst).write_text("<html>Too many requests</html>")
        else:
            shutil.copyfile(tiny_ckpt, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert main(["weights", "download", KD, HOP5]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"failed: the download of {KD} from {PRETRAINED[KD].url} is not a checkpoint of this "
                                   "record: ") and "is not a PyTorch checkpoint" in captured.err
    assert captured.out == f"{HOP5}: {home / PRETRAINED[HOP5].filename}\n"
    assert not (home / PRETRAINED[KD].filename).exists()
    assert (home / (PRETRAINED[KD].filename + ".not-a-checkpoint")).is_file()
    # A junk file placed in the cache by hand: reported, and replaced only when asked.
    (home / PRETRAINED[HOP5].filename).write_bytes(b"not weights")
    assert main(["weights", "download", HOP5]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["weights", "download", HOP5, "--force"]) == 0
    assert main(["weights", "verify", HOP5]) == 0


def test_download_into_a_folder_that_cannot_be_made_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "a_file" / "weights"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, dst, progress=True: None)
    assert main(["weights", "download", KD, HOP5]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the weights cache folder {tmp_path / 'a_file' / 'weights'} (${HOME_ENV}) cannot be "
                          "created") and "Traceback" not in err and err.count("error:") == 1


def test_download_failures(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def offline(url: str, dst: str, progress: bool = True) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    assert main(["weights", "download", KD]) == 1
    assert f"failed: could not download {KD} from" in capsys.readouterr().err
    assert main(["weights", "download", "passt_s_swa_p16_128"]) == 2
    assert f"error: unknown checkpoint 'passt_s_swa_p16_128'; did you mean {SWA}" in capsys.readouterr().err
    assert main(["weights", "download", "handcrafted"]) == 2
    assert "variant 'handcrafted' has no official weights" in capsys.readouterr().err
    assert main(["weights", "verify", "nonsense"]) == 2
