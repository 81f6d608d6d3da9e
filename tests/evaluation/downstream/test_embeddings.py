"""Embedding HEAR tasks: rows and targets in heareval's order, batching by length, the label-at-timestamp rule, the
cache (hit, miss, invalidation) and clear errors for bad audio or bad embeddings."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from hear_gear_embed.evaluation.downstream import embeddings
from hear_gear_embed.evaluation.downstream.embeddings import (
    IDENTITY_NAME,
    EmbeddingError,
    TaskEmbeddings,
    cache_folder,
    embed_task,
)
from hear_gear_embed.evaluation.downstream.tasks import TaskError, load_task
from hear_gear_embed.hear.handle import EmbeddingModel
from hear_gear_embed.hear.spec import load
from hear_gear_embed.model.hub import sha256_of
from hear_gear_embed.util import precision as precision_module

from ...util.corrupt import CORRUPTIONS
from .fakes import RATE, FakeModel, fake_hear, fake_timestamps, write_task

SPLITS = {
    "train": {"t0.wav": ["a"], "t1.wav": ["b", "a"], "t2.wav": [], "t3.wav": ["b"], "t4.wav": ["a"]},
    "valid": {"v0.wav": ["b"], "v1.wav": []},
    "test": {"s0.wav": ["a"], "s1.wav": ["b"], "s2.wav": ["a", "b"]},
}
EVENTS = {
    "train": {"e0.wav": [{"label": "a", "start": 100.0, "end": 200.0}, {"label": "b", "start": 150.0, "end": 400.0}],
              "e1.wav": []},
    "valid": {"e2.wav": [{"label": "b", "start": 0.0, "end": 49.0}]},
    "test": {"e3.wav": [{"label": "a", "start": 230.0, "end": 230.0}]},
}


def _model_of(hear: EmbeddingModel) -> FakeModel:
    assert isinstance(hear.model, FakeModel)
    return hear.model


def test_chunks_of_scene_files_are_rows_of_their_file_with_its_labels(tmp_path: Path) -> None:
    """Seed 001's protocol: files of 1.0, 0.5 and 0.1 s in chunks of 0.4 s give 3, 2 and 1 rows, each the fake's
    statistics of its own samples; event tasks are not cut; the cache keeps chunked rows apart."""
    splits = {"train": {"t0.wav": ["a"], "t1.wav": ["b"]}, "valid": {"v0.wav": ["a"]}, "test": {"s0.wav": ["b"]}}
    task = load_task(write_task(tmp_path / "task", prediction_type="multiclass", split_files=splits,
                                seconds={"t0.wav": 1.0, "t1.wav": 0.5, "v0.wav": 0.1}))
    assert embeddings.chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)] and embeddings.chunk_bounds(3, 4) == [(0, 3)]
    hear, chunk = fake_hear(), int(0.4 * RATE)
    result = embed_task(hear, task, chunk_samples=chunk, cache_dir=tmp_path / "cache")
    train = result.splits["train"]
    rows = {train.files[f]: int((train.file_index == f).sum()) for f in np.unique(train.file_index)}
    assert rows == {"t0.wav": 3, "t1.wav": 2} and len(result.splits["valid"].embeddings) == 1
    audio, _ = sf.read(task.path / str(RATE) / "train" / "t0.wav", dtype="float32")
    t0 = train.embeddings[train.file_index == train.files.index("t0.wav")]
    for k, (start, stop) in enumerate(embeddings.chunk_bounds(len(audio), chunk)):
        piece = audio[start:stop]
        assert np.allclose(t0[k], [piece.mean(), np.sqrt((piece ** 2).mean()), np.abs(piece).max()], atol=1e-6)
    assert (train.targets[train.file_index == train.files.index("t1.wav")] == [0.0, 1.0]).all()
    whole = embed_task(hear, task, cache_dir=tmp_path / "cache")
    assert not whole.cached and len(whole.splits["train"].embeddings) == 2
    assert embed_task(hear, task, chunk_samples=chunk, cache_dir=tmp_path / "cache").cached
    with pytest.raises(ValueError, match="chunk_samples must be at least 1"):
        embed_task(hear, task, chunk_samples=0)


def test_scene_rows_follow_heareval_order_with_their_targets(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, prediction_type="multilabel", split_files=SPLITS,
                                seconds={"t1.wav": 0.5, "s2.wav": 0.1}))
    hear = fake_hear()
    result = embed_task(hear, task)
    assert not result.cached and list(result.splits) == ["train", "valid", "test"]
    prng = random.Random(0)  # heareval's memmap_embeddings: one generator per task, splits in metadata order
    for name, files in SPLITS.items():
        order = list(range(len(files)))
        prng.shuffle(order)
        split = result.splits[name]
        assert split.files == tuple(files) and split.file_index.tolist() == order
        assert split.timestamps_ms is None and split.events is None
        for row, f in enumerate(split.file_index):
            file = split.files[f]
            assert split.targets[row].tolist() == [float("a" in files[file]), float("b" in files[file])]
            audio, _ = sf.read(task.path / str(RATE) / name / file, dtype="float32")  # the fake's statistics, alone
            assert np.allclose(split.embeddings[row], [audio.mean(), np.sqrt((audio ** 2).mean()), np.abs(audio).max()],
                               atol=1e-6)


def test_event_rows_are_labelled_at_their_timestamps_end_included(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, embedding_type="event", prediction_type="multilabel", split_files=EVENTS,
                                seconds={"e0.wav": 0.5}))
    splits = embed_task(fake_hear(), task).splits
    train = splits["train"]
    assert train.events == {"e0.wav": tuple(task.split("train").events["e0.wav"]), "e1.wav": ()}  # type: ignore[index]
    rows = train.file_index == train.files.index("e0.wav")
    assert train.timestamps_ms[rows].tolist() == fake_timestamps(int(0.5 * RATE)).tolist()  # type: ignore[index]
    labelled = {t: y for t, y in zip(train.timestamps_ms[rows], train.targets[rows].tolist(), strict=True)}  # type: ignore[index]
    # a: [100, 200] ms, b: [150, 400] ms, both ends included
    assert labelled[50.0] == [0, 0] and labelled[100.0] == [1, 0] and labelled[150.0] == [1, 1]
    assert labelled[200.0] == [1, 1] and labelled[250.0] == [0, 1] and labelled[400.0] == [0, 1]
    assert labelled[450.0] == [0, 0]
    assert not splits["train"].targets[splits["train"].file_index == 1].any()
    assert splits["valid"].targets[:2].tolist() == [[0, 1], [0, 0]]  # b ends at 49 ms: t = 0 only
    assert splits["test"].targets.sum() == 0  # a zero-length event at 230 ms covers no timestamp on the 50 ms grid


def test_batches_hold_files_of_one_length_within_the_bounds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = {f"f{i}.wav": ["a"] for i in range(7)}
    seconds = {f"f{i}.wav": 0.25 if i % 2 else 0.125 for i in range(7)}
    splits = {"train": files, "valid": {"v.wav": ["a"]}, "test": {"t.wav": ["b"]}}
    task = load_task(write_task(tmp_path, split_files=splits, seconds=seconds))
    hear = fake_hear()
    batched = embed_task(hear, task, batch_samples=int(0.6 * RATE))
    n_long, n_short = int(0.25 * RATE), int(0.125 * RATE)
    assert _model_of(hear).batches[:4] == [(4, n_short), (2, n_long), (1, n_long), (1, n_long)]
    # sample_duration is 0.25 s: each file is embedded at its own length, as heareval does when batches allow
    assert "mini/train: 4 of 7 files are not 8000 samples long" in caplog.text
    hear = fake_hear()
    capped = embed_task(hear, task, batch_size=3)
    assert _model_of(hear).batches[:3] == [(3, n_short), (1, n_short), (3, n_long)]
    one = embed_task(fake_hear(), task, batch_size=1)
    for name in ("train", "valid", "test"):
        assert np.allclose(batched.splits[name].embeddings, one.splits[name].embeddings, atol=1e-6)
        assert np.array_equal(capped.splits[name].embeddings, batched.splits[name].embeddings)
    with pytest.raises(ValueError, match="at least 1"):
        embed_task(fake_hear(), task, batch_samples=0)


def test_cache_hit_skips_the_model_and_any_change_recomputes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = write_task(tmp_path / "tasks", embedding_type="event", prediction_type="multilabel", split_files=EVENTS)
    cache = tmp_path / "cache"
    hear = fake_hear()
    first = embed_task(hear, load_task(folder), cache_dir=cache)
    calls = len(_model_of(hear).batches)
    where = cache_folder(cache, hear.identity, load_task(folder))
    assert where.parent.name.startswith("fake_downstream_hear-") and where.name == "mini"
    assert sorted(p.name for p in where.iterdir()) == [IDENTITY_NAME, "test.npz", "train.npz", "valid.npz"]
    record = json.loads((where / IDENTITY_NAME).read_text())
    assert record["module"] == "fake_downstream_hear" and record["kind"] == "timestamp" and record["sample_rate"] == RATE

    again = embed_task(hear, load_task(folder), cache_dir=cache)
    assert again.cached and len(_model_of(hear).batches) == calls  # a hit does not call the model
    for name, split in first.splits.items():
        cached = again.splits[name]
        assert np.array_equal(split.embeddings, cached.embeddings) and np.array_equal(split.targets, cached.targets)
        assert np.array_equal(split.timestamps_ms, cached.timestamps_ms) and split.events == cached.events  # type: ignore[arg-type]

    changed = dict(EVENTS, valid={"e2.wav": [{"label": "a", "start": 0.0, "end": 49.0}]})
    (folder / "valid.json").write_text(json.dumps(changed["valid"]))
    caplog.set_level("INFO")
    relabelled = embed_task(hear, load_task(folder), cache_dir=cache)
    assert not relabelled.cached and len(_model_of(hear).batches) > calls
    assert "was made with other task_sha256: embedding again" in caplog.text
    assert relabelled.splits["valid"].targets[0].tolist() == [1, 0]

    calls = len(_model_of(hear).batches)
    sf.write(folder / str(RATE) / "test" / "e3.wav", np.zeros(RATE // 4), RATE, subtype="FLOAT")  # new audio
    assert not embed_task(hear, load_task(folder), cache_dir=cache).cached
    assert "other audio_sha256" in caplog.text and len(_model_of(hear).batches) > calls

    (where / "train.npz").write_bytes(b"not a zip")
    assert not embed_task(hear, load_task(folder), cache_dir=cache).cached
    assert "unreadable cache file" in caplog.text
    assert embed_task(hear, load_task(folder), cache_dir=cache).cached


def _same_splits(a: TaskEmbeddings, b: TaskEmbeddings) -> bool:
    return a.splits.keys() == b.splits.keys() and all(
        np.array_equal(x.embeddings, y.embeddings) and np.array_equal(x.targets, y.targets)
        and np.array_equal(x.file_index, y.file_index) and np.array_equal(x.timestamps_ms, y.timestamps_ms)  # type: ignore[arg-type]
        for x, y in ((a.splits[n], b.splits[n]) for n in a.splits))


def _flip_first_bit(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0x01  # "{" -> "z"
    path.write_bytes(bytes(raw))


IDENTITY_CORRUPTIONS = {
    "identity truncated": lambda path: path.write_bytes(path.read_bytes()[:20]),
    "identity bit": _flip_first_bit,
    "identity not an object": lambda path: path.write_text("[1, 2]"),
}


@pytest.mark.parametrize(("file", "corrupt"), [
    *(("train.npz", c) for c in CORRUPTIONS.values()), *((IDENTITY_NAME, c) for c in IDENTITY_CORRUPTIONS.values()),
], ids=[*CORRUPTIONS, *IDENTITY_CORRUPTIONS])
def test_a_corrupt_cache_entry_is_discarded_and_embedded_again(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                              file: str, corrupt: Callable[[Path], None]) -> None:
    folder = write_task(tmp_path / "tasks", embedding_type="event", prediction_type="multilabel", split_files=EVENTS)
    clean = embed_task(fake_hear(), load_task(folder))
    cache = tmp_path / "cache"
    hear = fake_hear()
    embed_task(hear, load_task(folder), cache_dir=cache)
    where = cache_folder(cache, hear.identity, load_task(folder))
    corrupt(where / file)
    with caplog.at_level("WARNING"):
        healed = embed_task(hear, load_task(folder), cache_dir=cache)
    assert not healed.cached and _same_splits(healed, clean)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and str(where / file) in warned[0] and "embedding again" in warned[0], warned
    again = embed_task(hear, load_task(folder), cache_dir=cache)
    assert again.cached and _same_splits(again, clean)  # the entry was written anew


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_a_read_only_cache_is_read_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_task(tmp_path / "tasks", prediction_type="multilabel", split_files=SPLITS)
    cache = tmp_path / "cache"
    hear = fake_hear()
    first = embed_task(hear, load_task(folder), cache_dir=cache)
    before = _files(cache)

    def no_write(path: Path, content: object) -> None:
        raise AssertionError(f"{path} written into a read-only cache")

    monkeypatch.setattr(embeddings, "write_atomic", no_write)
    calls = len(_model_of(hear).batches)
    read = embed_task(hear, load_task(folder), cache_dir=cache, cache_writable=False)
    assert read.cached and _same_splits(read, first) and len(_model_of(hear).batches) == calls
    (folder / "valid.json").write_text(json.dumps({"v0.wav": ["a"], "v1.wav": []}))  # the entry is stale now
    stale = embed_task(hear, load_task(folder), cache_dir=cache, cache_writable=False)
    assert not stale.cached and stale.splits["valid"].targets[stale.splits["valid"].files.index("v0.wav")].tolist() == [1, 0]
    (folder / "valid.json").write_text(json.dumps(SPLITS["valid"]))  # the entry is valid again
    assert embed_task(hear, load_task(folder), cache_dir=cache, cache_writable=False).cached
    (cache_folder(cache, hear.identity, load_task(folder)) / "train.npz").write_bytes(b"")  # and now corrupt
    before = _files(cache)
    assert not embed_task(hear, load_task(folder), cache_dir=cache, cache_writable=False).cached
    assert _files(cache) == before  # nothing written, nothing discarded


@pytest.mark.parametrize(("stamps", "seen"), [
    (lambda ts: torch.zeros_like(ts), r"all 6 timestamps are 0 ms"),
    (lambda ts: torch.full_like(ts, 125.0), r"all 6 timestamps are 125 ms"),
    (lambda ts: ts.flip(-1), r"timestamp 2 \(200 ms\) does not come after timestamp 1 \(250 ms\); they are 250, 200, "
                             r"150, 100, 50, 0 ms"),
    (lambda ts: torch.cat([ts[..., :3], ts[..., 2:5]], dim=-1), r"timestamp 4 \(100 ms\) does not come after "
                                                                r"timestamp 3 \(100 ms\)"),
], ids=["all zero", "constant", "decreasing", "repeated"])
def test_event_timestamps_that_do_not_increase_are_named(tmp_path: Path, stamps: Callable[[torch.Tensor], torch.Tensor],
                                                         seen: str) -> None:
    task = load_task(write_task(tmp_path, embedding_type="event", prediction_type="multilabel", split_files=EVENTS))
    hear = fake_hear()
    regular = hear.module.get_timestamp_embeddings

    def broken(audio: torch.Tensor, model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        emb, ts = regular(audio, model)
        return emb, stamps(ts)

    hear.module.get_timestamp_embeddings = broken
    with pytest.raises(EmbeddingError, match=r"^mini/train/e0\.wav: fake_downstream_hear\.get_timestamp_embeddings returned "
                                             r"timestamps that do not increase within the file: " + seen) as info:
        embed_task(hear, task)
    assert str(info.value).endswith(". An event task scores each file's frames in time order, one frame per timestamp, "
                                   "so a file's timestamps must increase strictly")


def test_identity_names_weights_and_precision(tmp_path: Path, tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision_module, "cpu_bf16_units", lambda flags=None: ("avx512_bf16",))  # any CPU: tiny model
    assert fake_hear().identity.to_dict() == {
        "variant": "fake_downstream_hear", "module": "fake_downstream_hear",
        "module_version": "no distribution, no source files", "weights": "module default", "weights_sha256": "",
        "precision": "fp32"}
    handcrafted = load("handcrafted").identity
    assert handcrafted.weights == "none" and handcrafted.weights_sha256 == "" and handcrafted.module_version
    task = load_task(write_task(tmp_path, seconds=dict.fromkeys([f"train-{i}.wav" for i in range(4)], 0.5)))
    cache = tmp_path / "cache"
    fp32 = load("tiny_test", weights=str(tiny_ckpt))
    assert fp32.identity.weights == str(tiny_ckpt)
    assert fp32.identity.weights_sha256 == sha256_of(tiny_ckpt)
    assert not embed_task(fp32, task, cache_dir=cache).cached
    assert embed_task(fp32, task, cache_dir=cache).cached
    bf16 = load("tiny_test", weights=str(tiny_ckpt), precision="bf16")
    assert bf16.identity.precision == "bf16"
    assert not embed_task(bf16, task, cache_dir=cache).cached  # another precision: its own cache
    assert embed_task(fp32, task, cache_dir=cache).cached  # and the fp32 one is kept


def test_bad_audio_is_named(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path))
    path = task.path / str(RATE) / "valid" / "valid-1.wav"
    sf.write(path, np.zeros(4000), 16000)
    with pytest.raises(TaskError, match=r"valid-1.wav: sampled at 16000 Hz in the folder for 32000 Hz"):
        embed_task(fake_hear(), task)
    sf.write(path, np.zeros((8000, 2)), RATE)
    with pytest.raises(TaskError, match=r"valid-1.wav: 2 channels; HEAR task audio is mono"):
        embed_task(fake_hear(), task)
    path.write_bytes(b"RIFF but not audio")
    with pytest.raises(TaskError, match=r"valid-1.wav: not a readable audio file"):
        embed_task(fake_hear(), task)


def test_a_failing_batch_names_the_culprit_or_goes_one_at_a_time(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    task = load_task(write_task(tmp_path, loud=("train-2.wav",)))
    hear = fake_hear()
    _model_of(hear).nan_above = 0.5
    with pytest.raises(EmbeddingError, match=r"^mini/train/train-2.wav: .*NaN or Inf"):
        embed_task(hear, task)
    assert _model_of(hear).batches[0][0] == 4  # the batch failed, then each file alone until the culprit
    _model_of(hear).nan_above, _model_of(hear).max_batch = 2.0, 1
    whole = embed_task(fake_hear(), task)
    with caplog.at_level("WARNING"):
        alone = embed_task(hear, task)  # every batch fails as out of memory: its files go one at a time
    assert "a batch of 4 clips failed (OutOfMemoryError: 4 clips do not fit); embedding them one at a time" in caplog.text
    for name, split in whole.splits.items():
        assert np.allclose(split.embeddings, alone.splits[name].embeddings, atol=1e-6)
