"""The runner's logic with stand-in protocols: folds built by heareval's rule, the scores.json structure, the
Markdown table, failures kept apart, and bad task folders refused before anything is embedded."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hear_gear_embed.evaluation.downstream import embeddings, runner, workers
from hear_gear_embed.evaluation.downstream.data import Fold, TaskInfo
from hear_gear_embed.evaluation.downstream.protocols import ProtocolResult
from hear_gear_embed.evaluation.downstream.runner import SCORES_MD, evaluate, scores_markdown
from hear_gear_embed.evaluation.downstream.tasks import TaskError

from ...util.corrupt import flip_value_bit
from .fakes import FakeModel, fake_hear, write_task

TASKS = ("tones-multiclass", "timbre-multilabel", "events", "tones-kfold")


class StandInProtocols:
    """``run_protocol`` replaced: records its calls and scores each fold by its test rows' count."""

    def __init__(self, fail: tuple[str, str] | None = None, nan: str | None = None) -> None:
        self.calls: list[tuple[str, TaskInfo, list[Fold]]] = []
        self.fail, self.nan = fail, nan

    def __call__(self, protocol: str, task: TaskInfo, folds: Sequence[Fold], *, seed: int = 42,
                 device: object = "cpu") -> ProtocolResult:
        self.calls.append((protocol, task, list(folds)))
        if (task.name, protocol) == self.fail:
            raise RuntimeError("stand-in failure")
        per_fold = {f.name: {m: float(len(f.test.embeddings)) for m in task.evaluation} for f in folds}
        scores = {m: float(np.mean([v[m] for v in per_fold.values()])) for m in task.evaluation}
        if task.name == self.nan:
            scores[task.evaluation[-1]] = math.nan
        return ProtocolResult(protocol, scores, per_fold, dict.fromkeys(task.evaluation, 0.5), 0.25,
                              {"seed": seed}, 0.01)


def test_scores_of_every_task_and_protocol(synthetic_tasks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in = StandInProtocols(nan="timbre-multilabel")
    monkeypatch.setattr(workers, "run_protocol", stand_in)
    out = tmp_path / "out"
    scores = evaluate(fake_hear(), [synthetic_tasks / t for t in TASKS], out_dir=out, protocols=("knn", "mlp"),
                      cache_dir=tmp_path / "cache", seed=7)
    assert json.loads((out / "scores.json").read_text()) == scores
    assert scores["module"] == "fake_downstream_hear" and scores["precision"] == "fp32" and scores["seed"] == 7
    assert scores["protocols"] == ["knn", "mlp"] and scores["failed"] == {} and scores["warnings"] == {}
    assert list(scores["tasks"]) == list(TASKS) and set(scores["embedding_seconds"]) == set(TASKS)
    assert scores["tasks"]["tones-multiclass"] == {"knn": {"top1_acc": 24.0}, "mlp": {"top1_acc": 24.0}}
    assert scores["tasks"]["timbre-multilabel"]["knn"] == {"mAP": 15.0, "d_prime": 15.0, "aucroc": None}
    assert scores["tasks"]["tones-kfold"]["mlp"] == {"top1_acc": 16.0}
    details = scores["details"]["tones-kfold"]["knn"]
    assert list(details["fold_scores"]) == [f"fold0{i}" for i in range(5)] and details["hparams"] == {"seed": 7}
    assert scores["folds"]["tones-kfold"] == [f"fold0{i}" for i in range(5)] and scores["folds"]["events"] == ["test"]

    assert [(p, t.name) for p, t, _ in stand_in.calls] == [(p, t) for t in TASKS for p in ("knn", "mlp")]
    kfold = next(folds for _, t, folds in stand_in.calls if t.name == "tones-kfold")
    assert [len(f.train.embeddings) for f in kfold] == [48] * 5  # three folds of 16 put together
    second = kfold[1]  # test fold01, valid fold02, train fold00 + fold03 + fold04 in that order
    assert second.name == "fold01" and second.valid.files[0].startswith("fold02")
    assert [second.train.files[i][:6] for i in (0, 16, 32)] == ["fold00", "fold03", "fold04"]
    events = next(folds for _, t, folds in stand_in.calls if t.name == "events")[0]
    assert events.test.timestamps_ms is not None and len(events.test.events or {}) == 10

    table = (out / "scores.md").read_text()
    assert table == scores_markdown(scores)
    assert "| tones-multiclass | top1_acc | 24 | 24 |" in table
    assert "| tones-kfold (5 folds) | top1_acc | 16 ± 0.5 | 16 ± 0.5 |" in table
    assert "| timbre-multilabel | aucroc | NaN | NaN |" in table.split("## Every metric")[1]
    assert "aucroc" not in table.split("## Every metric")[0]  # the first table: primary metrics only

    again = evaluate(fake_hear(), [synthetic_tasks / "tones-kfold"], out_dir=out, protocols=("knn",),
                     cache_dir=tmp_path / "cache")
    assert again["embeddings_cached"] == {"tones-kfold": True}


def test_seed001s_chunk_protocol_is_recorded(tmp_path: Path) -> None:
    task = write_task(tmp_path, "chunked", split_files={"train": {f"t{i}.wav": ["ab"[i % 2]] for i in range(6)},
                                                        "valid": {"v0.wav": ["a"], "v1.wav": ["b"]},
                                                        "test": {"s0.wav": ["a"], "s1.wav": ["b"]}})
    scores = evaluate(fake_hear(), [task], out_dir=tmp_path / "out", protocols=("knn",), chunk_seconds=0.1)
    assert scores["chunk_seconds"] == 0.1 and not scores["failed"]
    assert "mean of 0.1 s chunk predictions (seed 001)" in (tmp_path / "out" / SCORES_MD).read_text()


def test_failures_are_recorded_and_the_rest_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "run_protocol", StandInProtocols(fail=("one", "linear")))
    one, two = write_task(tmp_path, "one"), write_task(tmp_path, "two", loud=("test-0.wav",))
    hear = fake_hear()
    assert isinstance(hear.model, FakeModel)
    hear.model.nan_above = 0.5  # "two" has a loud file: its embeddings are NaN
    scores = evaluate(hear, [one, two], out_dir=tmp_path / "out", protocols=("knn", "linear"))
    assert scores["tasks"]["one"] == {"knn": {"top1_acc": 2.0}} and scores["tasks"]["two"] == {}
    assert scores["failed"]["one"] == {"linear": "RuntimeError: stand-in failure"}
    assert scores["failed"]["two"]["embedding"].startswith("EmbeddingError: two/test/test-0.wav:")
    table = (tmp_path / "out" / "scores.md").read_text()
    assert "| one | top1_acc | 2 | failed |" in table and "| two | top1_acc | failed | failed |" in table
    assert "- one / linear: RuntimeError: stand-in failure" in table


