"""First crawl with parsing on the pipeline thread against parser processes (issue 18), in one run.

``python -m bench.parse_crawl [--n 2000] [--reps 2]``: the bench federation of ``n`` groups on ``n``
loopback hosts behind the static server, crawled from empty with ``parse_workers`` 0 and 1 in turn
(the crawl task of bench/tasks.py, the bench's crawl settings), and the ratio of the rates. The
parser processes' own CPU is not in ``cpu_s`` (they are the fork server's children).
``--update`` records the figures as the ``parse_crawl`` section of bench/results.json (``--out`` for
another results file) and rewrites results.md, keeping every other section.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench.federation import Federation
from bench.runner import add_record_options, record, require_results, row, run_task, started
from bench.server import free_port, start_server


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.parse_crawl", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=2)
    add_record_options(ap, "the parse_crawl section")
    a = ap.parse_args(argv)
    if a.update:
        require_results(a.out)
    start = started()
    work = Path(tempfile.mkdtemp(prefix="hubnet-parse-crawl-"))
    port = free_port()
    fed = Federation(a.n, port=port)
    fed.write(work / "sites")
    server = start_server(work / "sites", work / "server", port=port)
    runs: dict = {0: [], 1: []}
    try:
        for k in range(a.reps):
            for workers in (0, 1):
                store = work / f"store-{workers}-{k}"
                settings = dict(per_host_delay=0.0, concurrency=32, obey_robots=True,
                                max_depth=max(5, fed.depth_from_seed()), max_sources=a.n + 10,
                                parse_workers=workers)
                res = run_task("crawl", dict(n=a.n, port=port, server_pid=server.pid, store=str(store),
                                             settings=settings))
                shutil.rmtree(store, ignore_errors=True)
                runs[workers].append({k: res[k] for k in ("wall_s", "cpu_s", "profiles", "counts", "peak_rss_mb")})
                print(json.dumps({"parse_workers": workers, **runs[workers][-1]}), flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    rate = {w: [r["profiles"] / r["wall_s"] for r in rs] for w, rs in runs.items()}
    pairs = [b / a_ for a_, b in zip(rate[0], rate[1])]
    summary = {"n": a.n, "server": server.kind, "rate_0": rate[0], "rate_1": rate[1],
               "ratio_1_over_0": pairs, "median_ratio": statistics.median(pairs),
               "cpu_0": [r["cpu_s"] for r in runs[0]], "cpu_1": [r["cpu_s"] for r in runs[1]]}
    print(json.dumps(summary))
    if a.update:
        record(a.out, {"parse_crawl": section(summary, runs)}, [],
               "python -m bench.parse_crawl " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])), start)
    return 0


def section(summary: dict, runs: dict) -> dict:
    """The results.json section: each setting's rate and crawler CPU, and the ratio of the rates."""
    n, reps = summary["n"], len(summary["ratio_1_over_0"])
    rows = []
    for w in (0, 1):
        rs = runs[w]
        rows += [
            row(f"parse_workers {w}: profiles/s", statistics.median(summary[f"rate_{w}"]), "profiles/s",
                f"median of {reps} first crawls of {n:,} groups on {n:,} hosts ({summary['server']}); each run "
                + " / ".join(f"{x:.1f}" for x in summary[f"rate_{w}"])),
            row(f"parse_workers {w}: crawler process CPU per profile",
                statistics.median(r["cpu_s"] / max(1, r["profiles"]) * 1000 for r in rs), "ms",
                "event loop + writer" + ("; the parser process's CPU is not counted (the fork server's child)"
                                         if w else "; parsing and the profile checks on the pipeline thread")),
            row(f"parse_workers {w}: peak RSS", max(r["peak_rss_mb"] for r in rs), "MB", "the crawler process"),
        ]
    rows.append(row("ratio: profiles/s, parse_workers 1 / 0", summary["median_ratio"], "x",
                    "median of the per-pair ratios (runs alternated): "
                    + " / ".join(f"{x:.2f}x" for x in summary["ratio_1_over_0"])))
    return {"title": f"First crawl of {n:,} groups, parsing in a parser process or not (`bench.parse_crawl`)",
            "rows": rows, "raw": {"summary": summary, "runs": {str(w): rs for w, rs in runs.items()}}}


if __name__ == "__main__":
    raise SystemExit(main())
