"""The crawler's own CPU per profile, this tree against a baseline build, alternated in one run.

``python -m bench.crawl_cpu --base DIR [--n 3000] [--reps 3] [--crawl-n 1000]``

``--base`` is a directory holding another build of the ``hubnet`` package (for example
``git archive <commit> | tar -x -C /tmp/b && pip install --no-deps --target /tmp/b-site /tmp/b``);
each measurement runs in its own process with that directory first on ``PYTHONPATH`` (baseline) or
without it (this tree's install), the two alternated ``--reps`` times, so both see the same load.

- parse: ``parse_source`` over ``--n`` bench federation profiles as served (CPU seconds of the
  process, ``time.process_time``), and the call counts of the hot functions under cProfile;
- crawl: a first crawl of ``--crawl-n`` groups (the crawl task of bench/tasks.py, profile checks
  off, parsing on the pipeline thread): crawler CPU per profile, then one crawl of each under
  cProfile for the event loop's call counts (``urlsplit``, ``netpolicy._split``, ``scope``...).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Functions whose call counts (event loop and pipeline thread) the profiled runs report.
WATCH = ("urlsplit", "_split", "scope", "ip_address", "_enqueue", "_checked_rows", "_statements", "parse_source",
         "check_target", "canonical_url", "origin", "speaks_for", "host_of", "domain_of", "ready_at", "ord")


def _counts(stats: pstats.Stats) -> dict:
    out: dict = {}
    for (f, line, name), (_cc, nc, tt, _ct, _callers) in stats.stats.items():
        key = name.strip("<>").replace("built-in method builtins.", "")
        if key in ("genexpr", "listcomp", "setcomp") and "hubnet" in f:
            key = f"{Path(f).name}:{line}:{key}"
        elif key not in WATCH:
            continue
        c = out.setdefault(key, [0, 0.0])
        c[0] += nc
        c[1] += tt
    return {k: [v[0], round(v[1], 3)] for k, v in sorted(out.items())}


def task_parse(a: dict) -> dict:
    """parse_source over the federation's profiles: CPU seconds, and (profiled) call counts."""
    from bench.federation import Federation
    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings

    fed = Federation(a["n"], port=8080)
    docs = [(fed.body(i), fed.doc_url(i)) for i in range(a["n"])]
    settings = Settings()
    for body, url in docs[:50]:   # warm caches of the pinned contexts
        parse_source(body, "application/ld+json", url, settings)
    t = time.process_time()
    triples = 0
    for body, url in docs:
        triples += len(parse_source(body, "application/ld+json", url, settings).triples)
    cpu = time.process_time() - t
    prof = cProfile.Profile()
    prof.enable()
    for body, url in docs:
        parse_source(body, "application/ld+json", url, settings)
    prof.disable()
    return {"cpu_s": cpu, "docs": len(docs), "triples": triples, "calls": _counts(pstats.Stats(prof))}


def task_crawl(a: dict) -> dict:
    """bench/tasks.py's crawl task, with the WATCH call counts of its profiled threads when profiled."""
    import bench.tasks as tasks

    counts: list = []
    top = tasks._top

    def counting_top(stats, sort, limit):
        if len(counts) < 2:   # the event loop's Stats first, then the pipeline thread's
            counts.append(_counts(stats))
        return top(stats, sort, limit)

    tasks._top = counting_top
    pipeline_cpu = _time_pipeline_thread() if not a.get("profile") else None
    res = tasks.task_crawl(a)
    if counts:
        res["calls_event_loop"], res["calls_pipeline"] = counts
    if pipeline_cpu is not None:
        res["pipeline_cpu_s"] = pipeline_cpu["s"]
    return res


def _time_pipeline_thread() -> dict:
    """Sum the pipeline thread's own CPU (time.thread_time around each job handed to it), so the
    crawl's CPU splits into that thread and the rest (the event loop, the main thread)."""
    from hubnet.crawler.crawl.crawler import Crawler

    acc = {"s": 0.0}

    def timed(fn, *args):
        t = time.thread_time()
        try:
            return fn(*args)
        finally:
            acc["s"] += time.thread_time() - t

    async def in_pipeline(self, fn, *args):
        import asyncio

        call = getattr(self._pipeline, "call", None)   # the batched hand-over, where the build has it
        if call is not None:
            return await call(timed, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._pipeline, timed, fn, *args)

    write_staged = Crawler._write_staged
    Crawler._in_pipeline = in_pipeline
    Crawler._write_staged = lambda self: timed(write_staged, self)
    return acc