def test_bad_tasks_are_refused_before_anything_is_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "run_protocol", StandInProtocols())
    good = write_task(tmp_path, "good")
    hear = fake_hear()
    assert isinstance(hear.model, FakeModel)

    def refused(dirs: list[Path], error: type[Exception], message: str, **options: Any) -> None:
        with pytest.raises(error, match=message):
            evaluate(hear, dirs, out_dir=tmp_path / "out", **options)

    refused([good, tmp_path / "missing"], TaskError, "not a task folder")
    refused([good, write_task(tmp_path, "metric", evaluation=["top2_acc"])], TaskError,
            r"metric/task_metadata.json: evaluation: unknown metric 'top2_acc'")
    no_rate = write_task(tmp_path, "rate")
    shutil.rmtree(no_rate / "32000" / "test")
    refused([good, no_rate], TaskError, "no audio for split test at 32000 Hz")
    refused([good, good], ValueError, "good given more than once")
    refused([], ValueError, "no task folder given")
    refused([good], ValueError, "unknown protocol 'kn'; did you mean knn", protocols=("kn",))
    refused([good], ValueError, "a protocol is given twice", protocols=("knn", "knn"))
    refused([good], ValueError, "chunk_seconds must be a positive number", chunk_seconds=0.0)
    assert hear.model.batches == [] and not (tmp_path / "out").exists()


