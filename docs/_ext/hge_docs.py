"""Pages generated from the package at build time, so that they cannot drift from the code.

Writes into ``docs/_generated/`` (ignored by git) when the builder starts:

* ``include/variants.md``: the variant catalogue, from the registry (included by ``variants.md``);
* ``include/checkpoints.md``: the official checkpoints and their checksums, from the records of ``PRETRAINED``
  (included by ``weights.md``);
* ``include/descriptors.md``: the frame features, from the descriptor table ``DESCRIPTORS`` (included by
  ``features.md``);
* ``include/hear2021.md``: the best HEAR 2021 score of each task and its sources, from ``hear2021_best.json``
  (included by ``evaluate.md``);
* ``include/ci_stages.md``: the CI stages, their budgets and what each proves, from ``.ci/stages.toml`` (included
  by ``development.md``);
* ``include/toplevel.md``: the names of ``hear_gear_embed.__all__``, each linked to where it is documented
  (included by ``api.md``);
* ``api/<module>.rst``: one API page per child of the package, with every module below it, and
  ``include/api_toctree.md``, their table of contents (included by ``api.md``).

Each object is documented once, in the module that defines it: ``autodoc`` runs with ``ignore-module-all``
(``conf.py``), so a package's re-exports are not documented a second time under the package's name; cross-
references to re-exported names are pointed at that one description (:func:`resolve_by_import`).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import pkgutil
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TypeVar, cast

from docutils.nodes import Element
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.domains.python import PythonDomain
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.typing import ExtensionMetadata

import hear_gear_embed as hge
from hear_gear_embed.embedding.config import FeatureBlock, VariantConfig, WindowBlock
from hear_gear_embed.evaluation.downstream.reference import load_reference
from hear_gear_embed.features.catalogue import DESCRIPTORS, SOURCES
from hear_gear_embed.features.config import FeatureConfig
from hear_gear_embed.frontends.config import CqtConfig
from hear_gear_embed.model.weights import PRETRAINED
from hear_gear_embed.registry import variants_by_weights

PACKAGE = "hear_gear_embed"
API_ORDER = ("util", "frontends", "model", "features", "embedding", "variant_spec", "registry", "diverse", "hear", "evaluation",
             "io", "training", "cli")
"""Reading order of the API pages, the order of the import rule (each imports only those before it);
children of the package not named here follow alphabetically."""
SKIPPED_MODULES = {f"{PACKAGE}.__main__", f"{PACKAGE}._version"}
"""Modules not documented: ``__main__`` runs the command line when imported; ``_version`` only holds
``__version__``, listed with the top-level names."""


def _write(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (an unchanged file keeps incremental builds incremental)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _ms(value: float) -> str:
    return f"{value:g} ms"


def _hear_module(name: str) -> str:
    return f"{PACKAGE}.hear.{name}"


def _block_label(block: WindowBlock | FeatureBlock, short: bool = False) -> str:
    """``H+M @ 160 ms`` for network levels, ``cqt frames @ 60 ms`` / ``mfcc, chroma mean+std @ 160 ms`` for features
    (``short``: more than three features are counted, not named)."""
    if isinstance(block, WindowBlock):
        return f"{'+'.join(block.levels)} @ {_ms(block.window_ms)}"
    pooling = "mean+std" if block.pooling == "meanstd" else "frames"
    names = f"{len(block.features)} features" if short and len(block.features) > 3 else ", ".join(block.features)
    return f"{names} {pooling} @ {_ms(block.window_ms)}"


def _block_parts(cfg: VariantConfig, block: WindowBlock | FeatureBlock) -> str:
    """What one timestamp block is made of: ``H (527) + L (6 frames x 128)``."""
    if isinstance(block, WindowBlock):
        parts = []
        for level in block.levels:
            size = cfg.level_size(level, block.window_ms)
            if level == "L":
                frames = cfg.frontend.n_frames(cfg.window_samples(block.window_ms))
                parts.append(f"L ({frames} frames x {cfg.frontend.n_bands})")
            else:
                parts.append(f"{level} ({size})")
        return " + ".join(parts)
    parts = []
    for feature in block.features:
        size, dim = cfg.feature_size(feature, block), cfg.features.dim(feature)
        shape = f"{size // dim} frames x {dim}" if block.pooling == "frames" else f"2 x {dim}"
        parts.append(f"{feature} ({shape})")
    return " + ".join(parts)


def _frontend_label(cfg: VariantConfig) -> str:
    front = cfg.frontend
    if isinstance(front, CqtConfig):
        return (f"log-CQT, {front.n_bins} bins from {front.fmin:.1f} Hz, {front.bins_per_octave} per octave, "
                f"hop {_ms(front.hop_ms)}")
    return f"log-mel, {front.n_mels} bands, {front.fmin:g} to {front.fmax:g} Hz, STFT hop {_ms(front.hop_ms)}"


def _hops(cfg: VariantConfig) -> list[str]:
    """Hops of the spectrogram frames the variant reads: the frontend's (network levels) and the frame features'."""
    hops = {cfg.frontend.hop_ms} if cfg.window_levels else set()
    hops |= {1000.0 * cfg.features.hop(f) / cfg.sample_rate for f in cfg.feature_names}
    return [_ms(h) for h in sorted(hops)]


def _weights_label(cfg: VariantConfig) -> str:
    if cfg.weights is not None:
        return f"`{cfg.weights.name}`"
    return "bring your own" if cfg.needs_network else "none (weight-free)"


def _scene_parts(cfg: VariantConfig) -> list[str]:
    parts = [f"{lv} ({cfg.level_size(lv)}{', per-band mean' if lv == 'L' else ''})" for lv in cfg.scene_levels]
    parts += [f"{f} mean+std ({cfg.feature_size(f)})" for f in cfg.scene_features]
    return parts


def variants_markdown() -> str:
    """The catalogue of published variants: one summary table, then one section per variant."""
    names = hge.list_variants()
    lines = [
        f"{len(names)} published variants, from `hear_gear_embed.list_variants()` and "
        "`hear_gear_embed.get_variant(name)`. Sizes are computed from each configuration.",
        "",
        "| variant | HEAR module | sample rate | scene size | timestamp size | timestamp blocks | STFT / frame hop | weights |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        cfg = hge.get_variant(name)
        blocks = ", ".join(_block_label(b, short=True) for b in cfg.timestamp_blocks)
        lines.append(
            f"| [`{name}`](#variant-{name}) | `{_hear_module(name)}` | {cfg.sample_rate} Hz | {cfg.scene_embedding_size} "
            f"| {cfg.timestamp_embedding_size} | {blocks} | {', '.join(_hops(cfg))} | {_weights_label(cfg)} |"
        )
    for name in names:
        lines += ["", *_variant_section(hge.get_variant(name))]
    return "\n".join(lines) + "\n"


def diverse_markdown() -> str:
    """The registered diverse models (published and test geometries): one table of their streams each, sizes derived
    from the configuration and the descriptor table."""
    from hear_gear_embed.diverse.config import get_diverse, list_diverse

    lines = []
    for name in list_diverse(include_unpublished=True):
        cfg = get_diverse(name)
        enc = cfg.encoder
        lines += [
            f"### `{name}`", "", f"{cfg.description}.", "",
            f"Encoders: {enc.depth} block{'s' if enc.depth != 1 else ''} of width {enc.width}, {enc.heads} heads of "
            f"{enc.width // enc.heads}, MLP "
            f"{enc.mlp_ratio:g}x; windows of {cfg.window_ms:g} ms, timestamps every {cfg.timestamp_hop_ms:g} ms; "
            f"embedding size {cfg.embedding_size}" + ("" if cfg.published else " (a test geometry, not listed)") + ".",
            "", "| stream | kind | reads | values per frame | frame hop | frames per window |", "|---|---|---|---:|---:|---:|",
        ]
        for stream in cfg.streams:
            hop, dim = cfg.frame_hop(stream), cfg.frame_dim(stream)
            reads = {"features": ", ".join(f"`{f}`" for f in stream.features),
                     "waveform": f"{stream.patch_ms:g} ms patches",
                     "neuralogram": f"`{stream.source}`" + (f" ({stream.source_weights} weights)"
                                                           if stream.source_weights else "")}[stream.kind]
            source = "the source's"
            size = str(dim) if dim is not None else source
            step = f"{hop} samples ({1000 * hop / cfg.sample_rate:g} ms)" if hop else source
            frames = str(cfg.frames_per_window(hop)) if hop else "by the source's hop"
            lines.append(f"| {stream.name} | {stream.kind} | {reads} | {size} | {step} | {frames} |")
        lines.append("")
    return "\n".join(lines)


def _variant_section(cfg: VariantConfig) -> list[str]:
    lines = [
        f"(variant-{cfg.name})=",
        f"## `{cfg.name}`",
        "",
        f"{cfg.description}.",
        "",
        f"- **HEAR module**: `{_hear_module(cfg.name)}` (`hear_gear_embed.get_variant(\"{cfg.name}\")`)",
        f"- **Sample rate**: {cfg.sample_rate} Hz",
        f"- **Scene embedding**: {cfg.scene_embedding_size} = " + " + ".join(_scene_parts(cfg)),
        f"- **Timestamp embedding**: {cfg.timestamp_embedding_size}, one every {_ms(cfg.timestamp_hop_ms)} from 0 ms, "
        "concatenating (levels or features @ receptive field):",
    ]
    lines += [f"  - {_block_label(b)}: {cfg.block_size(b)} = {_block_parts(cfg, b)}" for b in cfg.timestamp_blocks]
    if cfg.window_levels:
        lines.append(f"- **Frontend** (network input and level L): {_frontend_label(cfg)}")
    if cfg.feature_names:
        hops = sorted({1000.0 * cfg.features.hop(f) / cfg.sample_rate for f in cfg.feature_names})
        lines.append(f"- **Frame features**: {', '.join(cfg.feature_names)} (frame hop {', '.join(map(_ms, hops))}), "
                     "computed once over the clip")
    if cfg.net is not None:
        net = cfg.net
        lines.append(
            f"- **Network**: PaSST, width {net.embed_dim}, {net.depth} blocks, {net.num_heads} heads, patch stride "
            f"{net.freq_stride} x {net.time_stride}, {net.max_frames} frames of time encoding"
        )
    if cfg.weights is not None:
        ckpt = cfg.weights
        lines.append(f"- **Checkpoint**: `{ckpt.name}`, {ckpt.description}: <{ckpt.url}>")
    elif cfg.needs_network:
        lines.append("- **Checkpoint**: no official weights; pass your own file to `load_model(path)`")
    else:
        lines.append("- **Checkpoint**: none; the variant needs no weights and works offline")
    if cfg.reference:
        lines.append(f"- **Reproduces**: `{cfg.reference}`")
    return lines


def checkpoints_markdown() -> str:
    """Table of the official checkpoints: name, file, URL, the frontend and geometry they were trained with, the
    published variants that load them and their SHA-256 (with who attests it, listed below the table)."""
    users = {weights: [f"`{name}`" for name in names] for weights, names in variants_by_weights().items()}
    lines = [
        "| checkpoint | file name in the cache | URL | STFT hop | time encoding | published variants | sha256 | description |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sources: list[str] = []
    for name, record in PRETRAINED.items():
        if record.sha256 is None:
            checksum = "none published"
        else:
            sources.append(f"- `{name}`: {record.sha256_source}.")
            checksum = f"`{record.sha256}`"
        lines.append(
            f"| `{name}` | `{record.filename}` | <{record.url}> | {_ms(record.frontend.hop_ms)} | {record.net.max_frames} "
            f"frames | {', '.join(users.get(name, [])) or '-'} | {checksum} | {record.description} |"
        )
    if sources:
        lines += ["", "Who attests each published checksum:", "", *sources]
    return "\n".join(lines) + "\n"


def hear2021_markdown() -> str:
    """Table of the best HEAR 2021 score of each task (title, task folders, category, metric, score, submissions), with
    the sources and how the numbers were taken, from the shipped reference file."""
    reference = load_reference()
    lines = ["| HEAR 2021 task | task folder(s) | category | metric | best | submission(s) |", "|---|---|---|---|---:|---|"]
    for r in reference.tasks:
        folders = ", ".join(f"`{name}-{r.version}-{r.mode}`" for name in r.task_names)
        lines.append(f"| {r.title} | {folders} | {r.category} | `{r.metric}` | {r.best:.4f} | {'; '.join(r.submissions)} |")
    lines += ["", f"Read on {reference.retrieved.isoformat()}. {reference.note}", "", "Sources:", "",
              *[f"- {source}" for source in reference.source]]
    return "\n".join(lines) + "\n"


def _unit(unit: str, unit_size: float) -> str:
    return unit if unit_size == 1 else f"{unit} (raw value / {unit_size:g})"


def _with_defaults(text: str, config: FeatureConfig) -> str:
    """``text`` with each ``FeatureConfig`` field it names marked up and followed by its default value."""
    for f in dataclasses.fields(config):
        text = re.sub(rf"\b{f.name}\b", f"`{f.name}` (default {getattr(config, f.name)!r})", text)
    return text


def descriptors_markdown() -> str:
    """Table of the descriptor table: name, source and its frames, values per frame (default ``FeatureConfig``),
    unit, what it measures, and the published variants that use it."""
    config = FeatureConfig()
    users: dict[str, list[str]] = {}
    for name in hge.list_variants():
        for feature in hge.get_variant(name).feature_names:
            users.setdefault(feature, []).append(f"`{name}`")
    lines = [
        "| name | source: frames | values per frame | unit in embeddings | what it measures | published variants |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in DESCRIPTORS.items():
        source = SOURCES[d.source]
        hop = source.hop(config)
        frames = f"`{d.source}`: {source.span(config)} samples every {hop} ({_ms(1000.0 * hop / config.sample_rate)})"
        summary = _with_defaults(d.summary[0].upper() + d.summary[1:], config)
        if d.context:
            summary += f" (needs {d.context} earlier frame{'s' if d.context > 1 else ''})"
        lines.append(f"| `{name}` | {frames} | {d.dim(config)} | {_unit(d.unit, d.unit_size)} | {summary} "
                     f"| {', '.join(users.get(name, [])) or 'none'} |")
    return "\n".join(lines) + "\n"


def ci_stages_markdown(stages_file: Path) -> str:
    """Table of the CI stages of ``.ci/stages.toml``: command, budget and what each proves, and the total budget."""
    data = tomllib.loads(stages_file.read_text(encoding="utf-8"))
    lines = ["| stage | runs | budget | proves |", "|---|---|---|---|"]
    for stage in data["stage"]:
        lines.append(f"| `{stage['name']}` | {stage['command']} | {stage['budget_s']} s | {stage['proves']} |")
    total = sum(stage["budget_s"] for stage in data["stage"])
    lines.append(f"\nThe stages' budgets add up to {total} s; the whole run must stay within {data['total_budget_s']} s.")
    return "\n".join(lines) + "\n"


def _api_modules() -> Iterator[str]:
    """Every module of the package on disk, except :data:`SKIPPED_MODULES`.

    ``pkgutil.walk_packages`` lists files; the HEAR modules of single variants, ``hear_gear_embed.hear.<name>``,
    are made on import by the finder of :mod:`hear_gear_embed.hear` and have no file, so they never appear here
    (:doc:`/variants` lists them).
    """
    for info in pkgutil.walk_packages(hge.__path__, f"{PACKAGE}."):
        if info.name not in SKIPPED_MODULES:
            yield info.name


_DIRECTIVES = {"py:class": "autoclass", "py:exc": "autoexception", "py:func": "autofunction", "py:data": "autodata"}


def _is_data(obj: object) -> bool:
    """Whether ``obj`` is documented as data: neither a class nor a function (typing aliases such as
    ``Literal[...]`` are callable, and forward ``__qualname__`` to ``typing``, but are data)."""
    return not (inspect.isclass(obj) or inspect.isroutine(obj))


def _role(obj: object) -> str:
    if inspect.isclass(obj):
        return "py:exc" if issubclass(obj, BaseException) else "py:class"
    return "py:data" if _is_data(obj) else "py:func"


def _defining_module(name: str, obj: object, modules: list[str]) -> str | None:
    """The module that documents ``obj``: its ``__module__`` if the object lives there, else (data) the module
    whose source gives ``name`` a docstring and holds the same object."""
    if not _is_data(obj):
        owner, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if isinstance(owner, str) and isinstance(qualname, str):
            return owner if getattr(importlib.import_module(owner), qualname, None) is obj else None
        return None
    for modname in modules:
        module: ModuleType = importlib.import_module(modname)
        if getattr(module, name, None) is obj and ("", name) in ModuleAnalyzer.for_module(modname).find_attr_docs():
            return modname
    return None


def _summary(obj: object, name: str, owner: str | None) -> str:
    """First paragraph of the object's docstring (of its attribute docstring for data), on one line; data
    without a docstring anywhere is summarised by its value."""
    if not _is_data(obj):
        doc = inspect.getdoc(obj) or ""
    elif owner is not None:
        doc = "\n".join(ModuleAnalyzer.for_module(owner).find_attr_docs().get(("", name), []))
    else:
        return f"value: ``{obj!r}``"
    return " ".join(doc.strip().split("\n\n")[0].split())


def toplevel_markdown(modules: list[str]) -> str:
    """The names of ``hear_gear_embed.__all__`` with their summaries, linked to their documentation; objects
    with no other home (the default variant's ``load_model``) are documented right here. reST, since the
    summaries are."""
    lines = ["```{eval-rst}", ".. list-table::", "   :header-rows: 1", "   :widths: 30 70", "",
             "   * - name", "     - summary"]
    local: list[str] = []
    for name in hge.__all__:
        obj = getattr(hge, name)
        owner = _defining_module(name, obj, modules)
        if owner is None:
            target = f"{PACKAGE}.{name}"
            local.append(name)
        else:
            target = f"{owner}.{name if _is_data(obj) else getattr(obj, '__qualname__', name)}"
        lines += [f"   * - :{_role(obj).split(':')[1]}:`{name} <{target}>`", f"     - {_summary(obj, name, owner)}"]
    for name in local:
        directive = _DIRECTIVES[_role(getattr(hge, name))]
        lines += ["", f".. {directive}:: {PACKAGE}.{name}"]
    return "\n".join([*lines, "```"]) + "\n"


LONG_VALUE = 300
"""Documented constants whose ``repr`` is longer than this are shown without their value (it would be one
unreadable line, e.g. ``PRETRAINED`` or ``DESCRIPTORS``; the pages that need their content render it as a table)."""


def _automodule(modname: str) -> list[str]:
    """``automodule`` of ``modname``, with its long-valued constants documented after it without their value."""
    module = importlib.import_module(modname)
    long_valued = [
        name for namespace, name in ModuleAnalyzer.for_module(modname).find_attr_docs()
        if not namespace and len(repr(getattr(module, name, None))) > LONG_VALUE
    ]
    lines = [f".. automodule:: {modname}"]
    if long_valued:
        lines.append(f"   :exclude-members: {', '.join(long_valued)}")
    for name in long_valued:
        lines += ["", f".. autodata:: {modname}.{name}", "   :no-value:"]
    return [*lines, ""]


def _api_page(child: str, modules: list[str]) -> str:
    """reST page for ``hear_gear_embed.<child>`` and every module below it."""
    full = f"{PACKAGE}.{child}"
    inside = [m for m in modules if m == full or m.startswith(full + ".")]
    title = f"``{full}``"
    lines = [title, "=" * len(title), "", *_automodule(full)]
    for modname in inside[1:]:
        heading = f"``{modname}``"
        lines += [heading, "-" * len(heading), "", *_automodule(modname)]
    return "\n".join(lines)


def generate(app: Sphinx) -> None:
    """Write every generated page (called when the builder starts, before sources are read)."""
    out = Path(app.srcdir) / "_generated"
    modules = list(_api_modules())
    _write(out / "include" / "variants.md", variants_markdown())
    _write(out / "include" / "checkpoints.md", checkpoints_markdown())
    _write(out / "include" / "descriptors.md", descriptors_markdown())
    _write(out / "include" / "diverse.md", diverse_markdown())
    _write(out / "include" / "hear2021.md", hear2021_markdown())
    _write(out / "include" / "ci_stages.md", ci_stages_markdown(Path(app.srcdir).parent / ".ci" / "stages.toml"))
    _write(out / "include" / "toplevel.md", toplevel_markdown(modules))
    rank = {child: i for i, child in enumerate(API_ORDER)}
    children = sorted({m.split(".")[1] for m in modules}, key=lambda c: (rank.get(c, len(rank)), c))
    for child in children:
        _write(out / "api" / f"{child}.rst", _api_page(child, modules))
    _write(out / "include" / "api_toctree.md",
           "```{toctree}\n:maxdepth: 1\n\n" + "\n".join(f"_generated/api/{c}" for c in children) + "\n```\n")
    stale = {p.stem for p in (out / "api").glob("*.rst")} - set(children)
    for name in stale:
        (out / "api" / f"{name}.rst").unlink()


_NAMEDTUPLE_FIELD = re.compile(r"Alias for field number \d+")


def skip_namedtuple_fields(app: Sphinx, what: str, name: str, obj: object, skip: bool, options: object) -> bool | None:
    """Skip the accessors ``typing.NamedTuple`` generates for its fields ("Alias for field number 0"): the class
    docstring's ``Attributes:`` section describes the fields, and documenting both would describe them twice."""
    if what == "class" and _NAMEDTUPLE_FIELD.fullmatch(getattr(obj, "__doc__", None) or ""):
        return True
    return None


def no_inline_attribute_type(app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]) -> None:
    """Keep napoleon from reading ``Summary: details`` in the docstring of a property or constant as ``type: text``.

    napoleon takes the text before the first colon of such a docstring as the object's type (Google style's
    ``int: The answer.``). This package writes its types as annotations and its one-line docstrings as
    ``Summary: details``, so an empty type is put in front for napoleon to consume. Runs before napoleon.
    """
    if what in ("attribute", "data", "property") and lines and lines[0].strip():
        lines[0] = ": " + lines[0]


