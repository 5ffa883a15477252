"""The embedded store against Virtuoso (``--store sparql+http://...``): ingest and the four bench queries.

``python -m bench.stores --n 10000 --out bench/stores.md``. Both stores get the same corpus
(``tasks.write_corpus``) through ``Store.replace_source`` (one transaction / one update request per
source, the path of every change), then the queries of ``tasks.queries_for`` through ``Store.query``,
p50 over ``--runs``. Virtuoso is a throwaway one (``tests/virtuoso_server.py``, Debian's package) on
loopback, so its figures include one HTTP round trip per request. Ratios: Virtuoso / embedded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
from collections import defaultdict
import tempfile
import time
from pathlib import Path

from bench.federation import Federation
from bench.runner import machine
from bench.tasks import queries_for, read_corpus, write_corpus


def ingest(store, corpus, n: int, bulk_batch: int = 0) -> dict:
    """Write the first ``n`` documents of ``corpus``: through ``replace_source`` one by one, or,
    with ``bulk_batch``, through ``stage_new_source`` (the path of a first crawl's new sources)."""
    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import OK, SourceRecord, now

    settings, triples, write_s = Settings(), 0, 0.0
    t0 = time.perf_counter()
    for url, body in read_corpus(corpus, n):
        parsed = parse_source(body, "application/ld+json", url, settings)
        stamp = now()
        rec = SourceRecord(url=url, graph=url, status=OK, found_via="load", first_seen=stamp, generated_at=stamp,
                           last_success=stamp, content_hash=parsed.content_hash, triples=len(parsed.triples))
        t = time.perf_counter()
        if bulk_batch:
            store.stage_new_source(rec, parsed.triples, batch=bulk_batch)
        else:
            store.replace_source(rec, parsed.triples)
        write_s += time.perf_counter() - t
        triples += len(parsed.triples)
    t = time.perf_counter()
    store.flush()
    write_s += time.perf_counter() - t
    wall = time.perf_counter() - t0
    return {"docs": n, "triples": triples, "wall_s": wall, "write_s": write_s, "docs_per_s": n / wall}


def queries(store, n: int, runs: int) -> dict:
    fed = Federation(n, port=80)
    rng = random.Random(7)
    picks = [rng.randrange(n) for _ in range(10)]
    out = {}
    for name, (_, texts) in queries_for(fed, picks).items():
        list(store.query(texts[0]))   # warm-up
        times = []
        for k in range(runs):
            t = time.perf_counter()
            list(store.query(texts[k % len(texts)]))
            times.append((time.perf_counter() - t) * 1000)
        out[name] = statistics.median(times)
    return out


def _kind(text: str) -> str:
    """Which operation of a source's write a request (or one operation of an update) is."""
    if " ;\n" in text:
        return "update: the whole request"
    t = " ".join(text.split())
    if t.startswith("SELECT ?src ?g ?status"):
        return "read: the record's graphs and their owners (_claims)"
    if t.startswith("ASK { { GRAPH"):
        return "read: is the source held (_never_held)"
    if t.startswith("SELECT") or t.startswith("ASK"):
        if "hubnet/graph/provenance> { ?s" in t:
            return "read: who claims the graph (_live_owners)"
        if "#status> ?o" in t:
            return "read: a claimant's status (_live_owners)"
        if "hubnet/graph/provenance> { <" in t:
            return "read: the old record (_current)"
        return "read: other"
    if t.startswith("DELETE WHERE") and "wasDerivedFrom" in t:
        return "update: DELETE WHERE attribution"
    if t.startswith("DELETE WHERE"):
        return "update: DELETE WHERE old record"
    if t.startswith("DROP SILENT GRAPH"):
        return "update: DROP SILENT GRAPH"
    if "hubnet/graph/changes>" in t:
        return "update: change-log INSERT DATA"
    if t.startswith("INSERT DATA"):
        return "update: INSERT DATA (graph + record)"
    return "update: other"


def breakdown(spec: str, work: Path, corpus: Path, n: int) -> list:
    """Where one source's write goes on the server: every request ``replace_source`` makes, timed
    by kind, for ``n`` new sources written as they are (one update request each), then for ``n``
    new and the same ``n`` again (existing) with each operation of the update sent alone."""
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.remote import RemoteStore, _change_entry

    store = RemoteStore(spec, Settings(store_local_dir=str(work / "local-breakdown")))
    post, timings = store.client.post, defaultdict(lambda: defaultdict(list))
    phase = ["combined, new"]

    def timed(url, data, accept, timeout=None):
        text = dict(data).get("query") or dict(data).get("update")
        t = time.perf_counter()
        try:
            return post(url, data, accept, timeout)
        finally:
            timings[phase[0]][_kind(text)].append((time.perf_counter() - t) * 1000)

    def split(text: str) -> None:   # each operation its own request (not atomic: measuring only)
        names, store.oxigraph.pending_changes = store.oxigraph.pending_changes, []
        for part in text.split(" ;\n") + ([_change_entry(names)] if names else []):
            store.client.post(store.client.update_url, [("update", part)], "application/sparql-results+json")

    store.client.post = timed
    for _ in range(50):
        t = time.perf_counter()
        post(store.client.query_url, [("query", "ASK {}")], "application/sparql-results+json")
        timings["round trip"]["ASK {} (HTTP + parse floor)"].append((time.perf_counter() - t) * 1000)
    half = n // 2
    ingest(store, corpus, half)
    phase[0] = "one operation per request, new"
    store.oxigraph.update = split
    rows = list(read_corpus(corpus, n))[half:]
    _write_rows(store, rows)
    phase[0] = "one operation per request, existing"
    _write_rows(store, rows)
    store.close()
    lines = ["| phase | request | count | mean ms | p50 ms | total s |", "|---|---|---|---|---|---|"]
    for ph, kinds in timings.items():
        for kind, ms in sorted(kinds.items(), key=lambda kv: -sum(kv[1])):
            lines.append(f"| {ph} | {kind} | {len(ms)} | {statistics.mean(ms):.1f} | {statistics.median(ms):.1f} | "
                         f"{sum(ms) / 1000:.1f} |")
    return lines


def _write_rows(store, rows) -> None:
    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import OK, SourceRecord, now

    settings = Settings()
    for url, body in rows:
        parsed = parse_source(body, "application/ld+json", url, settings)
        stamp = now()
        store.replace_source(SourceRecord(url=url, graph=url, status=OK, found_via="load", first_seen=stamp,
                                          generated_at=stamp, last_success=stamp, content_hash=parsed.content_hash,
                                          triples=len(parsed.triples)), parsed.triples)


@contextlib.contextmanager
def _server(make):
    server = make()
    try:
        yield server
    finally:
        server.stop()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bulk-batch", type=int, default=500, help="bulk_batch of the stage_new_source ingest")
    ap.add_argument("--breakdown", type=int, default=300,
                    help="sources of the per-request breakdown on Virtuoso (0: none)")
    ap.add_argument("--out", default="bench/stores.md")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from virtuoso_server import Virtuoso

    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import Store
    from hubnet.crawler.store.remote import RemoteStore

    work = Path(tempfile.mkdtemp(prefix="hubnet-bench-stores-"))
    corpus = work / "corpus.tsv"
    write_corpus(corpus, args.n)
    results, load = {}, []
    embedded = Store(work / "embedded")
    load.append(os.getloadavg()[0])
    results["embedded"] = {"ingest": ingest(embedded, corpus, args.n), "queries": queries(embedded, args.n, args.runs)}
    embedded.close()
    bulk = Store(work / "embedded-bulk")
    results["embedded"]["bulk"] = ingest(bulk, corpus, args.n, args.bulk_batch)
    bulk.close()
    load.append(os.getloadavg()[0])
    # Each Virtuoso phase on a fresh server: emptying one that holds thousands of graphs can take
    # longer than a request's timeout on a busy machine.
    with _server(Virtuoso) as server:
        remote = RemoteStore(server.spec, Settings(store_local_dir=str(work / "local")))
        results["virtuoso"] = {"ingest": ingest(remote, corpus, args.n), "queries": queries(remote, args.n, args.runs)}
        remote.close()
    print(results, flush=True)
    load.append(os.getloadavg()[0])
    with _server(Virtuoso) as server:
        remote = RemoteStore(server.spec, Settings(store_local_dir=str(work / "local-bulk")))
        results["virtuoso"]["bulk"] = ingest(remote, corpus, args.n, args.bulk_batch)
        remote.close()
    print(results, flush=True)
    load.append(os.getloadavg()[0])
    if args.breakdown:
        with _server(Virtuoso) as server:
            results["breakdown"] = breakdown(server.spec, work, corpus, min(args.breakdown, args.n))
    e, v = results["embedded"], results["virtuoso"]
    m = machine()
    lines = [f"# Embedded Oxigraph vs Virtuoso 7 at {args.n:,} groups", "",
             f"Machine: {m['cpu_model']}, {m['affinity']} cores, {m['os']}. Virtuoso on loopback "
             "(Debian's virtuoso-opensource-7-bin, tests/virtuoso_server.py's ini). `python -m bench.stores`.", "",
             "| measure | embedded | Virtuoso | Virtuoso / embedded |", "|---|---|---|---|",
             f"| ingest, docs/s (replace_source per source) | {e['ingest']['docs_per_s']:.0f} | "
             f"{v['ingest']['docs_per_s']:.0f} | {v['ingest']['docs_per_s'] / e['ingest']['docs_per_s']:.2f} |",
             f"| ingest, docs/s (stage_new_source, bulk_batch {args.bulk_batch}) | {e['bulk']['docs_per_s']:.0f} | "
             f"{v['bulk']['docs_per_s']:.0f} | {v['bulk']['docs_per_s'] / e['bulk']['docs_per_s']:.2f} |"]
    for name in e["queries"]:
        a, b = e["queries"][name], v["queries"][name]
        lines.append(f"| query {name}, p50 ms | {a:.1f} | {b:.1f} | {b / a:.1f} |")
    lines += ["", "Load average (1 min) before the embedded ingest, after the embedded bulk ingest, after the "
              f"Virtuoso ingest and queries, after the Virtuoso bulk ingest: {', '.join(f'{x:.1f}' for x in load)}."]
    if results.get("breakdown"):
        lines += ["", f"Per request on Virtuoso, {min(args.breakdown, args.n)} sources through replace_source "
                  "(`breakdown`): as written (one update each), then each operation of the update sent alone, "
                  "for new sources and for the same sources again (existing).", "", *results["breakdown"]]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
