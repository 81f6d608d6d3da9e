"""One GEAR run (:func:`run_gear`): synthesise, embed with any model (:func:`embed_tones`), :func:`~.metrics.analyse`,
and write the run folder: ``metrics.json`` (a :class:`GearRecord`), ``report.md``, ``gear.npz`` and the figures (see
the package docstring)."""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from ...embedding.config import KINDS, Kind
from ...hear.handle import EmbeddingModel, LazyClips
from ...hear.spec import ModelSpec, as_model
from ...util.files import check_writable
from ...util.precision import Precision, check_precision_name
from ..plots import plot_isomap, plot_isomap_parameter, plot_log_ratios
from ..synth import PARAMETERS, ToneGrid, make_grid
from .metrics import analyse
from .report import render_report
from .settings import PAPER_SETTINGS, GearSettings

logger = logging.getLogger(__name__)


class EmbeddingInfo(TypedDict):
    """What a GEAR run embedded: the embedding kind and its size."""

    kind: Kind
    dim: int


class GearTiming(TypedDict):
    """Seconds spent embedding and analysing."""

    embed: float
    analyse: float


class GearRecord(TypedDict):
    """The content of ``metrics.json`` of one run. The nested parts are JSON objects: ``grid`` from
    :meth:`~hear_gear_embed.evaluation.synth.ToneGrid.describe`, ``settings`` the :class:`~.settings.GearSettings`, ``metrics`` from
    :meth:`~.metrics.GearMetrics.to_json`."""

    module: str
    model_path: str
    precision: Precision
    embedding: EmbeddingInfo
    grid: dict[str, Any]
    settings: dict[str, Any]
    metrics: dict[str, Any]
    timing_s: GearTiming
    versions: dict[str, str]


def _tones(grid: ToneGrid, batch: int) -> LazyClips:
    """The sounds of ``grid``, synthesised ``batch`` at a time as they are read in order (bounded memory)."""
    block: dict[int, np.ndarray] = {}

    def read(index: int) -> np.ndarray:
        start = index - index % batch
        if start not in block:
            block.clear()
            block[start] = grid.audio(start, min(start + batch, grid.n_sounds))
        return block[start][index - start]

    return LazyClips(grid.n_sounds, read)


def embed_tones(model: EmbeddingModel, grid: ToneGrid, kind: Kind = "scene", batch_size: int = 32,
                progress: bool = True) -> np.ndarray:
    """Embed every sound of ``grid`` with ``model``, ``batch_size`` sounds per call.

    Args:
        model: the model (:func:`~hear_gear_embed.hear.spec.load`); ``grid.sample_rate`` must be its rate.
        grid: the dataset.
        kind: ``"scene"``, or ``"timestamp"`` embeddings averaged over time (GEAR needs one vector per sound).
        batch_size: sounds per call of the model.
        progress: show a progress bar (tqdm, on stderr).

    Returns:
        Embeddings ``(grid.n_sounds, dim)`` float32.

    Raises:
        ValueError: a bad kind or batch size, another sample rate, or what the model returned is not finite embeddings
            of its sizes (the message names the module).
    """
    import torch
    from tqdm.auto import tqdm

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if grid.sample_rate != model.sample_rate:
        raise ValueError(f"the grid is sampled at {grid.sample_rate} Hz but {model.module_name} expects "
                         f"{model.sample_rate} Hz")
    with tqdm(total=grid.n_sounds, unit="sound", desc=f"GEAR {model.module_name}", disable=not progress) as bar:
        out = model.embed(_tones(grid, batch_size), (kind,), lengths=[grid.n_samples] * grid.n_sounds,
                          max_items=batch_size, progress=bar.update)
    if kind == "scene":
        emb = np.stack([clip.of("scene") for clip in out])
    else:
        # each batch's frames averaged as one array, as the frames of one call of the model
        frames = [clip.of("timestamp") for clip in out]
        emb = np.concatenate([torch.from_numpy(np.stack(frames[i: i + batch_size])).mean(dim=1).numpy()
                              for i in range(0, len(frames), batch_size)])
    logger.info("embedded %d sounds with %s (%s, dim %d)", grid.n_sounds, model.module_name, kind, emb.shape[1])
    return emb


def _short(name: str) -> str:
    return name.removeprefix("hear_gear_embed.hear.")


def _versions() -> dict[str, str]:
    import sklearn
    import torch

    from ..._version import __version__

    return {"hear_gear_embed": __version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__}