def _lookup(dotted: str, scopes: list[str]) -> object | None:
    """The object ``dotted`` names, looked up as Python would from inside each scope (a module, or a class of
    it) in turn, then as an absolute import path."""
    for scope in [*scopes, ""]:
        parts = [p for p in f"{scope}.{dotted}".split(".") if p]
        for split in range(len(parts), 0, -1):
            try:
                obj: object = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            try:
                for attr in parts[split:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                break
            return obj
    return None


@functools.cache
def _type_checking_imports(modname: str) -> dict[str, str]:
    """Names that ``modname`` imports only for type checkers (in ``if TYPE_CHECKING:``), as absolute dotted
    paths: annotations name them, but the running module does not have them."""
    try:
        spec = importlib.util.find_spec(modname)
    except (ImportError, ValueError):
        return {}
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return {}
    package = modname if spec.submodule_search_locations else modname.rpartition(".")[0]
    names: dict[str, str] = {}
    for stmt in ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body:
        if not (isinstance(stmt, ast.If) and ast.unparse(stmt.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")):
            continue
        for imp in stmt.body:
            if isinstance(imp, ast.ImportFrom):
                base = importlib.util.resolve_name("." * imp.level + (imp.module or ""), package) if imp.level else imp.module
                names.update({alias.asname or alias.name: f"{base}.{alias.name}" for alias in imp.names})
            elif isinstance(imp, ast.Import):
                names.update({alias.asname or alias.name.split(".")[0]: alias.name if alias.asname else
                              alias.name.split(".")[0] for alias in imp.names})
    return names


def _documented_data(domain: PythonDomain, target: str, obj: object) -> str | None:
    """The full name under which the very object ``obj`` (data, e.g. a constant re-exported by a package) is
    documented, if it is documented under the last component of ``target``."""
    name = target.rsplit(".", 1)[-1]
    for fullname, entry in domain.objects.items():
        if entry.objtype == "data" and fullname.rsplit(".", 1)[-1] == name and _lookup(fullname, []) is obj:
            return fullname
    return None


def resolve_by_import(app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Element) -> Element | None:
    """Resolve a Python cross-reference the way the name resolves in the code.

    Docstrings name objects as their module sees them (``list_variants`` in ``hear_gear_embed``, a name it
    re-exports), while each object is documented once, under its defining module: the reference is pointed
    there. Data (constants) has no defining module at run time: a reference to it is pointed at wherever that
    same object is documented. Names a module imports only for type checking resolve as the type checker sees
    them. Names that resolve to objects outside this package (torch, numpy, the standard library, for which
    no inventory is available offline), to optional dependencies that are not installed, or to type variables
are shown as plain text. What does not resolve at all stays a warning.
    """
    if node.get("refdomain") != "py":
        return None
    module, cls = node.get("py:module") or "", node.get("py:class") or ""
    scopes = [f"{module}.{cls}", module] if cls else [module]
    target = node["reftarget"].lstrip("~.")
    obj = _lookup(target, [s for s in scopes if s])
    if obj is None and module:
        head, _, rest = target.partition(".")
        absolute = _type_checking_imports(module).get(head)
        if absolute and importlib.util.find_spec(absolute.split(".")[0]) is None:
            return contnode  # an optional dependency, not installed where the docs are built (ray)
        obj = _lookup(".".join(filter(None, [absolute, rest])), []) if absolute else None
    if obj is None:
        return None
    if isinstance(obj, TypeVar):  # a generic function's type parameter: no page of its own
        return contnode
    domain = cast(PythonDomain, env.get_domain("py"))
    if _is_data(obj) and not isinstance(obj, ModuleType):
        documented = _documented_data(domain, target, obj)
        if documented is not None:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], documented, node, contnode)
    owner, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(owner, str) or not isinstance(qualname, str):
        return None
    if owner.split(".")[0] != PACKAGE:
        return contnode
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], f"{owner}.{qualname}", node, contnode)


def setup(app: Sphinx) -> ExtensionMetadata:
    """Sphinx entry point."""
    app.connect("builder-inited", generate)
    app.connect("autodoc-skip-member", skip_namedtuple_fields)
    app.connect("autodoc-process-docstring", no_inline_attribute_type, priority=400)
    app.connect("missing-reference", resolve_by_import)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
