"""Apply (and verify) the one-line heareval fix needed with pytorch-lightning >= 1.6.

``heareval/predictions/task_predictions.py`` sets ``trainer.fit_loop.current_epoch``, which newer
Lightning ignores, so every event task dies at test time with a ``KeyError``. The fix sets the epoch
through ``fit_loop.epoch_progress.current.completed``. Exits non-zero if the line is not found.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

OLD = "trainer.fit_loop.current_epoch = grid_point.epoch"
NEW = "trainer.fit_loop.epoch_progress.current.completed = grid_point.epoch"


def main() -> int:
    spec = importlib.util.find_spec("heareval")
    if spec is None or not spec.submodule_search_locations:
        print("patch_heareval: heareval is not installed", file=sys.stderr)
        return 1
    target = Path(next(iter(spec.submodule_search_locations))) / "predictions" / "task_predictions.py"
    text = target.read_text()
    if OLD in text:
        target.write_text(text.replace(OLD, NEW))
        print(f"patch_heareval: patched {target}")
    elif NEW in text:
        print(f"patch_heareval: already patched {target}")
    else:
        print(f"patch_heareval: neither the line to patch nor its fix is in {target}", file=sys.stderr)
        return 1
    text = target.read_text()
    if OLD in text or text.count(NEW) != 1:
        print(f"patch_heareval: verification failed for {target}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
