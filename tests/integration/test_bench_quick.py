"""Smoke test of the benchmarks: `python -m bench --quick` runs and reports every section.

It asserts only that the benchmark runs and that every figure is a number or an
explicit "not measured" reason: never a time or a ratio (those belong to
bench/results.md, measured on a quiet machine, not to a test).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("crawl", "recrawl", "ingest", "queries", "endpoints", "search", "areas", "brokering", "polite")


@pytest.mark.slow
def test_quick_benchmark_runs_and_reports_every_section(tmp_path):
    out = tmp_path / "results.md"
    # The Python fallback server: the test must not depend on nginx being installed.
    cmd = [sys.executable, "-m", "bench", "--quick", "--server", "python", "--out", str(out),
           "--workdir", str(tmp_path / "work")]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)   # a guard against a hang, not a speed check (bench/ measures speed)
    assert proc.returncode == 0, proc.stderr[-4000:]

    results = json.loads(out.with_suffix(".json").read_text())
    assert results["meta"]["quick"] is True
    for key in ("nproc", "cpu_model", "ram_gib"):
        assert key in results["meta"]["machine"]
    for key in ("python", "pyoxigraph", "rdflib", "aiohttp"):
        assert results["meta"]["versions"][key]

    for name in SECTIONS:
        section = results["sections"].get(name)
        assert section, f"section {name} missing"
        assert section["rows"], f"section {name} has no rows"
        for row in section["rows"]:
            value = row["value"]
            if value is None:
                assert row.get("not_measured", "").startswith("not measured"), row
            else:
                assert isinstance(value, (int, float)) and math.isfinite(value), row

    assert results["targets"], "no target was judged"
    for t in results["targets"]:
        assert t["reached"] in (True, False, None)
        assert t["value"] is None or isinstance(t["value"], (int, float))
        if t["value"] is None:
            assert t["note"], t

    text = out.read_text()
    for heading in ("## Headline ratios", "## Targets from the issue", "## First crawl", "## Re-crawl",
                    "## Ingest", "## Queries", "## The aggregator's own endpoints", "## Directory search at",
                    "## Area roll-up search",
                    "## Brokering endpoints", "## Politeness"):
        assert heading in text, heading
    # quick output goes where it was asked to, never over the committed results
    assert out.parent == tmp_path