def test_a_corrupt_cache_entry_heals_to_the_scores_of_a_clean_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    task = write_task(tmp_path / "tasks", split_files={
        split: {f"{split}-{i}.wav": ["a" if i % 2 else "b"] for i in range(n)} for split, n in (("train", 6), ("valid", 4),
                                                                                             ("test", 4))})
    loud = write_task(tmp_path / "tasks", "loud", loud=("train-1.wav", "train-3.wav", "valid-1.wav", "test-1.wav"))
    clean = evaluate(fake_hear(), [task, loud], out_dir=tmp_path / "clean", protocols=("knn",))
    cache = tmp_path / "cache"
    evaluate(fake_hear(), [task, loud], out_dir=tmp_path / "out", protocols=("knn",), cache_dir=cache)
    damaged = next((cache).glob("*/loud/train.npz"))
    flip_value_bit(damaged)
    with caplog.at_level("WARNING"):
        healed = evaluate(fake_hear(), [task, loud], out_dir=tmp_path / "out", protocols=("knn",), cache_dir=cache)
    assert healed["failed"] == {} and healed["embeddings_cached"] == {"mini": True, "loud": False}
    assert healed["tasks"] == clean["tasks"] and healed["details"]["loud"]["knn"]["fold_scores"] == \
        clean["details"]["loud"]["knn"]["fold_scores"]
    assert f"unreadable cache file {damaged}" in caplog.text


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_a_read_only_cache_is_read_and_nothing_new_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(workers, "run_protocol", StandInProtocols())
    kept, stale = write_task(tmp_path / "tasks", "kept"), write_task(tmp_path / "tasks", "stale")
    missing = write_task(tmp_path / "tasks", "missing")
    cache = tmp_path / "cache"
    writable = evaluate(fake_hear(), [kept, stale, missing], out_dir=tmp_path / "rw", cache_dir=cache)
    shutil.rmtree(next(cache.glob("*/missing")))
    (stale / "labelvocabulary.csv").write_text("idx,label\r\n0,a\r\n1,b\r\n")  # the same labels, other bytes: stale
    before = _files(cache)
    real_check = runner.check_writable

    def cache_is_read_only(folder: Path) -> None:
        if Path(folder) == cache:  # as a shared read-only mount answers, whoever runs (root included)
            raise PermissionError(13, "Permission denied", str(folder))
        real_check(folder)

    def no_write(path: Path, content: object) -> None:
        raise AssertionError(f"{path} written into a read-only cache")

    monkeypatch.setattr(runner, "check_writable", cache_is_read_only)
    monkeypatch.setattr(embeddings, "write_atomic", no_write)
    with caplog.at_level("WARNING"):
        scores = evaluate(fake_hear(), [kept, stale, missing], out_dir=tmp_path / "ro", cache_dir=cache)
    assert scores["embeddings_cached"] == {"kept": True, "stale": False, "missing": False} and scores["failed"] == {}
    assert scores["tasks"] == writable["tasks"] and _files(cache) == before
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and warned[0].startswith(f"the embeddings cache {cache} is not writable (")
    assert warned[0].endswith(f"Permission denied: '{cache}'): embeddings cached there are used, nothing new is kept")


def test_an_unwritable_out_dir_is_refused_before_anything_is_embedded(tmp_path: Path) -> None:
    task = write_task(tmp_path, "mini")
    (tmp_path / "file").write_text("")
    hear = fake_hear()
    assert isinstance(hear.model, FakeModel)
    with pytest.raises(OSError, match=r"cannot create or write the folder .*file/out: \[Errno 20\] Not a directory"):
        evaluate(hear, [task], out_dir=tmp_path / "file" / "out", cache_dir=tmp_path / "cache")
    assert hear.model.batches == [] and not (tmp_path / "cache").exists()