def _run(task: str, args: dict, base: str | None) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if base:
        env["PYTHONPATH"] = base
    cmd = [sys.executable, "-m", "bench.crawl_cpu", "--task", task, json.dumps(args)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"{task} failed ({p.returncode}):\n{p.stderr[-4000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _print_profiled(profiled: dict, threads=("calls_event_loop", "calls_pipeline")) -> None:
    """The profiled crawls side by side: calls and own time of each watched function, per thread."""
    for name, r in profiled.items():
        print(f"profiled {name}: crawler CPU {r['cpu_s'] / max(1, r['profiles']) * 1000:.3f} ms/profile, "
              f"event loop {r.get('loop_shares')}, pipeline thread {r.get('pipeline_profiled_s')} s")
    for thread in threads:
        rows = {}
        for name in ("base", "new"):
            for fn, (n, tt) in (profiled.get(name, {}).get(thread) or {}).items():
                rows.setdefault(fn, {})[name] = (n, tt)
        print(f"{thread}: function, calls base / new, own s base / new")
        for fn, v in sorted(rows.items(), key=lambda kv: -kv[1].get("base", (0, 0))[1]):
            b, n = v.get("base", (0, 0)), v.get("new", (0, 0))
            print(f"  {fn:32} {b[0]:>9} {n[0]:>9}   {b[1]:7.3f} {n[1]:7.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.crawl_cpu", description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=False)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--crawl-n", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="parse,crawl")
    ap.add_argument("--task", nargs=2, metavar=("TASK", "ARGS"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.task:
        fn = {"parse": task_parse, "crawl": task_crawl}[a.task[0]]
        print(json.dumps(fn(json.loads(a.task[1]))))
        return 0
    builds = {"base": a.base, "new": None}
    only = a.only.split(",")
    if "parse" in only:
        cpu: dict = {"base": [], "new": []}
        calls = {}
        for k in range(max(1, a.reps)):
            order = list(builds.items())
            for name, path in (order if k % 2 == 0 else order[::-1]):
                r = _run("parse", {"n": a.n}, path)
                cpu[name].append(r["cpu_s"])
                calls[name] = r["calls"]
                print(json.dumps({"parse": name, "cpu_s": round(r["cpu_s"], 3), "triples": r["triples"]}), flush=True)
        ratios = [b / n for b, n in zip(cpu["base"], cpu["new"])]
        _print_profiled({name: {"cpu_s": cpu[name][-1], "profiles": a.n, "calls_pipeline": c}
                         for name, c in calls.items()}, ("calls_pipeline",))
        print(json.dumps({"parse_ms_per_doc": {k: [round(v / a.n * 1000, 3) for v in vs] for k, vs in cpu.items()},
                          "base_over_new": [round(r, 2) for r in ratios],
                          "median_base_over_new": round(statistics.median(ratios), 2)}))
    if "crawl" in only:
        from bench.federation import Federation
        from bench.server import free_port, start_server

        work = Path(tempfile.mkdtemp(prefix="hubnet-crawl-cpu-"))
        port = free_port()
        fed = Federation(a.crawl_n, port=port)
        fed.write(work / "sites")
        server = start_server(work / "sites", work / "server", port=port)
        per: dict = {"base": [], "new": []}
        loop: dict = {"base": [], "new": []}   # all but the pipeline thread: the event loop, mostly
        profiled: dict = {}
        try:
            for k in range(a.reps + 1):
                order = list(builds.items())
                for name, path in (order if k % 2 == 0 else order[::-1]):   # ABBA: drift in load cancels
                    store = work / f"store-{name}-{k}"
                    settings = dict(per_host_delay=0.0, concurrency=32, obey_robots=True, check_profiles=False,
                                    max_depth=max(5, fed.depth_from_seed()), max_sources=a.crawl_n + 10,
                                    parse_workers=0)
                    args = dict(n=a.crawl_n, port=port, server_pid=server.pid, store=str(store), settings=settings)
                    if k == a.reps:
                        args["profile"] = True
                    r = _run("crawl", args, path)
                    shutil.rmtree(store, ignore_errors=True)
                    if k == a.reps:
                        profiled[name] = r
                        continue
                    ms = r["cpu_s"] / max(1, r["profiles"]) * 1000
                    pipe = r["pipeline_cpu_s"] / max(1, r["profiles"]) * 1000
                    per[name].append(ms)
                    loop[name].append(ms - pipe)
                    print(json.dumps({"crawl": name, "profiles": r["profiles"], "cpu_ms_per_profile": round(ms, 3),
                                      "pipeline_thread_ms": round(pipe, 3), "rest_ms": round(ms - pipe, 3),
                                      "wall_s": round(r["wall_s"], 2)}), flush=True)
        finally:
            server.stop()
            shutil.rmtree(work, ignore_errors=True)
        _print_profiled(profiled)
        for label, vals in (("crawler CPU", per), ("all but the pipeline thread", loop)):
            ratios = [b / n for b, n in zip(vals["base"], vals["new"])]
            print(json.dumps({"what": label, "ms_per_profile": {k: [round(v, 3) for v in vs] for k, vs in vals.items()},
                              "median_ms": {k: round(statistics.median(vs), 3) for k, vs in vals.items() if vs},
                              "base_over_new": [round(r, 2) for r in ratios],
                              "median_base_over_new": round(statistics.median(ratios), 2) if ratios else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
