"""The best HEAR 2021 scores: the shipped file's consistency, matching task folders, normalisation, category means, and
a clear error for every malformed file."""

from __future__ import annotations

import copy
import json
import logging
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hear_gear_embed.evaluation.downstream.metrics import METRICS
from hear_gear_embed.evaluation.downstream.reference import (
    CATEGORIES,
    CategoryMean,
    ReferenceDataError,
    category_means,
    default_path,
    hear2021_best,
    load_reference,
    normalise,
    normalised_scores,
)

ROOT = Path(__file__).resolve().parents[3]

# Koutini et al., Table 1, by hearpreprocess task_name.
TABLE1 = {
    "beehive_states_fold0": "general", "beehive_states_fold1": "general", "beijing_opera": "music",
    "tfds_crema_d": "speech", "dcase2016_task2": "general", "esc50": "general", "fsd50k": "general",
    "tfds_gtzan": "music", "tfds_gtzan_music_speech": "general", "gunshot_triangulation": "general",
    "libricount": "speech", "maestro": "music", "mridangam_stroke": "music", "mridangam_tonic": "music",
    "nsynth_pitch": "music", "speech_commands": "speech", "vocal_imitation": "general", "vox_lingua_top10": "speech",
}
# The first metric of each hearpreprocess task config's "evaluation" list.
PRIMARY = {"beehive_states_fold0": "aucroc", "beehive_states_fold1": "aucroc", "dcase2016_task2": "event_onset_200ms_fms",
           "maestro": "event_onset_50ms_fms", "nsynth_pitch": "pitch_acc", "fsd50k": "mAP", "vocal_imitation": "mAP"}


def meta(task_name: str, mode: str | None = None) -> dict[str, Any]:
    return {"task_name": task_name} if mode is None else {"task_name": task_name, "mode": mode}


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(default_path().read_text(encoding="utf-8"))
    return data


def by_title(title: str) -> Any:
    return next(r for r in load_reference().tasks if r.title == title)


# --- the shipped file -----------------------------------------------------------------------------------------------


def test_shipped_file_is_consistent() -> None:
    ref = load_reference()
    assert ref.source and ref.note and ref.retrieved.year >= 2021
    assert len(ref.tasks) == 19
    identities = [(name, r.mode) for r in ref.tasks for name in r.task_names]
    assert len(identities) == len(set(identities)) == 20  # Beehive States is two folds
    assert {name for name, _ in identities} == set(TABLE1)
    for r in ref.tasks:
        for name in r.task_names:
            assert r.category == TABLE1[name], r.title
            assert r.metric == PRIMARY.get(name, "top1_acc"), r.title
        metric = METRICS[r.metric]
        assert metric.higher_is_better and 0 < r.best <= 1, r.title
        assert r.submissions and r.mode in ("5h", "50h", "full"), r.title
    counts = {c: sum(r.category == c for r in ref.tasks) for c in CATEGORIES}
    assert counts == {"speech": 5, "music": 7, "general": 7}


def test_shipped_file_is_in_the_wheel() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped_data = pyproject["tool"]["setuptools"]["package-data"]["hear_gear_embed"]
    assert default_path().relative_to(ROOT / "hear_gear_embed").as_posix() in shipped_data


def test_loading_is_cached() -> None:
    assert load_reference() is load_reference()


# --- matching task folders ------------------------------------------------------------------------------------------


def test_matching_uses_mode_where_the_task_ran_in_several() -> None:
    assert hear2021_best(meta("speech_commands", "5h")) == by_title("Speech Commands 5hr")
    assert hear2021_best(meta("speech_commands", "full")) == by_title("Speech Commands Full")
    assert hear2021_best(meta("nsynth_pitch", "50h")) == by_title("NSynth Pitch 50hr")
    assert hear2021_best(meta("speech_commands")) is None  # 5h or full: unknown
    assert hear2021_best(meta("esc50")) == by_title("ESC-50")  # one mode: task_name suffices
    assert hear2021_best({**meta("esc50", "full"), "version": "v2.0.0", "split_mode": "presplit_kfold"}) == by_title("ESC-50")


