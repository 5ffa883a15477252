"""The embedded store against Virtuoso (``--store sparql+http://...``): ingest and the four bench queries.

``python -m bench.stores --n 10000 --out bench/stores.md``. Both stores get the same corpus
(``tasks.write_corpus``) through ``Store.replace_source`` (one transaction / one update request per
source, the path of every change), then the queries of ``tasks.queries_for`` through ``Store.query``,
p50 over ``--runs``. Virtuoso is a throwaway one (``tests/virtuoso_server.py``, Debian's package) on
loopback, so its figures include one HTTP round trip per request. Ratios: Virtuoso / embedded.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.federation import Federation
from bench.runner import machine
from bench.tasks import queries_for, read_corpus, write_corpus


def ingest(store, corpus, n: int) -> dict:
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
        store.replace_source(rec, parsed.triples)
        write_s += time.perf_counter() - t
        triples += len(parsed.triples)
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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=20)
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
    results = {}
    embedded = Store(work / "embedded")
    results["embedded"] = {"ingest": ingest(embedded, corpus, args.n), "queries": queries(embedded, args.n, args.runs)}
    embedded.close()
    server = Virtuoso()
    try:
        remote = RemoteStore(server.spec, Settings(store_local_dir=str(work / "local")))
        results["virtuoso"] = {"ingest": ingest(remote, corpus, args.n), "queries": queries(remote, args.n, args.runs)}
        remote.close()
    finally:
        server.stop()
    e, v = results["embedded"], results["virtuoso"]
    m = machine()
    lines = [f"# Embedded Oxigraph vs Virtuoso 7 at {args.n:,} groups", "",
             f"Machine: {m['cpu_model']}, {m['affinity']} cores, {m['os']}. Virtuoso on loopback "
             "(Debian's virtuoso-opensource-7-bin, tests/virtuoso_server.py's ini). `python -m bench.stores`.", "",
             "| measure | embedded | Virtuoso | Virtuoso / embedded |", "|---|---|---|---|",
             f"| ingest, docs/s (replace_source per source) | {e['ingest']['docs_per_s']:.0f} | "
             f"{v['ingest']['docs_per_s']:.0f} | {v['ingest']['docs_per_s'] / e['ingest']['docs_per_s']:.2f} |"]
    for name in e["queries"]:
        a, b = e["queries"][name], v["queries"][name]
        lines.append(f"| query {name}, p50 ms | {a:.1f} | {b:.1f} | {b / a:.1f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