def run_gear(
    model: EmbeddingModel | ModelSpec | str | None = None,
    out_dir: str | Path | None = None,
    model_path: str = "",
    preset: str = "paper",
    grid_overrides: dict[str, object] | None = None,
    grid: ToneGrid | None = None,
    settings: GearSettings = PAPER_SETTINGS,
    kind: Kind = "scene",
    batch_size: int = 32,
    progress: bool = True,
    save_embeddings: bool = False,
    *,
    precision: Precision = "fp32",
    compile: bool | None = None,
    module: str | None = None,
) -> GearRecord:
    """Run GEAR on a model and write its outputs (see the package docstring) to ``out_dir``.

    Args:
        model: the model (:func:`~hear_gear_embed.hear.spec.load`, any variant or HEAR module, or an Embedder in hand
            through :meth:`~hear_gear_embed.hear.handle.EmbeddingModel.from_embedder`), a
            :class:`~hear_gear_embed.hear.spec.ModelSpec`, or a name: a variant (``handcrafted``) or any importable
            HEAR module (``hearbaseline``).
        out_dir: output folder, created if needed (required: its default only lets the deprecated ``module=`` stand in
            for ``model``).
        model_path: with a name, the checkpoint passed to ``load_model``; ``""`` for the module's default.
        preset: ``"paper"`` or ``"perceptual"``, built at the model's sample rate; ignored if ``grid``.
        grid_overrides: arguments of the preset (e.g. ``n_alpha``, ``duration_s``); its ``seed``
            defaults to ``settings.seed``.
        grid: a custom dataset (full control); its sample rate must be the model's.
        settings: analysis settings.
        kind: ``"scene"`` embeddings, or ``"timestamp"`` embeddings averaged over time.
        batch_size: sounds per HEAR call.
        progress: show a progress bar while embedding.
        save_embeddings: also store the embeddings in ``gear.npz``.
        precision: with a name, the format of the model's matrix products (passed to ``load_model``); the precision
            the model computes in (``"fp32"`` for a weight-free variant) is recorded in ``metrics.json``.
        compile: with a variant's name, run its network compiled (``None``: where it pays;
            :func:`~hear_gear_embed.hear.spec.load`).
        module: 0.1's name of ``model`` (deprecated; removed in 0.3).

    Returns:
        The content of ``metrics.json``.

    Raises:
        ValueError: bad settings or module, a dataset that does not vary every parameter, or a precision the module
            or its device cannot run.
        OSError: ``out_dir`` cannot be created or written (checked before the module is loaded; the message names it
            and the operating system's error).
    """
    if module is not None:
        if model is not None:
            raise ValueError("give the model once: run_gear(model, ...); module= is its deprecated name")
        warnings.warn("run_gear(module=...) is deprecated and will be removed in 0.3: use run_gear(model=...)",
                      DeprecationWarning, stacklevel=2)
        model = module
    if model is None or out_dir is None:
        raise TypeError("run_gear() needs a model (a name, a ModelSpec or a loaded EmbeddingModel) and an out_dir")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    out = Path(out_dir)
    check_writable(out)

    def dataset(sample_rate: int) -> ToneGrid:
        tones = grid
        if tones is None:
            tones = make_grid(preset, sample_rate, **{"seed": settings.seed, **(grid_overrides or {})})
        elif grid_overrides:
            raise ValueError("give either grid or grid_overrides, not both")
        settings.check(tones.n_sounds)
        columns = tones.parameters().matrix().T
        fixed = [name for name, column in zip(PARAMETERS, columns, strict=True) if np.ptp(column) == 0]
        if fixed:
            raise ValueError(f"the dataset does not vary {', '.join(fixed)}: GEAR measures the effect of every parameter")
        return tones

    loaded = as_model(model, model_path=model_path, precision=precision, compile=compile)
    tones = dataset(loaded.sample_rate)
    started = time.perf_counter()
    emb = embed_tones(loaded, tones, kind, batch_size, progress)
    embedded = time.perf_counter()
    params = tones.parameters().matrix()
    result = analyse(emb, params, settings)
    analysed = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    label = _short(loaded.module_name)
    arrays = {
        "params": params, "coords": result.coords,
        "log_ratios_in_sample": result.log_ratios_in_sample, "log_ratios_loo": result.log_ratios_loo,
    }
    if save_embeddings:
        arrays["embeddings"] = emb
    # numpy's stub lets **kwds fill its keyword `allow_pickle: bool`; no array here has that name
    np.savez_compressed(out / "gear.npz", **arrays)  # type: ignore[arg-type]
    plot_isomap(result.coords, params, out / "isomap.png", title=label)
    for j, name in enumerate(PARAMETERS):
        plot_isomap_parameter(result.coords, params[:, j], name, out / f"isomap_{name}.png", title=f"{label}: {name}")
    plot_log_ratios(result.log_ratios_in_sample, result.log_ratios_loo, out / "knn_log_ratios.png", title=label)
    record: GearRecord = {
        "module": loaded.module_name,
        "model_path": model_path if isinstance(model, str) else _weights_given(loaded),
        "precision": check_precision_name(loaded.identity.precision),
        "embedding": {"kind": kind, "dim": int(emb.shape[1])},
        "grid": tones.describe(),
        "settings": asdict(settings),
        "metrics": result.metrics.to_json(),
        "timing_s": {"embed": round(embedded - started, 3), "analyse": round(analysed - embedded, 3)},
        "versions": _versions(),
    }
    (out / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "report.md").write_text(render_report(record))
    logger.info("GEAR run of %s written to %s", loaded.module_name, out)
    return record


def _weights_given(model: EmbeddingModel) -> str:
    """The checkpoint a loaded model was asked for (``""``: its default), or, for a model made in hand, its weights."""
    if model.spec is not None:
        return model.spec.weights
    return model.identity.weights
