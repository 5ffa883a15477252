"""Where the memory goes (issue 18): resident memory step by step, with the Python heap apart.

``ingest``: parse_source alone, then the store's bulk path, over N documents of the benchmark's
corpus (the ingest section's ``corpus-N.tsv``). ``serve``: the app over an existing store (a 100k
store of ``bench.search`` or the ingest section), then the first search, then the brokering models.
Each step reports RSS now, the process's peak so far, and the Python heap (``tracemalloc``: what
Python objects hold; the rest of RSS is the interpreter, the libraries' code and native memory:
RocksDB's caches and write buffers, SQLite's page cache).

    .venv/bin/python -m bench.memory ingest --corpus /tmp/b/corpus-100000.tsv --store /tmp/m --n 20000
    .venv/bin/python -m bench.memory serve --store /tmp/b100k [--no-heap]

``models``: the two brokering models alone over a store (no app, no text index), built as the
server's builder does; ``--modules DIR`` builds them with ``network.py`` and ``matching.py`` from DIR
instead (the code before a change, e.g. ``git show b5421d1:crawler/query/brokering/network.py``), so
before and after are measured by one command at one size.

    .venv/bin/python -m bench.memory models --store /tmp/m10k [--modules /tmp/before] [--no-heap]

Each step is printed as a JSON line; ``--update`` also records the steps as the section
``memory_<ingest|serve|models>`` of bench/results.json (``--out`` for another results file) and
rewrites results.md, keeping every other section.
"""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import shutil
import sys
import time
import tracemalloc

from bench.tasks import _peak_rss_mb, _rss_now_mb, read_corpus


class Steps:
    def __init__(self):
        self.rows = []

    def mark(self, step: str, **extra) -> None:
        gc.collect()
        heap, heap_peak = tracemalloc.get_traced_memory()
        self.rows.append(dict(step=step, rss_mb=round(_rss_now_mb(), 1), peak_rss_mb=round(_peak_rss_mb(), 1),
                              python_heap_mb=round(heap / 2 ** 20, 1), python_heap_peak_mb=round(heap_peak / 2 ** 20, 1),
                              **extra))
        tracemalloc.reset_peak()
        print(json.dumps(self.rows[-1]), flush=True)


def ingest(a, steps: Steps) -> None:
    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import OK, SourceRecord, Store, now

    settings = Settings()
    steps.mark("imports (hubnet, pyoxigraph)")
    for url, body in read_corpus(a.corpus, a.n):
        parse_source(body, "application/ld+json", url, settings)
    steps.mark(f"parse_source of {a.n:,} documents, nothing kept")
    shutil.rmtree(a.store, ignore_errors=True)
    store = Store(a.store)
    steps.mark("empty store opened")
    t = time.perf_counter()
    for url, body in read_corpus(a.corpus, a.n):
        parsed = parse_source(body, "application/ld+json", url, settings)
        stamp = now()
        rec = SourceRecord(url=url, graph=url, status=OK, found_via="load", first_seen=stamp, generated_at=stamp,
                           last_success=stamp, content_hash=parsed.content_hash, triples=len(parsed.triples))
        store.stage_new_source(rec, parsed.triples, batch=settings.bulk_batch)
    store.flush()
    steps.mark(f"bulk ingest of {a.n:,} documents (batches of {settings.bulk_batch})",
               seconds=round(time.perf_counter() - t, 1))
    store.close()
    del store
    steps.mark("store closed")


def serve(a, steps: Steps) -> None:
    from urllib.parse import urlencode

    from bench.tasks import SEARCHES
    from hubnet.crawler.web import create_app

    steps.mark("imports (hubnet, Flask, pyoxigraph)")
    t = time.perf_counter()
    app = create_app({"STORE": str(a.store), "BACKGROUND": False, "TESTING": True,
                      "MODEL_BUILD_BUDGET": 3600.0, "MODEL_WAIT": 3600.0})   # a slow machine: measure, never cut short
    steps.mark("create_app: store opened, index opened and in step", seconds=round(time.perf_counter() - t, 1))
    client = app.test_client()
    for q, topic, area in SEARCHES:
        for params in ({"q": q, "topic": topic, "area": area}, {"q": q}):
            assert client.get(f"/api/groups?{urlencode(params)}").status_code == 200
    steps.mark("8 directory searches (index pages and counts cached)")
    assert client.get("/api/groups?" + urlencode({"limit": 1000})).status_code == 200
    steps.mark("a page of 1,000 groups")
    if not a.skip_models:
        t = time.perf_counter()
        status = client.get("/api/network/bridges").status_code
        steps.mark("brokering network model built (/api/network/bridges)", status=status,
                   seconds=round(time.perf_counter() - t, 1))
        t = time.perf_counter()
        status = client.get("/api/matches?limit=10").status_code
        steps.mark("matcher model built (/api/matches)", status=status, seconds=round(time.perf_counter() - t, 1))
    app.extensions["hubnet"].close()
    steps.mark("app closed")


