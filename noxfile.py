"""Automation: ``nox -s tests`` (the default suite, as in README) and ``nox -s lint``.

Every install is constrained by ``constraints.txt`` so that pip never swaps the pinned CPU torch.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
CONSTRAINTS = ("-c", "constraints.txt")


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Unit, contract and oracle tests (tiny models and full-size random weights)."""
    session.install(*CONSTRAINTS, "-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Static checks with ruff."""
    session.install("ruff==0.14.0")
    session.run("ruff", "check", "hear_gear_embed", "tests", "noxfile.py", "setup.py")
