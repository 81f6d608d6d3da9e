"""The harness's heareval jobs in a reduced precision: the option reaches ``load_model`` through heareval's
``--model-options``, and predictions read the folder heareval names after it (the run itself: ``nox -s harness``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.run_harness import heareval_jobs

MODULE = "hear_gear_embed.hear.passt_base"


@pytest.mark.parametrize(("precision", "label", "folder"), [
    ("fp32", "passt_base", MODULE), ("bf16", "passt_base-bf16", f"{MODULE}-precision=bf16"),
])
def test_heareval_jobs_per_precision(tmp_path: Path, precision: str, label: str, folder: str) -> None:
    tasks = tmp_path / "tasks"
    (tasks / "events" / "32000" / "test").mkdir(parents=True)
    (tasks / "events" / "task_metadata.json").write_text(json.dumps({"embedding_type": "event"}))
    embed, predict = heareval_jobs({MODULE: tmp_path / "weights.pt"}, tasks, tmp_path / "emb", tmp_path, precision)
    assert embed.name == f"embeddings {label}" and embed.log == tmp_path / f"embeddings-{label}.log"
    if precision == "fp32":
        assert "--model-options" not in embed.cmd  # what CI runs is unchanged
    else:
        assert json.loads(embed.cmd[embed.cmd.index("--model-options") + 1]) == {"precision": precision}
    assert predict.name == f"predictions {label} events" and predict.after == (embed.name,)
    assert predict.cmd[-1] == str(tmp_path / "emb" / folder / "events")
