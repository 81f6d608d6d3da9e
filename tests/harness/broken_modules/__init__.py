"""Tiny HEAR modules (torch only, no weights) on which the in-process validator
(:mod:`hear_gear_embed.evaluation.validate`) must agree with the real ``hear-validator``.

``correct`` passes cleanly and ``sparse_timestamps`` passes with warnings; every other module breaks one
rule that the real validator checks and fails, except ``nan_embeddings``, whose NaN embeddings the real validator
passes and the in-process one fails (the one documented disagreement); ``import_fails`` cannot be imported at all.
Each module's docstring says what it breaks and the expected verdicts; :data:`CASES` holds the same for the tests
(``tests/evaluation/test_validate.py``) and the harness (``tests/harness/run_harness.py``).
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    """Expected verdict of a module in process (``passes``), and a regular expression that one of the report's errors
    (a failing module) or warnings (a passing one) must match; ``""``: no warning at all. ``real_passes``: the verdict
    of ``hear-validator`` where it differs by design (:mod:`hear_gear_embed.evaluation.validate`, "Deliberate
    differences"); ``None``: the same verdict."""

    passes: bool
    reason: str
    real_passes: bool | None = None

    @property
    def real_verdict(self) -> bool:
        """The verdict ``hear-validator`` must give."""
        return self.passes if self.real_passes is None else self.real_passes


_TS_1S = r"^get_timestamp_embeddings, 2 x 1\.07 s: "
_SCENE = r"^get_scene_embeddings, 4 x 2\.74 s: "

CASES: dict[str, Case] = {
    "correct": Case(True, ""),
    "sparse_timestamps": Case(True, _TS_1S + "step between timestamps up to 100 ms"),
    "missing_scene": Case(False, r"^module API: the module must define get_scene_embeddings$"),
    "load_model_raises": Case(False, r"^load_model\(\): raised FileNotFoundError: .*no weights file given"),
    "not_torch_module": Case(False, r"^load_model\(\): returned .*NumpyModel, not a torch\.nn\.Module"),
    "wrong_sample_rate": Case(False, r"^sample_rate: 8000 Hz is not one of"),
    "size_not_int": Case(False, r"^embedding sizes: scene_embedding_size must be an int, got float 8\.0"),
    "timestamps_beyond_end": Case(False, _TS_1S + r"timestamps end at 1150 ms, beyond the 1070 ms"),
    "irregular_timestamps": Case(False, _TS_1S + r"timestamps must be regular: a step deviates"),
    "wrong_timestamp_size": Case(False, _TS_1S + r"embedding size 8 != timestamp_embedding_size 16"),
    "float64_embeddings": Case(False, _TS_1S + r"embeddings must be torch\.float32, got torch\.float64"),
    "timestamps_raise": Case(False, r"^get_timestamp_embeddings, 2 x 4\.0 s: raised ValueError: .*\(at timestamps_raise\.py:\d+\)"),
    "numpy_outputs": Case(False, _SCENE + r"embeddings must be a torch\.Tensor, got numpy\.ndarray"),
    "scene_wrong_batch": Case(False, _SCENE + r"4 sounds in, 1 embeddings out"),
    "nan_embeddings": Case(False, r"^get_timestamp_embeddings, 2 x 4\.0 s: embeddings contain 16 NaN of 1296 values: "
                           r"this check is stricter than hear-validator 2021\.0\.6", real_passes=True),
}
"""Module name (in this package) -> expected verdict and reason."""

IMPORT_FAILS = "import_fails"
"""A module that raises while it is imported: the real validator crashes, ``validate_module`` raises ImportError."""
