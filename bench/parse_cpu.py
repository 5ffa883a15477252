"""A parser process's CPU per new document, this tree against a baseline build, alternated in one run.

``python -m bench.parse_cpu --base DIR [--n 3000] [--reps 4] [--broken]``

What a crawl's parser process does for each new or changed profile (``parsers.parse_shipped``:
``extract.parse_source``, the editor's rules ``checks.profile_problems`` on its rows, the statements as
N-Triples, ``crosses_paths``), over the bench federation's first ``n`` profiles as served
(``--broken``: every second one with one of the editor's rules broken, as ``bench.checks`` does), in a
process of its own that holds nothing across documents, as a parser process does. ``--base`` is a
directory holding another build of the ``hubnet`` package (for example ``git archive <commit> | tar -x
-C /tmp/b/src && pip install --no-deps --target /tmp/b/site /tmp/b/src``, then ``--base /tmp/b/site``);
each measurement runs with it first on ``PYTHONPATH`` (baseline) or without (this tree's install),
the two alternated ``--reps`` times (ABBA), so both see the same load.

Per run: CPU seconds of the process (``time.process_time``) per document for ``parse_shipped``, and
for its stages measured alone (``parse_source``; ``profile_problems`` on its rows; ``NTriples.of``);
the calls made per document to a few functions that cost (cProfile, a separate pass); and a digest of
every answer ``parse_shipped`` gave (pickled): the two builds must print the same digest, or an answer
changed. The summary gives the median of each and the ratio base / new per round. Keep ``n`` at a
few thousand: in a crawl every document is new, and a baseline's cache of rdflib terms (4,096 typed
literals, ~4 a profile) would otherwise still hold the values of one pass in the next.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pickle
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIND = "application/ld+json"
# Functions whose calls per document the profiled pass reports.
WATCH = ("urlsplit", "__new__", "_typed", "raw_decode", "check_shape", "add", "report", "_is_web_address")


def _documents(n: int, broken: bool) -> list:
    from bench.federation import Federation

    fed = Federation(n, port=8080)
    if not broken:
        return [(fed.body(i), fed.doc_url(i)) for i in range(n)]
    from bench.checks import profile_body   # the same breakages as bench.checks

    return [(profile_body(fed, i), fed.doc_url(i)) for i in range(n)]


def task(n: int, broken: bool) -> dict:
    """One build, in this process: CPU per document of each stage, calls per document, answers' digest."""
    from hubnet.crawler.crawl import checks, parsers
    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.shipped import NTriples

    docs = _documents(n, broken)
    settings = Settings()
    parsers._settings = settings   # as parsers._start sets it in a parser process
    for body, url in docs[:50]:    # compile the rules, load the pinned contexts
        parsers.parse_shipped(body, KIND, url, False, None)
    digest = hashlib.sha256()
    out = {}

    def timed(label, fn):
        start = time.process_time()
        for body, url in docs:
            fn(body, url)
        out[label] = (time.process_time() - start) / n * 1000

    timed("parse_shipped", lambda body, url: digest.update(pickle.dumps(
        parsers.parse_shipped(body, KIND, url, False, None))))
    timed("parse_source", lambda body, url: parse_source(body, KIND, url, settings))
    parsed = {url: parse_source(body, KIND, url, settings) for body, url in docs}
    timed("profile_problems", lambda body, url: checks.profile_problems(body, KIND, url, settings, parsed[url].rows))
    timed("NTriples.of", lambda body, url: NTriples.of(parsed[url].triples))
    del parsed
    profile = cProfile.Profile()
    profile.enable()
    for body, url in docs:
        parsers.parse_shipped(body, KIND, url, False, None)
    profile.disable()
    calls: dict = {}
    for (path, _line, name), (_cc, count, *_rest) in pstats.Stats(profile).stats.items():
        if name in WATCH and (name != "__new__" or "rdflib" in path):
            key = f"rdflib {name}" if "rdflib" in path else name
            calls[key] = calls.get(key, 0) + count / n
    out["calls_per_doc"] = {k: round(v, 2) for k, v in sorted(calls.items())}
    out["digest"] = digest.hexdigest()[:16]
    return out


def _run(base: str | None, n: int, broken: bool) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if base:
        env["PYTHONPATH"] = base
    cmd = [sys.executable, "-m", "bench.parse_cpu", "--task", json.dumps({"n": n, "broken": broken})]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"parse_cpu task failed ({p.returncode}):\n{p.stderr[-4000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.parse_cpu", description=__doc__.split("\n")[0])
    ap.add_argument("--base")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--broken", action="store_true")
    ap.add_argument("--task", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.task:
        print(json.dumps(task(**json.loads(a.task))))
        return 0
    builds = [("base", a.base), ("new", None)] if a.base else [("new", None)]
    runs: dict = {name: [] for name, _ in builds}
    for k in range(max(1, a.reps)):
        for name, path in (builds if k % 2 == 0 else builds[::-1]):
            r = _run(path, a.n, a.broken)
            runs[name].append(r)
            print(json.dumps({"build": name, **{key: (round(v, 4) if isinstance(v, float) else v)
                                               for key, v in r.items() if key != "calls_per_doc"}}), flush=True)
    stages = [key for key, v in runs["new"][0].items() if isinstance(v, float)]
    summary = {"n": a.n, "broken": a.broken,
               "ms_per_doc_median": {name: {s: round(statistics.median(r[s] for r in rs), 4) for s in stages}
                                     for name, rs in runs.items()},
               "calls_per_doc": {name: rs[-1]["calls_per_doc"] for name, rs in runs.items()},
               "digests": {name: sorted({r["digest"] for r in rs}) for name, rs in runs.items()}}
    if a.base:
        summary["base_over_new"] = {s: [round(b[s] / n[s], 2) for b, n in zip(runs["base"], runs["new"])]
                                    for s in stages}
        summary["median_base_over_new"] = {s: round(statistics.median(v), 2)
                                           for s, v in summary["base_over_new"].items()}
        summary["same_answers"] = summary["digests"]["base"] == summary["digests"]["new"]
    for key, value in summary.items():
        print(f"{key}: {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