def test_matching_refuses_other_modes_and_unknown_tasks() -> None:
    assert hear2021_best(meta("esc50", "small")) is None  # hearpreprocess's test version
    assert hear2021_best(meta("maestro", "full")) is None
    assert hear2021_best(meta("tones-multiclass")) is None
    assert hear2021_best(meta("beehive_states", "full")) is None  # the challenge-time name, not a released folder


def test_both_beehive_folds_match_one_record() -> None:
    fold0, fold1 = hear2021_best(meta("beehive_states_fold0", "full")), hear2021_best(meta("beehive_states_fold1", "full"))
    assert fold0 is not None and fold0 is fold1 and fold0.title == "Beehive States"


@pytest.mark.parametrize(("metadata", "match"), [
    ({}, "task_name"),
    (meta(""), "task_name"),
    ({"task_name": 3}, "task_name"),
    ({"task_name": "esc50", "mode": 5}, "mode must be a string"),
])
def test_malformed_metadata_is_refused(metadata: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        hear2021_best(metadata)


# --- normalisation and category means -------------------------------------------------------------------------------


def test_normalise_divides_by_the_best() -> None:
    esc = by_title("ESC-50")
    assert normalise(esc.best, esc) == 1.0
    assert normalise(0.0, esc) == 0.0
    assert normalise(0.5, esc) == pytest.approx(0.5 / 0.947499991, rel=1e-12)
    vocal = by_title("Vocal Imitations")
    assert normalise(0.3, vocal) == pytest.approx(0.3 / 0.215213895) and normalise(0.3, vocal) > 1  # beats the best


@pytest.mark.parametrize("score", [math.nan, math.inf, -0.1, 1.5, True, "0.5", None])
def test_normalise_refuses_scores_outside_0_1(score: Any) -> None:
    with pytest.raises(ValueError, match=r"ESC-50: a top1_acc score must be a finite number in \[0, 1\]"):
        normalise(score, by_title("ESC-50"))


def test_normalised_scores_average_beehive_folds_and_skip_unknown_tasks() -> None:
    scores = [(meta("speech_commands", "full"), 0.9), (meta("beehive_states_fold1", "full"), 0.6),
              (meta("tones-multiclass"), 0.99), (meta("esc50", "full"), 0.8), (meta("beehive_states_fold0", "full"), 0.7)]
    normalised = normalised_scores(scores)
    assert [r.title for r in normalised] == ["Beehive States", "ESC-50", "Speech Commands Full"]  # reference order
    assert normalised[by_title("Beehive States")] == pytest.approx(0.65 / 0.877965838)
    assert normalised[by_title("ESC-50")] == pytest.approx(0.8 / 0.947499991)
    assert normalised[by_title("Speech Commands Full")] == pytest.approx(0.9 / 0.977914095)


def test_a_beehive_fold_alone_is_left_out_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hear_gear_embed.evaluation.downstream.reference"):
        normalised = normalised_scores([(meta("beehive_states_fold0", "full"), 0.7), (meta("esc50", "full"), 0.8)])
    assert [r.title for r in normalised] == ["ESC-50"]
    assert "beehive_states_fold1 not given" in caplog.text


def test_normalised_scores_refuse_a_task_twice_and_bad_scores() -> None:
    with pytest.raises(ValueError, match="'esc50' .*given twice"):
        normalised_scores([(meta("esc50", "full"), 0.8), (meta("esc50"), 0.7)])
    with pytest.raises(ValueError, match="FSD50K: a mAP score"):
        normalised_scores([(meta("fsd50k", "full"), math.nan)])


def test_category_means() -> None:
    scores = [(meta("esc50", "full"), 0.8), (meta("fsd50k", "full"), 0.5), (meta("speech_commands", "5h"), 0.9),
              (meta("tones-multiclass"), 0.99)]
    means = category_means(normalised_scores(scores))
    assert list(means) == ["speech", "general"]  # music: no task given
    general = means["general"]
    assert isinstance(general, CategoryMean) and general.mean == pytest.approx((0.8 / 0.947499991 + 0.5 / 0.640896618) / 2)
    assert (general.tasks, general.n_tasks, general.n_category) == (("ESC-50", "FSD50K"), 2, 7)
    assert means["speech"].mean == pytest.approx(0.9 / 0.976278186) and means["speech"].n_tasks == 1
    assert means["speech"].n_category == 5
    assert category_means({}) == {}


def test_category_means_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="ESC-50: a normalised score must be a finite number >= 0"):
        category_means({by_title("ESC-50"): -1.0})
    with pytest.raises(ValueError, match="ESC-50"):
        category_means({by_title("ESC-50"): math.nan})


