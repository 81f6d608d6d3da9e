"""Options several subcommands share: ``--compile`` (whether the network runs compiled)."""

from __future__ import annotations

import argparse

COMPILE_CHOICES: dict[str, bool | None] = {"auto": None, "on": True, "off": False}
"""``--compile`` values and the ``compile=`` argument of :func:`hear_gear_embed.hear.spec.load` each stands for."""


def add_compile_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--compile {auto,on,off}``; read it with :func:`compile_choice`."""
    parser.add_argument("--compile", choices=tuple(COMPILE_CHOICES), default="auto",
                        help="run the network compiled with torch.compile (on), eager (off), or where it pays (auto, "
                        "the default: int8 only); compiling passt_base cost 9-74 s per process on 2 CPU cores, once "
                        "per window length (docs/performance.md)")


def compile_choice(args: argparse.Namespace) -> bool | None:
    """The ``compile=`` argument that ``--compile`` asks for."""
    return COMPILE_CHOICES[args.compile]
