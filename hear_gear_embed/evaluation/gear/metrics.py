"""What one GEAR run measures, as a typed record: :class:`GearMetrics` (sensitivity, k-NN, ridge, Isomap and
dispersion parts, per-parameter values in :class:`PerParameter`), and :func:`analyse`, which measures it.

:meth:`GearMetrics.to_json` gives the ``metrics`` object of a run's ``metrics.json``, and
:meth:`GearMetrics.from_json` reads one back, checked field by field (:class:`JsonFields`): a problem names the
file and the field by its path from the record's root (``metrics.ridge_r2.f1``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ..analysis import (
    graph_components,
    isomap_coordinates,
    isomap_trustworthiness,
    knn_log_ratios,
    median_abs_log_ratio,
    parameter_groups,
    ridge_r2,
    sensitivity_indices,
)
from ..dispersion import DispersionMetrics, dispersion_metrics
from ..synth import PARAMETERS
from .settings import PAPER_SETTINGS, RIDGE_TARGETS, GearSettings, ridge_targets

T = TypeVar("T")


@dataclass(frozen=True)
class PerParameter(Mapping[str, T]):
    """One value per synthesis parameter, by attribute or by name (``values["f1"]``), in :data:`PARAMETERS` order."""

    f1: T
    alpha: T
    r: T

    @classmethod
    def of(cls, values: Iterable[T]) -> PerParameter[T]:
        """From values in :data:`PARAMETERS` order."""
        return cls(*values)

    def __getitem__(self, name: str) -> T:
        if name not in PARAMETERS:
            raise KeyError(name)
        return (self.f1, self.alpha, self.r)[PARAMETERS.index(name)]

    def __iter__(self) -> Iterator[str]:
        return iter(PARAMETERS)

    def __len__(self) -> int:
        return len(PARAMETERS)

    def to_json(self) -> dict[str, T]:
        """``{parameter: value}``."""
        return dict(self)


@dataclass(frozen=True)
class SensitivityMetrics:
    """The sensitivity indices (:func:`~hear_gear_embed.evaluation.analysis.sensitivity_indices`): ``index`` with its
    bootstrap ``interval``, the ``chance`` level, the ``groups`` per parameter (``binned``: equal-count bins of a
    continuous parameter) and the varying ``dimensions`` averaged over."""

    index: PerParameter[float]
    interval: PerParameter[tuple[float, float]]
    chance: PerParameter[float]
    groups: PerParameter[int]
    binned: PerParameter[bool]
    dimensions: int


@dataclass(frozen=True)
class KnnMetrics:
    """Median absolute k-NN log-ratios (K = ``k``), in-sample (the paper's) and leave-one-out, and how many sounds
    had an undefined log-ratio (a true value of 0) per parameter."""

    k: int
    in_sample: PerParameter[float]
    leave_one_out: PerParameter[float]
    undefined_log_ratio: PerParameter[int]


@dataclass(frozen=True)
class RidgeMetrics:
    """Cross-validated ridge R^2 per parameter, and what it predicted (:data:`~.settings.RIDGE_TARGETS`)."""

    r2: PerParameter[float]
    targets: PerParameter[str]


@dataclass(frozen=True)
class IsomapMetrics:
    """The Isomap graph (K = ``n_neighbors``, its connected components) and the trustworthiness of the map."""

    n_neighbors: int
    graph_components: int
    trustworthiness: float
    trust_neighbors: int


class RecordProblem(Exception):
    """What is wrong with a parsed ``metrics.json`` (the field and the problem), before the file is named."""


class JsonFields:
    """A parsed JSON object read field by field; each problem (:class:`RecordProblem`) names the field by ``path``."""

    def __init__(self, value: object, path: str = "") -> None:
        if not isinstance(value, dict):
            got = type(value).__name__
            raise RecordProblem(f"{path} must be a JSON object, got {got}" if path else f"expected a JSON object, got {got}")
        self.value: dict[str, Any] = value
        self.path = path

    def get(self, key: str) -> object:
        """The value of ``key``, of any type."""
        if key not in self.value:
            raise RecordProblem(f"{self.name(key)} is missing")
        return self.value[key]

    def name(self, key: str) -> str:
        """The path of ``key``."""
        return f"{self.path}.{key}" if self.path else key

    def fields(self, key: str) -> JsonFields:
        """The JSON object under ``key``."""
        return JsonFields(self.get(key), self.name(key))

    def _checked(self, key: str, what: str, ok: Callable[[object], bool]) -> Any:
        value = self.get(key)
        if not ok(value):
            raise RecordProblem(f"{self.name(key)} must be {what}, got {value!r}")
        return value

    def string(self, key: str) -> str:
        """A string."""
        return str(self._checked(key, "a string", lambda v: isinstance(v, str)))

    def integer(self, key: str) -> int:
        """An integer (not a boolean, not a float)."""
        value: int = self._checked(key, "an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
        return value

    def number(self, key: str) -> float:
        """A number (an integer stays one, NaN is one)."""
        value: float = self._checked(key, "a number", _is_number)
        return value

    def boolean(self, key: str) -> bool:
        """``true`` or ``false``."""
        return bool(self._checked(key, "a boolean", lambda v: isinstance(v, bool)))

    def pair(self, key: str) -> tuple[float, float]:
        """A list of two numbers, e.g. an interval."""
        value = self._checked(key, "a pair of numbers",
                              lambda v: isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v))
        return value[0], value[1]

    def per_parameter(self, key: str, read: Callable[[JsonFields, str], T]) -> PerParameter[T]:
        """``{parameter: value}`` under ``key``, each value read by ``read`` (e.g. :meth:`JsonFields.number`)."""
        values = self.fields(key)
        return PerParameter.of(read(values, name) for name in PARAMETERS)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class GearMetrics:
    """Every measurement of one set of embeddings: the ``metrics`` of a run's ``metrics.json``, typed."""

    sensitivity: SensitivityMetrics
    knn: KnnMetrics
    ridge: RidgeMetrics
    isomap: IsomapMetrics
    dispersion: DispersionMetrics

    def to_json(self) -> dict[str, Any]:
        """The ``metrics`` object of ``metrics.json``."""
        s, knn, iso = self.sensitivity, self.knn, self.isomap
        return {
            "sensitivity": s.index.to_json(),
            "sensitivity_interval": {name: list(pair) for name, pair in s.interval.items()},
            "sensitivity_chance": s.chance.to_json(),
            "sensitivity_groups": s.groups.to_json(),
            "sensitivity_binned": s.binned.to_json(),
            "sensitivity_dimensions": s.dimensions,
            "knn": {
                "k": knn.k,
                "median_abs_log_ratio": {"in_sample": knn.in_sample.to_json(), "leave_one_out": knn.leave_one_out.to_json()},
                "undefined_log_ratio": knn.undefined_log_ratio.to_json(),
            },
            "ridge_r2": self.ridge.r2.to_json(),
            "ridge_targets": self.ridge.targets.to_json(),
            "isomap": {
                "n_neighbors": iso.n_neighbors, "graph_components": iso.graph_components,
                "trustworthiness": iso.trustworthiness, "trust_neighbors": iso.trust_neighbors,
            },
            "dispersion": self.dispersion.as_dict(),
        }

    @classmethod
    def from_json(cls, obj: object, where: str = "metrics.json") -> GearMetrics:
        """The record of the ``metrics`` object ``obj`` of ``metrics.json``, checked field by field.

        Args:
            obj: the parsed ``metrics`` object.
            where: the file it was read from, named in the errors.

        Raises:
            ValueError: ``obj`` was written before the sensitivity indices existed, or lacks a field or holds one of
                the wrong type; the message names ``where`` and the field (``metrics.knn.k``).
        """
        if isinstance(obj, dict) and "sensitivity" not in obj:
            raise ValueError(f"{where} was written by an older version, without sensitivity indices: run GEAR on it again")
        try:
            return cls._read(JsonFields(obj, "metrics"))
        except RecordProblem as problem:
            raise ValueError(f"{where}: not a GEAR metrics record: {problem}") from None

    @classmethod
    def _read(cls, m: JsonFields) -> GearMetrics:
        """Read in the order of :meth:`to_json`, so that the first problem found is the first field written."""
        sensitivity = SensitivityMetrics(
            index=m.per_parameter("sensitivity", JsonFields.number),
            interval=m.per_parameter("sensitivity_interval", JsonFields.pair),
            chance=m.per_parameter("sensitivity_chance", JsonFields.number),
            groups=m.per_parameter("sensitivity_groups", JsonFields.integer),
            binned=m.per_parameter("sensitivity_binned", JsonFields.boolean),
            dimensions=m.integer("sensitivity_dimensions"),
        )
        knn = m.fields("knn")
        k = knn.integer("k")
        median = knn.fields("median_abs_log_ratio")
        knn_metrics = KnnMetrics(
            k=k,
            in_sample=median.per_parameter("in_sample", JsonFields.number),
            leave_one_out=median.per_parameter("leave_one_out", JsonFields.number),
            undefined_log_ratio=knn.per_parameter("undefined_log_ratio", JsonFields.integer),
        )
        ridge = RidgeMetrics(
            r2=m.per_parameter("ridge_r2", JsonFields.number), targets=m.per_parameter("ridge_targets", JsonFields.string)
        )
        iso = m.fields("isomap")
        isomap = IsomapMetrics(
            n_neighbors=iso.integer("n_neighbors"), graph_components=iso.integer("graph_components"),
            trustworthiness=iso.number("trustworthiness"), trust_neighbors=iso.integer("trust_neighbors"),
        )
        disp = m.fields("dispersion")
        dispersion = DispersionMetrics(
            n_embeddings=disp.integer("n_embeddings"), dim=disp.integer("dim"), gini_index=disp.number("gini_index"),
            top2_ratio=disp.number("top2_ratio"), kmeans_f_test=disp.number("kmeans_f_test"),
            calinski_harabasz=disp.number("calinski_harabasz"), n_clusters=disp.integer("n_clusters"),
        )
        return cls(sensitivity, knn_metrics, ridge, isomap, dispersion)


@dataclass
class GearAnalysis:
    """The measurements of one set of embeddings; every array has one row per sound."""

    params: np.ndarray
    coords: np.ndarray
    log_ratios_in_sample: np.ndarray
    log_ratios_loo: np.ndarray
    metrics: GearMetrics


def _floats(values: Iterable[Any]) -> PerParameter[float]:
    return PerParameter.of(float(v) for v in values)


def analyse(emb: np.ndarray, params: np.ndarray, settings: GearSettings = PAPER_SETTINGS) -> GearAnalysis:
    """Every GEAR measurement of embeddings ``(N, D)`` of sounds with parameters ``(N, 3)`` (f1 in Hz)."""
    params = np.asarray(params, dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != len(PARAMETERS):
        raise ValueError(f"params must have shape (n_sounds, {len(PARAMETERS)}) in {PARAMETERS} order, got {params.shape}")
    settings.check(len(params))
    groups = parameter_groups(params)
    sens = sensitivity_indices(emb, groups, n_resamples=settings.sensitivity_resamples, seed=settings.seed)
    coords = isomap_coordinates(emb, settings.isomap_neighbors, settings.isomap_components)
    in_sample = knn_log_ratios(emb, params, settings.knn_neighbors, leave_one_out=False)
    loo = knn_log_ratios(emb, params, settings.knn_neighbors, leave_one_out=True)
    sensitivity = SensitivityMetrics(
        index=_floats(sens.index),
        interval=PerParameter.of((float(lo), float(hi)) for lo, hi in zip(sens.low, sens.high, strict=True)),
        chance=_floats(sens.chance),
        groups=PerParameter.of(int(g) for g in sens.n_groups),
        binned=PerParameter.of(bool(len(np.unique(params[:, j])) > sens.n_groups[j]) for j in range(len(PARAMETERS))),
        dimensions=sens.n_dims,
    )
    knn = KnnMetrics(
        k=settings.knn_neighbors,
        in_sample=_floats(median_abs_log_ratio(in_sample)),
        leave_one_out=_floats(median_abs_log_ratio(loo)),
        undefined_log_ratio=PerParameter.of(int(np.isnan(in_sample[:, j]).sum()) for j in range(len(PARAMETERS))),
    )
    ridge = RidgeMetrics(
        r2=_floats(ridge_r2(emb, ridge_targets(params), settings.ridge_folds, settings.seed)),
        targets=PerParameter(**RIDGE_TARGETS),
    )
    isomap = IsomapMetrics(
        n_neighbors=settings.isomap_neighbors,
        graph_components=graph_components(emb, settings.isomap_neighbors),
        trustworthiness=isomap_trustworthiness(emb, coords, settings.trust_neighbors),
        trust_neighbors=settings.trust_neighbors,
    )
    dispersion = dispersion_metrics(emb, settings.n_clusters, settings.seed)
    return GearAnalysis(params, coords, in_sample, loo, GearMetrics(sensitivity, knn, ridge, isomap, dispersion))
