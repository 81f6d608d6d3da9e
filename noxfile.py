"""Automation. ``nox -s tests`` (the default suite, as in README), ``nox -s lint``, and the slow
suites run by CI: ``nox -s harness`` (real hear-validator and heareval) and ``nox -s parity``
(the authors' hear21passt as an oracle, and a smoke run of the benchmark against it). ``nox -s bench``
runs the full PaSST speed and memory benchmark against hear21passt. ``nox -s docs`` builds the
documentation site (Sphinx, warnings as errors) into ``docs/_build/html``; CI builds it too.
``.ci/stages.toml`` holds what CI runs, its time budget and what each stage proves (docs/development.md).

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
    """Static checks: ruff, and mypy on the package (configured in pyproject.toml).

    mypy resolves types through the installed dependencies (the cli, gear, ray and eval extras), with stub packages for
    tqdm and SciPy.
    """
    session.install("ruff==0.14.0")
    session.run("ruff", "check", "hear_gear_embed", "tests", "benchmarks", "docs", ".ci", "noxfile.py", "setup.py")
    session.install(*CONSTRAINTS, "-e", ".[cli,gear,ray,eval]", "mypy==2.4.1", "types-tqdm==4.70.0.20261106",
                    "scipy-stubs==1.17.1.5")
    session.run("mypy")


@nox.session(python="3.11")
def harness(session: nox.Session) -> None:
    """hear-validator on every published variant, heareval end to end on synthetic tasks."""
    session.install(*CONSTRAINTS, "-r", "tests/harness/requirements.txt")
    session.install("--no-deps", "--ignore-requires-python", "hearvalidator==2021.0.6", "heareval==2021.1.3")
    session.install(*CONSTRAINTS, "--no-deps", "-e", ".")
    session.run("python", "tests/harness/patch_heareval.py")
    work = session.posargs[0] if session.posargs else ".harness"
    session.run("python", "-m", "tests.harness.run_harness", "--work", work, "--report", f"{work}/report.json")


def _install_reference(session: nox.Session) -> None:
    """The authors' hear21passt 0.0.26 (with torchaudio, both without dependencies: tests/parity/oracle.py shims them)."""
    session.install(*CONSTRAINTS, "--no-deps", "torchaudio==2.11.0", "hear21passt==0.0.26")


@nox.session(python="3.11")
def parity(session: nox.Session) -> None:
    """Parity with hear21passt 0.0.26 on identical random weights (tolerance 1e-4 relative), one case per behaviour
    class, and the benchmark against it on small cases (``tests/parity/test_bench_reference.py``)."""
    session.install(*CONSTRAINTS, "-e", ".[test]")
    _install_reference(session)
    session.run(
        "python", "-m", "pytest", "-q", "tests/parity", *session.posargs,
        env={"HGE_REQUIRE_ORACLE": "1", "PARITY_REPORT": "parity-report.json"},
    )


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """PaSST speed and memory against hear21passt (benchmarks/bench_passt.py; about 2 h on 2 cores).

    Arguments after ``--`` go to the script, e.g. ``nox -s bench -- --variants passt_base``.
    """
    session.install(*CONSTRAINTS, "-e", ".[int8]")
    _install_reference(session)
    session.run("python", "benchmarks/bench_passt.py", *session.posargs)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The documentation site, warnings as errors: ``docs/_build/html``, or the folder given after ``--``.

    ``-E`` reads every page on every run: an incremental build would not repeat the warnings of unchanged pages. The
    ``eval`` extra is installed because the API reference imports every module, and the probes are scikit-learn
    classes.
    """
    session.install(*CONSTRAINTS, "-e", ".[eval]", "-r", "docs/requirements.txt")
    out = session.posargs[0] if session.posargs else "docs/_build/html"
    session.run("sphinx-build", "-W", "--keep-going", "-E", "-b", "html", "docs", out)
