"""Variants written on one line, ``passt[levels=L+M,rf=160+640,hop=5]``: accepted wherever a variant name is (the
registry's :func:`~hear_gear_embed.registry.get_variant` reads them), and grids of them for ablations
(:func:`expand_spec_grid`). Pure data, no torch.

A spec is ``passt[KEY=VALUE,...]``, each key at most once, in any order; every key has a default. The first three are
the axes of seed 003's ablation, and their defaults its baseline (CP-JKU PaSST base: M+H, 160 ms, hop 10 ms):

- ``levels``: feature levels joined by ``+``, a set: ``L`` (log-mel frames), ``M`` (CLS/DIST tokens), ``H`` (AudioSet
  logits); at least one of M and H. Each receptive field gives a block of the network levels (H before M, as the
  authors' modules concatenate them), and L one block of frames after them; the scene embedding holds every level.
- ``rf``: receptive fields in ms joined by ``+``, a set, in ascending order in the embedding: ``160+640`` is seed 003's
  "2RF".
- ``hop``: STFT hop in ms; it picks the official checkpoint trained with that hop (10, 5 or 3.125 ms), the first of
  :data:`~hear_gear_embed.model.weights.PRETRAINED` with it, whose network geometry the variant runs.
- ``lwin``: the window of level L in ms (default :data:`L_WINDOW_HOPS` STFT hops: 60 ms at hop 10, 30 ms at hop 5).
- ``frontend``: ``mel`` (default) or ``cqt``, the 128-bin CQT of :data:`CQT_PASST_GRID` at the STFT hop, with the
  hop's network geometry and no official weights (a CQT-trained checkpoint is given when loading).
- ``checkpoint``: an official checkpoint's name, instead of the hop's (its hop, if ``hop`` is given too, must agree).

Numbers are digits with an optional decimal part, and every window a whole number of samples. A variant made from a
spec is named by its canonical spec, so that two spellings of one variant are one model wherever names identify
models (outputs, caches): keys in the order of :data:`KEYS`, levels in the paper's order L, M, H, receptive fields
ascending, numbers without trailing zeros, the three axes always written and the other keys only where they differ
from what the axes imply (``passt[levels=L+M,rf=160+640,hop=5]``).

A grid writes alternatives of a key with ``|``: ``passt[levels=M|L+M,rf=160|160+640,hop=10|5]`` is the eight specs
of the product, the first key varying slowest.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
import math
import re
from decimal import Decimal
from fractions import Fraction

from .embedding.config import LEVELS, Level, VariantConfig, WindowBlock
from .frontends.config import CqtConfig, Frontend, MelConfig
from .model.config import PasstConfig
from .model.weights import PRETRAINED, PretrainedWeights
from .util.names import unknown_name

FAMILY = "passt"
"""The word before the brackets: the family of variants a spec describes."""

KEYS = ("levels", "rf", "hop", "lwin", "frontend", "checkpoint")
"""The keys of a spec, in the order of its canonical name."""

FRONTENDS = ("mel", "cqt")
"""The values of key ``frontend``."""

DEFAULT_LEVELS: tuple[Level, ...] = ("M", "H")
"""Levels of a spec without ``levels``: the baseline's M+H (seed 003, section 5)."""

DEFAULT_RF_MS: tuple[int, ...] = (160,)
"""Receptive fields (ms) of a spec without ``rf``: the baseline's 160 ms (seed 003, section 5)."""

DEFAULT_HOP_MS = Fraction(1000 * MelConfig().hop_length, MelConfig().sample_rate)
"""STFT hop (ms) of a spec without ``hop``: PaSST's own log-mel hop, the baseline's 10 ms."""

OUTPUT_ORDER: tuple[Level, ...] = ("H", "M", "L")
"""Order of the levels in a spec's embeddings: the authors' modules' (logits, then tokens, then log-mel frames)."""

L_WINDOW_HOPS = 6
"""STFT hops in the default window of level L: 60 ms at hop 10, as the authors' ``base2levelmel``, hence 6 frames."""

MAX_GRID = 64
"""Most specs a grid may expand to (:func:`expand_spec_grid`)."""

