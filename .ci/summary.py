"""Print the end of a CI run: every stage's time against its budget (``.ci/stages.toml``), then the slowest tests
of each pytest run (from the JUnit XML files that ``.ci/run`` asks pytest for) and the slowest jobs of the harness
(from its JSON report).

Usage: ``python3 .ci/summary.py LOG_DIR [HARNESS_REPORT]``, where ``LOG_DIR`` holds ``stages.tsv`` (one line per
stage run: name, seconds, exit status) and ``<stage>.xml``. Standard library only: it runs with the system Python,
whatever state the virtual environments are in. Exit status 0, or 2 when a stage ran that has no budget.
"""

from __future__ import annotations

import json
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

STAGES_FILE = Path(__file__).with_name("stages.toml")
SLOWEST = 8


def load_budgets(path: Path = STAGES_FILE) -> tuple[dict[str, int], int]:
    """Stage name -> budget in seconds (in run order), and the budget of the whole run."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {stage["name"]: int(stage["budget_s"]) for stage in data["stage"]}, int(data["total_budget_s"])


def read_stages(path: Path) -> dict[str, tuple[int, int]]:
    """Stage name -> (seconds, exit status), from the lines ``.ci/run`` appended."""
    stages: dict[str, tuple[int, int]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            name, seconds, status = line.split("\t")
            stages[name] = (int(seconds), int(status))
    return stages


def _node_id(classname: str, name: str) -> str:
    """pytest's node id (``tests/test_x.py::TestY::test_z[p]``) from JUnit's ``classname`` (``tests.test_x.TestY``)."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if Path(path).is_file():
            return "::".join([path, *parts[cut:], name])
    return f"{classname}::{name}"


def slowest_tests(junit: Path, count: int = SLOWEST) -> tuple[str, list[tuple[float, str]]]:
    """A one-line total of a pytest run, and its ``count`` slowest tests (seconds, node id) with set-up and teardown."""
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases = [(float(case.get("time", 0)), _node_id(case.get("classname", ""), case.get("name", "")))
             for suite in suites for case in suite.iter("testcase")]
    counts = {key: sum(int(suite.get(key, 0)) for suite in suites) for key in ("tests", "failures", "errors", "skipped")}
    seconds = sum(float(suite.get("time", 0)) for suite in suites)
    total = (f"{counts['tests']} tests ({counts['failures']} failed, {counts['errors']} errors, "
             f"{counts['skipped']} skipped) in {seconds:.0f} s")
    return total, sorted(cases, reverse=True)[:count]


def main(argv: list[str]) -> int:
    logs = Path(argv[0])
    budgets, total_budget = load_budgets()
    stages = read_stages(logs / "stages.tsv")
    print("\nCI summary: stage times against the budgets of .ci/stages.toml")
    print(f"  {'stage':<10} {'seconds':>8} {'budget':>8}  status")
    over = []
    for name, budget in budgets.items():
        if name not in stages:
            print(f"  {name:<10} {'-':>8} {budget:>8}  not run")
            continue
        seconds, status = stages[name]
        verdict = "ok" if status == 0 else f"FAILED (exit {status})"
        if seconds > budget:
            verdict += ", OVER BUDGET"
            over.append(f"{name} {seconds} s > {budget} s")
        print(f"  {name:<10} {seconds:>8} {budget:>8}  {verdict}")
    total = sum(seconds for seconds, _ in stages.values())
    print(f"  {'total':<10} {total:>8} {total_budget:>8}  {'OVER BUDGET' if total > total_budget else 'ok'}")
    for name in stages:
        junit = logs / f"{name}.xml"
        if junit.is_file():
            line, cases = slowest_tests(junit)
            print(f"\nCI: slowest tests of stage {name} (pytest: {line}):")
            for seconds, node in cases:
                print(f"  {seconds:7.1f} s  {node}")
    if len(argv) > 1 and Path(argv[1]).is_file():
        jobs = json.loads(Path(argv[1]).read_text()).get("jobs", {})
        print(f"\nCI: slowest jobs of the harness ({len(jobs)} jobs, run side by side):")
        for name, job in sorted(jobs.items(), key=lambda item: -item[1]["seconds"])[:SLOWEST]:
            print(f"  {job['seconds']:7.1f} s  {name} (exit {job['exit']})")
    if total > total_budget:
        over.append(f"total {total} s > {total_budget} s")
    if over:
        print(f"\nCI: WARNING: over budget: {'; '.join(over)}. The run stops at 5400 s and then nothing lands; see the "
              "development page of the docs for how to make room.")
    unknown = sorted(set(stages) - set(budgets))
    if unknown:
        print(f"CI: stages without a budget in {STAGES_FILE}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
