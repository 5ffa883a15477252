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
server's builder does, the store opened read-only (a store another process holds, or one that must
not change, is never written); ``--modules DIR`` builds them with ``network.py`` and ``matching.py``
from DIR instead (the code before a change, e.g. ``git show 3e6da6a:crawler/query/brokering/matching.py``),
so before and after are measured by one command at one size. Each step reports its wall and CPU
seconds; the matcher's full list also its digest (the same digest: the same needs, counts and order).

    .venv/bin/python -m bench.memory models --store /tmp/m10k [--modules /tmp/before] [--no-heap]

Each step is printed as a JSON line; ``--update`` also records the steps as the section
``memory_<ingest|serve|models>`` of bench/results.json (``--out`` for another results file) and
rewrites results.md, keeping every other section.

``counts``: the matcher's full list alone, before (``--modules``) and after, in one process over the
same offers and needs, by CPU seconds, and whether the two lists are identical.

    .venv/bin/python -m bench.memory counts --store /tmp/m10k --modules /tmp/before --no-heap
"""

from __future__ import annotations

import argparse
import gc
import hashlib
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
        store.stage_new_source(rec, parsed.triples, batch=store.bulk_batch(settings))
    store.flush()
    steps.mark(f"bulk ingest of {a.n:,} documents (batches of {store.bulk_batch(settings)})",
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


class _ReadOnlyStore:
    """What the models read of a ``Store`` (``query``, ``oxigraph``) over pyoxigraph's read-only
    opening: no journal, no recovery, nothing written."""

    def __init__(self, path):
        import pyoxigraph as ox

        self.oxigraph = ox.Store.read_only(f"{path}/oxigraph")

    def query(self, sparql: str, **kw):
        kw.setdefault("use_default_graph_as_union", True)
        return self.oxigraph.query(sparql, **kw)

    def close(self) -> None:
        del self.oxigraph


def _timed():
    """A function giving (wall, CPU) seconds since it was made."""
    wall, cpu = time.perf_counter(), time.process_time()
    return lambda: dict(seconds=round(time.perf_counter() - wall, 1), cpu_seconds=round(time.process_time() - cpu, 1))


def models(a, steps: Steps) -> None:
    import datetime as dt

    Network, Matcher = _brokering(a.modules)
    store = _ReadOnlyStore(a.store)
    steps.mark("store opened read-only" + (f" (models of {a.modules})" if a.modules else ""))
    took = _timed()
    net = Network.from_store(store)
    net.bridges(), net.all_links()
    steps.mark("network model built, bridges and links worked out", groups=len(net.groups), **took())
    took = _timed()
    matcher = Matcher.from_store(store)
    steps.mark("matcher model read from the store (the network held)", offers=len(matcher.offers),
               needs=len(matcher.needs), **took())
    took = _timed()
    total, _ = matcher.page(limit=0)
    timing = took()
    found = matcher._found(None, 5.0, dt.date.today().isoformat())   # the list page() built and kept
    digest = hashlib.sha256("".join(f"{need.iri}\t{count}\n" for need, count, _ in found).encode()).hexdigest()
    steps.mark("matcher's full match list (offer count of every need)", needs_matched=total,
               digest=digest[:16], **timing)
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


def counts(a, steps: Steps) -> None:
    """The matcher's full list alone, before and after in one process over the same offers and needs:
    the store read once, then ``_found`` of the installed matcher and of ``modules``/matching.py timed
    by CPU, and their lists compared (needs, counts and order)."""
    import datetime as dt

    from hubnet.crawler.query.brokering.matching import Matcher

    Before = _brokering(a.modules)[1]
    store = _ReadOnlyStore(a.store)
    after = Matcher.from_store(store)
    store.close()
    steps.mark("offers and needs read", offers=len(after.offers), needs=len(after.needs))
    today, lists = dt.date.today().isoformat(), {}
    for name, matcher in (("after", after), ("before", Before(offers=after.offers, needs=after.needs))):
        cpu = time.process_time()
        lists[name] = [(need.iri, count) for need, count, _ in matcher._found(None, 5.0, today)]
        steps.mark(f"full list, {name}", needs_matched=len(lists[name]), cpu_seconds=round(time.process_time() - cpu, 2))
    print(json.dumps({"identical": lists["after"] == lists["before"]}), flush=True)


def main(argv=None) -> None:
    from bench.runner import add_record_options, record, require_results, started

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
    c = sub.add_parser("counts")
    c.add_argument("--store", required=True)
    c.add_argument("--modules", required=True, help="a directory with the matching.py (and network.py) of before")
    for sp in (i, s, m, c):   # tracemalloc's records of live allocations count in RSS too: without it, RSS alone
        sp.add_argument("--no-heap", action="store_true", help="RSS only, without tracemalloc")
        add_record_options(sp, "the memory_<ingest|serve|models|counts> section")
    a = p.parse_args(argv)
    if a.update:
        require_results(a.out)
    start = started()
    if not a.no_heap:
        tracemalloc.start()
    steps = Steps()
    {"ingest": ingest, "serve": serve, "models": models, "counts": counts}[a.what](a, steps)
    if a.update:
        tracemalloc.stop()
        record(a.out, {f"memory_{a.what}": section(a, steps)}, [],
               "python -m bench.memory " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])), start)


if __name__ == "__main__":
    main()