CQT_PASST_GRID = CqtConfig(bins_per_octave=16, n_bins=128)
"""A CQT that fits PaSST's 128-band patch grid: 8 octaves from C1 (32.7 Hz) to 7.8 kHz, 16 bins per
octave, 10 ms hop; the input of the ``passt_cqt`` variant and of specs with ``frontend=cqt`` (at their hop), for users
who train or fine-tune PaSST on CQT."""

_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")

_ALLOWED = {
    "levels": "one or more of L (log-mel frames), M (tokens), H (logits) joined by +, among them M or H",
    "rf": "receptive fields in ms joined by +, e.g. 160+640",
    "hop": "an STFT hop in ms of an official checkpoint",
    "lwin": "the window of level L in ms",
    "frontend": f"one of {', '.join(FRONTENDS)}",
    "checkpoint": "an official checkpoint's name (hear-gear weights list)",
}
"""What each key takes, for the messages."""


def is_spec(text: str) -> bool:
    """Whether ``text`` is written as a spec or a grid of them (it has a ``[``, which no HEAR module's import name has),
    so that it names a variant if its keys and values are right (:func:`parse_spec` says what is wrong if not)."""
    return "[" in text


def is_spec_grid(text: str) -> bool:
    """Whether ``text`` is written as a grid of specs: a spec with ``|`` between alternatives of a key."""
    return is_spec(text) and "|" in text


def _ms_text(value: Fraction) -> str:
    """Milliseconds as the canonical name writes them: ``160``, ``3.125``."""
    if value.denominator == 1:
        return str(value.numerator)
    return format((Decimal(value.numerator) / Decimal(value.denominator)).normalize(), "f")


def _ms_value(value: Fraction) -> float:
    """Milliseconds as a configuration holds them (an ``int`` when whole, as the registry writes them)."""
    return value.numerator if value.denominator == 1 else float(value)


def _hop_ms(frontend: Frontend) -> Fraction:
    return Fraction(1000 * frontend.hop_length, frontend.sample_rate)


def _split(text: str) -> list[tuple[str, str]]:
    """``(key, value)`` of each pair of ``text``, in the order written, with the syntax and the keys checked."""
    head, bracket, rest = text.strip().partition("[")
    if not bracket or not rest.endswith("]"):
        raise ValueError(f"{text!r} is not a variant spec: write {FAMILY}[key=value,...] with keys {', '.join(KEYS)}")
    if head.strip() != FAMILY:
        raise ValueError(f"unknown variant family {head.strip()!r} in {text!r}: a spec is {FAMILY}[key=value,...]")
    body = rest[:-1].strip()
    pairs: list[tuple[str, str]] = []
    for item in body.split(",") if body else []:
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals:
            raise ValueError(f"{item.strip()!r} in {text!r} is not key=value; keys are {', '.join(KEYS)}")
        if key not in KEYS:
            raise ValueError(f"{unknown_name('spec key', key, KEYS)} (in {text!r})")
        if any(key == seen for seen, _ in pairs):
            raise ValueError(f"key {key!r} is given twice in {text!r}: give each key once")
        if not value:
            raise ValueError(f"{key}= is empty in {text!r}: give {_ALLOWED[key]}")
        pairs.append((key, value))
    return pairs


def _ms(key: str, text: str) -> Fraction:
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"{key}={text}: not a number of milliseconds (digits with an optional decimal part: 160, 62.5)")
    value = Fraction(text)
    if value <= 0:
        raise ValueError(f"{key}={text}: must be positive")
    return value


def _samples(value: Fraction, frontend: Frontend) -> Fraction:
    return value * frontend.sample_rate / 1000


def _checkpoints_by_hop() -> dict[Fraction, PretrainedWeights]:
    """The official checkpoint each STFT hop (ms) selects: the first with that hop, in the order of ``PRETRAINED``."""
    by_hop: dict[Fraction, PretrainedWeights] = {}
    for weights in PRETRAINED.values():
        by_hop.setdefault(_hop_ms(weights.frontend), weights)
    return by_hop