def _brokering(modules: str | None):
    """(Network, Matcher): the installed ones, or those of ``modules``/network.py and matching.py."""
    if not modules:
        from hubnet.crawler.query.brokering.matching import Matcher
        from hubnet.crawler.query.brokering.network import Network
        return Network, Matcher
    import importlib.util
    import sys

    loaded = {}
    for name in ("network", "matching"):
        spec = importlib.util.spec_from_file_location(f"bench_before_{name}", f"{modules}/{name}.py")
        loaded[name] = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded[name])
    return loaded["network"].Network, loaded["matching"].Matcher


def models(a, steps: Steps) -> None:
    from hubnet.crawler.store.graph import Store

    Network, Matcher = _brokering(a.modules)
    store = Store(a.store)
    steps.mark("store opened" + (f" (models of {a.modules})" if a.modules else ""))
    t = time.perf_counter()
    net = Network.from_store(store)
    net.bridges(), net.all_links()
    steps.mark("network model built, bridges and links worked out", groups=len(net.groups),
               seconds=round(time.perf_counter() - t, 1))
    t = time.perf_counter()
    matcher = Matcher.from_store(store)
    total, _ = matcher.page(limit=0)
    steps.mark("matcher model built with its full match list (the network held)", needs_matched=total,
               seconds=round(time.perf_counter() - t, 1))
    store.close()


def section(a, steps: Steps) -> dict:
    """The steps as a results.json section: RSS per step, with the peak and the Python heap in the note."""
    from bench.runner import row

    rows = []
    for r in steps.rows:
        extra = {k: v for k, v in r.items() if k not in ("step", "rss_mb", "peak_rss_mb", "python_heap_mb",
                                                         "python_heap_peak_mb")}
        heap = ("no tracemalloc (--no-heap)" if a.no_heap else
                f"Python heap {r['python_heap_mb']:g} MB (peak in the step {r['python_heap_peak_mb']:g})")
        rows.append(row(r["step"], r["rss_mb"], "MB", "; ".join(
            [f"RSS now; peak so far {r['peak_rss_mb']:g} MB", heap] + [f"{k} {v}" for k, v in extra.items()])))
    size = f"{a.n:,} documents" if a.what == "ingest" else f"the store {a.store}"
    return {"title": f"Memory, {a.what}: {size} (`bench.memory {a.what}`)", "rows": rows,
            "raw": {"steps": steps.rows, "heap": not a.no_heap}}


def main(argv=None) -> None:
    from bench.runner import HERE, record, require_results, started

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    i = sub.add_parser("ingest")
    i.add_argument("--corpus", required=True)
    i.add_argument("--store", required=True)
    i.add_argument("--n", type=int, default=20_000)
    s = sub.add_parser("serve")
    s.add_argument("--store", required=True)
    s.add_argument("--skip-models", action="store_true")
    m = sub.add_parser("models")
    m.add_argument("--store", required=True)
    m.add_argument("--modules", help="a directory with the network.py and matching.py to measure instead")
    for sp in (i, s, m):   # tracemalloc's records of live allocations count in RSS too: without it, RSS alone
        sp.add_argument("--no-heap", action="store_true", help="RSS only, without tracemalloc")
        sp.add_argument("--update", action="store_true",
                        help="record the steps as a section of the results (bench/results.json and .md)")
        sp.add_argument("--out", default=str(HERE / "results.md"), help="the results file --update writes")
    a = p.parse_args(argv)
    if a.update:
        require_results(a.out)
    start = started()
    if not a.no_heap:
        tracemalloc.start()
    steps = Steps()
    {"ingest": ingest, "serve": serve, "models": models}[a.what](a, steps)
    if a.update:
        tracemalloc.stop()
        record(a.out, {f"memory_{a.what}": section(a, steps)}, [],
               "python -m bench.memory " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])), start)


if __name__ == "__main__":
    main()