# --- malformed files ------------------------------------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def edit(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _drop(path: tuple[Any, ...]) -> Any:
    def edit(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return edit


def _duplicate_identity(data: dict[str, Any]) -> None:
    data["tasks"][1]["task_names"] = ["esc50"]


@pytest.mark.parametrize(("edit", "match"), [
    (_drop(("note",)), r"missing key\(s\) \['note'\]"),
    (_set(("extra",), 1), r"unknown key\(s\) \['extra'\]"),
    (_set(("source",), []), "source must be a non-empty list"),
    (_set(("retrieved",), "December 2026"), "retrieved must be a date"),
    (_set(("tasks",), []), "tasks must be a list of 1 to 19 records"),
    (lambda d: d["tasks"].append(copy.deepcopy(d["tasks"][0])), "tasks must be a list of 1 to 19 records"),
    (_drop(("tasks", 2, "best")), r"tasks\[2\]: missing key\(s\) \['best'\]"),
    (_set(("tasks", 0, "metric"), "segment_1s_er"), r"tasks\[0\]\.metric 'segment_1s_er' is not a HEAR 2021 primary"),
    (_set(("tasks", 0, "best"), 0.0), r"tasks\[0\]\.best must be a aucroc score in \(0, 1\]"),
    (_set(("tasks", 4, "best"), 94.75), r"tasks\[4\]\.best must be a top1_acc score"),
    (_set(("tasks", 4, "best"), True), r"tasks\[4\]\.best"),
    (_set(("tasks", 4, "best"), "0.9"), r"tasks\[4\]\.best"),
    (_set(("tasks", 4, "category"), "environment"), r"tasks\[4\]\.category must be one of speech, music, general"),
    (_set(("tasks", 4, "task_names"), []), r"tasks\[4\]\.task_names must be a non-empty list"),
    (_set(("tasks", 4, "submissions"), ["a", "a"]), r"tasks\[4\]\.submissions must be a non-empty list of distinct"),
    (_set(("tasks", 4, "title"), ""), r"tasks\[4\]\.title must be a non-empty string"),
    (_set(("tasks", 5, "title"), "ESC-50"), "title 'ESC-50' names more than one record"),
    (_duplicate_identity, "task_name and mode 'esc50 full' names more than one record"),
])
def test_malformed_file_is_refused(tmp_path: Path, edit: Any, match: str) -> None:
    data = shipped()
    edit(data)
    path = tmp_path / "best.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=match):
        load_reference(path)


@pytest.mark.parametrize(("text", "match"), [("{", "not valid JSON"), ("[]", "top level must be an object")])
def test_unreadable_file_is_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "best.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=match):
        load_reference(path)
    with pytest.raises(ReferenceDataError, match="cannot read"):
        load_reference(tmp_path / "absent.json")


def test_a_well_formed_copy_loads(tmp_path: Path) -> None:
    path = tmp_path / "best.json"
    path.write_text(json.dumps(shipped()), encoding="utf-8")
    assert load_reference(path).tasks == load_reference().tasks