def _weights(values: dict[str, str]) -> PretrainedWeights:
    """The official checkpoint whose geometry the spec runs: ``checkpoint``, else the one of ``hop``."""
    by_hop = _checkpoints_by_hop()
    hop = _ms("hop", values["hop"]) if "hop" in values else None
    if "checkpoint" in values:
        name = values["checkpoint"]
        if name not in PRETRAINED:
            raise ValueError(f"checkpoint={name}: {unknown_name('checkpoint', name, PRETRAINED)}")
        weights = PRETRAINED[name]
        if hop is not None and hop != _hop_ms(weights.frontend):
            raise ValueError(f"checkpoint={name} has an STFT hop of {_ms_text(_hop_ms(weights.frontend))} ms, not "
                             f"hop={values['hop']}: leave hop out, or pick a checkpoint of that hop")
        return weights
    hop = DEFAULT_HOP_MS if hop is None else hop
    if hop not in by_hop:
        raise ValueError(f"hop={values['hop']}: no official checkpoint has that STFT hop; hops with one: "
                         f"{', '.join(_ms_text(h) for h in by_hop)} (ms)")
    return by_hop[hop]


def _frontend(values: dict[str, str], weights: PretrainedWeights) -> Frontend:
    choice = values.get("frontend", FRONTENDS[0])
    if choice not in FRONTENDS:
        raise ValueError(f"frontend={choice}: frontends are {', '.join(FRONTENDS)}")
    if choice == "mel":
        return weights.frontend
    if "checkpoint" in values:
        raise ValueError(f"frontend=cqt with checkpoint={values['checkpoint']}: the official checkpoints are trained on "
                         "log-mel, so a CQT variant has none; leave checkpoint out (hop picks the network geometry) and "
                         "load a CQT-trained checkpoint")
    return dataclasses.replace(CQT_PASST_GRID, hop_length=weights.frontend.hop_length)


def _levels(text: str | None) -> frozenset[Level]:
    given = list(DEFAULT_LEVELS) if text is None else [part.strip() for part in text.split("+")]
    unknown = [part for part in given if part not in LEVELS]
    if unknown:
        raise ValueError(f"levels={text}: unknown level {unknown[0]!r}; give {_ALLOWED['levels']}")
    if len(set(given)) != len(given):
        raise ValueError(f"levels={text}: a level is given twice")
    levels = frozenset(level for level in LEVELS if level in given)
    if not levels & {"M", "H"}:
        raise ValueError(f"levels={text}: L alone runs no network; add M or H (the weight-free variant lowlevel_mel "
                         "gives log-mel frames alone)")
    return levels


def _levels_text(levels: frozenset[Level]) -> str:
    """Levels as the canonical name writes them, in the paper's order: ``L+M``."""
    return "+".join(level for level in LEVELS if level in levels)


def _window_bounds(frontend: Frontend, net: PasstConfig) -> tuple[int, int]:
    """Shortest and longest window (samples) the network reads: one patch of frames, and the frames its time encoding
    covers."""
    top = (net.max_input_frames + 1) * frontend.hop_length  # past the longest: one frame more than the encoding covers
    shortest = bisect.bisect_left(range(top), net.patch_size, lo=frontend.min_samples, key=frontend.n_frames)
    longest = bisect.bisect_right(range(top), net.max_input_frames, lo=frontend.min_samples, key=frontend.n_frames) - 1
    return shortest, longest


def _receptive_fields(text: str | None, frontend: Frontend, net: PasstConfig) -> tuple[Fraction, ...]:
    given = [str(ms) for ms in DEFAULT_RF_MS] if text is None else [part.strip() for part in text.split("+")]
    values = [_ms("rf", part) for part in given]
    if len(set(values)) != len(values):
        raise ValueError(f"rf={text}: a receptive field is given twice")
    shortest, longest = _window_bounds(frontend, net)
    rate = Fraction(frontend.sample_rate)
    for part, value in zip(given, values, strict=True):
        samples = _samples(value, frontend)
        if samples.denominator != 1 or not shortest <= samples <= longest:
            raise ValueError(
                f"rf={part}: a receptive field is a whole number of samples ({_ms_text(1000 / rate)} ms at "
                f"{frontend.sample_rate} Hz) from {_ms_text(shortest * 1000 / rate)} ms (one {net.patch_size}-frame "
                f"patch at STFT hop {_ms_text(_hop_ms(frontend))} ms) to {_ms_text(longest * 1000 / rate)} ms (the "
                f"{net.max_input_frames} frames the time encoding covers)"
            )
    return tuple(sorted(values))


