"""``model.config``'s :class:`Patchout`: the rows, columns and tokens it keeps, scaled to a shorter input, and a grid that
never empties."""

from __future__ import annotations

from typing import Any

import pytest

from hear_gear_embed.model import PasstConfig
from hear_gear_embed.model.config import Patchout

FULL = PasstConfig()  # 12 rows, 99 columns for 10 s at 10 ms
TINY = PasstConfig(embed_dim=64, depth=2, num_heads=4, num_classes=10)  # tiny_test's geometry


def test_seed003_patchout_on_a_full_length_input() -> None:
    assert Patchout(4, 40).kept(FULL, 99) == (8, 59, 8 * 59)
    assert Patchout(6, 100).kept(PasstConfig(max_frames=2000), 199) == (6, 99, 6 * 99)
    # The hops of 5 and 3.125 ms: a 10 s input has 199 and 319 columns (the encodings hold 200 and 320).
    assert Patchout(6, 150).kept(PasstConfig(max_frames=3200), 319) == (6, 169, 6 * 169)
    assert Patchout().kept(FULL, 99) == (12, 99, 12 * 99)
    assert not Patchout().active and Patchout(time=1).active and Patchout(proportion=0.1).active


def test_a_shorter_input_loses_the_same_share_of_its_columns_rounded_down() -> None:
    assert Patchout(0, 40).kept(FULL, 9) == (12, 9 - 40 * 9 // 99, 12 * 6)  # 3 of 9 columns
    assert Patchout(0, 10).kept(FULL, 9) == (12, 9, 108)  # 10 * 9 // 99 = 0: nothing removed


def test_unstructured_patchout_removes_a_share_of_the_remaining_tokens() -> None:
    rows, columns, tokens = Patchout(2, 0, 0.25).kept(FULL, 20)
    assert (rows, columns) == (10, 20) and tokens == 200 - int(0.25 * 200)


@pytest.mark.parametrize("patchout", [Patchout(100, 0), Patchout(0, 10_000), Patchout(100, 10_000, 0.99),
                                      Patchout(12, 99, 0.5)])
def test_the_grid_never_empties(patchout: Patchout) -> None:
    for config, columns in ((FULL, 99), (FULL, 1), (TINY, 3)):
        rows, kept_columns, tokens = patchout.kept(config, columns)
        assert rows >= 1 and kept_columns >= 1 and 1 <= tokens <= rows * kept_columns


@pytest.mark.parametrize(("values", "message"), [
    ({"freq": -1}, "Patchout counts must be non-negative integers"),
    ({"time": True}, "Patchout counts must be non-negative integers"),
    ({"proportion": 1.0}, r"proportion must lie in \[0, 1\)"),
    ({"proportion": -0.1}, r"proportion must lie in \[0, 1\)"),
])
def test_bad_patchout_is_named(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Patchout(**values)