def test_a_training_split_too_small_to_learn_from_is_warned_about(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(workers, "run_protocol", StandInProtocols())
    labels = ("a", "b", "c", "d", "e", "f")
    splits = {"train": {"train-0.wav": ["a"]}, **{split: {f"{split}-{i}.wav": [label] for i, label in enumerate(labels)}
                                                   for split in ("valid", "test")}}
    task = write_task(tmp_path, "one-file", labels=labels, split_files=splits)
    with caplog.at_level("WARNING"):
        scores = evaluate(fake_hear(), [task], out_dir=tmp_path / "out", protocols=("knn", "mlp"))
    messages = scores["warnings"]["one-file"]
    assert messages == [
        "the training split: 5 of the 6 labels of the test split never occur in its 1 training row(s) (b, c, d, e, f): no "
        "protocol can learn them, and their test rows are scored at chance or worse",
        "the training split has 1 row: the mlp protocol cannot train on it (BatchNorm needs 2 rows per batch), so its "
        "scores are those of an untrained network",
    ]
    assert [f"one-file: {m}" for m in messages] == [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    table = (tmp_path / "out" / "scores.md").read_text()
    assert "## Warnings\n\n" + "".join(f"- one-file: {m}\n" for m in messages) in table


def test_dispersion_and_figures_are_recorded_per_task(synthetic_tasks: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "run_protocol", StandInProtocols())
    out = tmp_path / "out"
    tasks = [synthetic_tasks / t for t in ("tones-multiclass", "events")]
    scores = evaluate(fake_hear(), tasks, out_dir=out, protocols=("knn",))
    assert list(scores["dispersion"]) == ["tones-multiclass", "events"]
    assert set(scores["dispersion"]["tones-multiclass"]) == {"train", "valid", "test"}
    test = scores["dispersion"]["tones-multiclass"]["test"]
    assert test["n_rows"] == test["n_embeddings"] == 24 and 0.0 <= test["gini_index"] <= 1.0
    assert scores["figures"] == {"tones-multiclass": "figures/tones-multiclass.png", "events": "figures/events.png"}
    assert all((out / path).stat().st_size > 10_000 for path in scores["figures"].values())
    table = (out / "scores.md").read_text()
    assert "## Dispersion of the embeddings" in table and f"| tones-multiclass | test | 24 | {test['dim']} |" in table
    assert "- events: [figures/events.png](figures/events.png)" in table

    none = evaluate(fake_hear(), tasks[:1], out_dir=tmp_path / "none", protocols=("knn",), figures=False)
    assert none["figures"] == {} and not (tmp_path / "none" / "figures").exists()


THREADS_TOLERANCE = 1e-6
"""Largest difference allowed between a score fitted in a worker process and in the calling one: a worker runs torch on
its share of the cores, and a thread count changes the rounding of matrix products (float32), nothing else."""


def _assert_close(ours: Any, theirs: Any, where: str = "") -> None:
    """``ours`` equals ``theirs`` with numbers within :data:`THREADS_TOLERANCE` (mappings and lists walked)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), where
        for key in theirs:
            _assert_close(ours[key], theirs[key], f"{where}/{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _assert_close(a, b, f"{where}/{i}")
    elif isinstance(theirs, float) and not isinstance(ours, bool):
        assert ours == pytest.approx(theirs, rel=THREADS_TOLERANCE, abs=THREADS_TOLERANCE), where
    else:
        assert ours == theirs, where


def test_jobs_in_worker_processes_give_the_serial_scores(synthetic_tasks: Path, tmp_path: Path) -> None:
    tasks = [synthetic_tasks / t for t in ("tones-kfold", "events")]
    options: dict[str, Any] = {"protocols": ("knn", "linear"), "cache_dir": tmp_path / "cache", "figures": False}
    serial = evaluate(fake_hear(), tasks, out_dir=tmp_path / "serial", **options)
    parallel = evaluate(fake_hear(), tasks, out_dir=tmp_path / "parallel", jobs=2, **options)
    assert parallel["failed"] == serial["failed"] == {} and parallel["embeddings_cached"] == {"tones-kfold": True,
                                                                                               "events": True}
    _assert_close(parallel["tasks"], serial["tasks"])
    assert list(parallel["tasks"]["events"]) == ["knn", "linear"]
    for task, protocols in serial["details"].items():
        for protocol, details in protocols.items():
            ours = parallel["details"][task][protocol]
            _assert_close({k: v for k, v in ours.items() if k != "seconds"},
                          {k: v for k, v in details.items() if k != "seconds"}, f"{task}/{protocol}")
    assert parallel["dispersion"] == serial["dispersion"]  # measured in the calling process both times
    with pytest.raises(ValueError, match="jobs must be at least 1, got 0"):
        evaluate(fake_hear(), tasks, out_dir=tmp_path / "zero", jobs=0, **options)


def test_hear2021_tasks_are_normalised_to_the_best_challenge_score(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "run_protocol", StandInProtocols())  # top1_acc = test rows = 2 / 2 ...
    esc50 = write_task(tmp_path, "esc50", mode="full")
    half = write_task(tmp_path, "beehive_states_fold0", evaluation=["aucroc"], mode="full")
    other = write_task(tmp_path, "mine")

    def fraction(protocol: str, task: TaskInfo, folds: Sequence[Fold], **kwargs: Any) -> ProtocolResult:
        result = StandInProtocols()(protocol, task, folds, **kwargs)
        return ProtocolResult(protocol, {m: v / 4 for m, v in result.scores.items()}, result.fold_scores, result.std,
                              result.validation_score, result.hparams, result.seconds)

    monkeypatch.setattr(workers, "run_protocol", fraction)
    scores = evaluate(fake_hear(), [esc50, half, other], out_dir=tmp_path / "out", protocols=("knn", "mlp"))
    assert list(scores["hear2021"]) == ["ESC-50"]  # one Beehive fold of two: no HEAR 2021 score to compare with
    best = scores["hear2021"]["ESC-50"]["best"]
    assert scores["hear2021"]["ESC-50"]["category"] == "general" and 0.9 < best < 1
    assert scores["normalised"] == {"knn": {"ESC-50": pytest.approx(0.5 / best)},
                                    "mlp": {"ESC-50": pytest.approx(0.5 / best)}}
    assert scores["category_means"]["mlp"] == {"general": {"mean": pytest.approx(0.5 / best), "tasks": ["ESC-50"],
                                                           "n_category": 7}}
    table = (tmp_path / "out" / "scores.md").read_text()
    assert f"| ESC-50 | {best:.4g} (" in table and f"| mean: general | | {0.5 / best:.3f} (1 of 7) |" in table