def _l_window(text: str | None, levels: frozenset[Level], frontend: Frontend) -> Fraction:
    if text is None:
        return L_WINDOW_HOPS * _hop_ms(frontend)
    if "L" not in levels:
        raise ValueError(f"lwin={text}: lwin is the window of level L, and levels={_levels_text(levels)} has no L")
    value = _ms("lwin", text)
    samples = _samples(value, frontend)
    if samples.denominator != 1 or samples < frontend.min_samples:
        shortest = Fraction(1000 * frontend.min_samples, frontend.sample_rate)
        raise ValueError(f"lwin={text}: the window of level L is a whole number of samples, at least "
                         f"{_ms_text(shortest)} ms (the {frontend.min_samples} samples the frontend needs)")
    return value


@functools.lru_cache(maxsize=256)
def parse_spec(text: str) -> VariantConfig:
    """The variant that spec ``text`` describes (grammar: the module's docstring), named by its canonical spec.

    Raises:
        ValueError: not a spec, a grid, an unknown key or family, a key given twice, an empty or bad value (unknown
            level, receptive field not a whole number of samples or outside what the network geometry reads, a hop of
            no official checkpoint, an unknown checkpoint or frontend, a frontend that the checkpoint was not trained
            on, L alone, ``lwin`` without L), naming the key, the value and what is allowed.
    """
    if is_spec_grid(text):
        raise ValueError(f"{text!r} is a grid of variant specs (| between alternatives): a variant takes one value per key")
    values = dict(_split(text))
    weights = _weights(values)
    frontend = _frontend(values, weights)
    levels = _levels(values.get("levels"))
    fields = _receptive_fields(values.get("rf"), frontend, weights.net)
    window = _l_window(values.get("lwin"), levels, frontend)
    hop = _hop_ms(frontend)
    cqt = isinstance(frontend, CqtConfig)

    written = {"levels": _levels_text(levels),
               "rf": "+".join(_ms_text(rf) for rf in fields), "hop": _ms_text(hop)}
    if "L" in levels and window != L_WINDOW_HOPS * hop:
        written["lwin"] = _ms_text(window)
    if cqt:
        written["frontend"] = "cqt"
    if weights is not _checkpoints_by_hop()[hop]:
        written["checkpoint"] = weights.name
    name = f"{FAMILY}[{','.join(f'{key}={written[key]}' for key in KEYS if key in written)}]"

    network = tuple(level for level in OUTPUT_ORDER if level in levels and level != "L")
    blocks = tuple(WindowBlock(_ms_value(rf), network) for rf in fields)
    if "L" in levels:
        blocks += (WindowBlock(_ms_value(window), ("L",)),)
    spans = " and ".join(f"{_ms_text(rf)} ms" for rf in fields)
    low = f", L over {_ms_text(window)} ms" if "L" in levels else ""
    source = "on a 128-bin CQT without official weights" if cqt else f"checkpoint {weights.name}"
    description = (f"PaSST {written['levels']} at {spans} receptive field{'s' * (len(fields) > 1)}{low}, STFT hop "
                   f"{written['hop']} ms, {source}")
    return VariantConfig(
        name=name, description=description, frontend=frontend, net=weights.net, weights=None if cqt else weights,
        timestamp_blocks=blocks, scene_levels=tuple(level for level in OUTPUT_ORDER if level in levels),
    )


def expand_spec_grid(text: str, *, limit: int = MAX_GRID) -> list[str]:
    """The canonical specs of grid ``text``: the product of the alternatives (``|``) of each key, the first key varying
    slowest, each spec once (two alternatives may be one variant); a plain spec gives itself, canonical.

    Args:
        text: a spec whose values may hold alternatives, e.g. ``passt[levels=M|H|M+H,rf=160|160+640,hop=10|5]``.
        limit: most specs the product may have.

    Raises:
        ValueError: the product has more than ``limit`` specs, or a spec of it is bad (as :func:`parse_spec`).
    """
    pairs = _split(text)
    choices = [[choice.strip() for choice in value.split("|")] for _, value in pairs]
    count = math.prod(len(alternatives) for alternatives in choices)
    if count > limit:
        raise ValueError(f"{text!r} is a grid of {count} specs, more than {limit}: split it into smaller grids")
    names = [
        parse_spec(f"{FAMILY}[{','.join(f'{key}={value}' for (key, _), value in zip(pairs, combination, strict=True))}]").name
        for combination in itertools.product(*choices)
    ]
    return list(dict.fromkeys(names))
