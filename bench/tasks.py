"""One measurement per process: ``python -m bench.tasks TASK ARGS_JSON``.

Each task prints one JSON object on the last line of stdout. Running every
measurement in its own process keeps peak RSS (``ru_maxrss``), CPU time and
garbage from one measurement out of the next.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import random
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from bench.federation import Federation
from bench.server import proc_cpu_seconds


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB on Linux


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def disk_usage(path) -> int:
    """Bytes on disk under ``path`` (st_blocks, as ``du`` counts them)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


class FdSampler:
    """Peak number of open file descriptors (sockets mostly), sampled every 50 ms in a thread."""

    def __init__(self, interval: float = 0.05):
        import threading

        self.peak, self.interval = 0, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, len(os.listdir("/proc/self/fd")))
            except OSError:
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _fed(a: dict) -> Federation:
    return Federation(a["n"], port=a["port"], seed=a.get("seed", 20240601), hosts=a.get("hosts", 0))


def _top(stats: pstats.Stats, sort: str, limit: int) -> str:
    buf = io.StringIO()
    stats.stream = buf
    stats.sort_stats(sort).print_stats(limit)
    lines = buf.getvalue().splitlines()
    # keep the table, drop the preamble up to the header line
    for k, line in enumerate(lines):
        if line.lstrip().startswith("ncalls"):
            return "\n".join(lines[k:]).rstrip()
    return "\n".join(lines).rstrip()


# --------------------------------------------------------------------------- crawl family

# The pipeline steps whose share of the pipeline thread's time a profiled crawl reports:
# (label, module path suffix, function name). Nested: the parse and the checks are not part of
# the store writes; Store.write_staged runs inside stage_new_source when a batch fills.
PIPELINE_STEPS = (
    ("parse (parse_source: JSON-LD, authority rule, hash)", "crawl/extract.py", "parse_source"),
    ("- of which JSON-LD to terms (vocab.parse.document_rows)", "vocab/parse.py", "document_rows"),
    ("- of which the authority rule, naming, links, hash (extract._statements)", "crawl/extract.py", "_statements"),
    ("profile checks (checks.profile_problems: vocab.validate, SHACL)", "crawl/checks.py", "profile_problems"),
    ("store: new sources staged and bulk-written (Store.stage_new_source)", "store/graph.py", "stage_new_source"),
    ("store: the last bulk batch, written when the crawl ends (Crawler._write_staged)", "crawl/crawler.py",
     "_write_staged"),
    ("store: changed sources (Store.replace_source)", "store/graph.py", "replace_source"),
    ("store: records of unchanged or failed sources (Store.update_record)", "store/graph.py", "update_record"),
    ("store: links of an unchanged source read back (extract.stored_links_and_groups)", "crawl/extract.py",
     "stored_links_and_groups"),
    ("budgets (Budgets.statements)", "crawl/frontier.py", "statements"),
    ("crawl start: known sources and groups read", "store/graph.py", "sources"),
)


def pipeline_shares(stats: pstats.Stats) -> list:
    """[(label, cumulative s, share of the thread's profiled time)] for PIPELINE_STEPS."""
    total = stats.total_tt or 1.0
    out = []
    for label, path, func in PIPELINE_STEPS:
        cum = sum(v[3] for (f, _line, name), v in stats.stats.items() if name == func and f.endswith(path))
        out.append((label, round(cum, 3), round(cum / total, 4)))
    return out


def loop_shares(stats: pstats.Stats) -> dict:
    """The event-loop thread: time waiting in epoll (idle) against everything else it ran."""
    total = stats.total_tt or 1.0
    idle = sum(v[2] for (_f, _l, name), v in stats.stats.items() if name == "<method 'poll' of 'select.epoll' objects>")
    return {"total_s": round(total, 3), "epoll_wait_s": round(idle, 3), "busy_s": round(total - idle, 3)}


def _counting_fetcher(settings, robots=None):
    from hubnet.crawler.crawl.fetch import Fetcher

    class CountingFetcher(Fetcher):
        """The crawler's own Fetcher, counting final statuses (for the 304 share)."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.status = Counter()

        async def fetch(self, url, **kw):
            resp = await super().fetch(url, **kw)
            self.status[str(resp.status)] += 1
            return resp

    return CountingFetcher(settings, robots=robots)


def crawl_settings(a: dict, fed: Federation):
    from hubnet.crawler.settings import Settings

    # Every bench site is a separate machine played by one loopback address, all under one
    # domain (bench.test) and one seed: lift the per-address politeness limits and the
    # per-domain and per-seed budgets, which would otherwise be measured instead of the crawler.
    big = 1_000_000_000
    kw = dict(allow_private=True, resolve=fed.resolve_map(), per_address_concurrency=big,
              per_subnet_concurrency=big, per_address_delay=0.0, per_subnet_delay=0.0,
              max_new_sources_per_domain=big, max_triples_per_domain=big, max_new_sources_per_seed=big,
              max_triples_per_seed=big, max_urls_per_host=big,
              geocoder="off")   # every bench group gives a postcode: never ask the public postcode lookup
    kw.update(a.get("settings", {}))
    return Settings(**kw)


def task_crawl(a: dict) -> dict:
    """A crawl with the real Crawler over loopback (first crawl, re-crawl and polite runs)."""
    from hubnet.crawler.crawl.crawler import Crawler
    from hubnet.crawler.store.graph import Store

    if a.get("nofile"):   # diagnostic: the crawl under a given soft limit of open files (ulimit -n)
        resource.setrlimit(resource.RLIMIT_NOFILE, (a["nofile"], resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    else:
        _raise_nofile()
    if a.get("switch_interval"):
        sys.setswitchinterval(a["switch_interval"])   # a diagnostic knob: how much the GIL hand-off costs
    fed = _fed(a)
    settings = crawl_settings(a, fed)
    store = Store(a["store"])
    profile = a.get("profile", False)
    server_pid = a.get("server_pid")
    out: dict = {}

    robots = None
    if a.get("warm_robots"):
        # As `hubnet-crawler serve` re-crawls: one robots cache kept from the crawl before.
        # That crawl is run here first, unmeasured.
        from hubnet.crawler.crawl.robots import RobotsCache

        robots = RobotsCache(settings.robots_cache_size)

        async def warm():
            async with _counting_fetcher(settings, robots) as f:
                await Crawler(store, settings, fetcher=f).run(fed.seeds())

        asyncio.run(warm())

    async def run():
        fetcher = _counting_fetcher(settings, robots)
        async with fetcher:
            crawler = Crawler(store, settings, fetcher=fetcher)
            if profile:
                _instrument_pipeline(crawler, out)
            summary = await crawler.run(fed.seeds())
        return summary, fetcher

    prof = cProfile.Profile() if profile else None
    srv0 = proc_cpu_seconds(server_pid) if server_pid else 0.0
    cpu0, t0 = _cpu(), time.perf_counter()
    if prof:
        prof.enable()
    with FdSampler() as fds:
        summary, fetcher = asyncio.run(run())
    if prof:
        prof.disable()
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    srv = (proc_cpu_seconds(server_pid) - srv0) if server_pid else None
    store.close()
    d = summary.to_dict()
    counts = summary.counts
    res = {
        "wall_s": wall, "cpu_s": cpu, "server_cpu_s": srv, "counts": counts, "writes": summary.writes,
        "requests": summary.requests, "status": dict(fetcher.status),
        "failed_by_reason": d["failed_by_reason"], "failures_sample": d["failures"][:5],
        "triples_written": d["triples_written"], "peak_rss_mb": _peak_rss_mb(), "peak_open_fds": fds.peak,
        "profiles": counts["new"] + counts["updated"] + counts["unchanged"],
        "settings": {k: getattr(settings, k) for k in ("per_host_delay", "concurrency", "obey_robots",
                                                       "max_depth", "max_sources", "retries")},
    }
    if prof:
        pipe = out["pipeline_profile"]
        res["pipeline_busy_s"] = out["pipeline_busy_s"]
        res["pipeline_calls"] = out["pipeline_calls"]
        res["profile_event_loop"] = _top(pstats.Stats(prof), "tottime", 25)
        res["profile_pipeline"] = _top(pstats.Stats(pipe), "tottime", 25)
        res["profile_pipeline_cum"] = _top(pstats.Stats(pipe), "cumulative", 20)
        res["pipeline_shares"] = pipeline_shares(pstats.Stats(pipe))
        res["pipeline_profiled_s"] = round(pstats.Stats(pipe).total_tt, 3)
        res["loop_shares"] = loop_shares(pstats.Stats(prof))
    return res


def _instrument_pipeline(crawler, out: dict) -> None:
    """Profile the crawler's pipeline thread too (cProfile sees one thread at a time).

    Replaces ``_in_pipeline`` on this instance only: each step runs under a
    second profiler in the pipeline thread, and its busy time is summed.
    """
    pipe = cProfile.Profile()
    out["pipeline_profile"] = pipe
    out["pipeline_busy_s"] = 0.0
    out["pipeline_calls"] = 0

    def timed(fn, *args):
        t = time.perf_counter()
        try:
            return pipe.runcall(fn, *args)
        finally:
            out["pipeline_busy_s"] += time.perf_counter() - t
            out["pipeline_calls"] += 1

    async def in_pipeline(fn, *args):
        call = getattr(crawler._pipeline, "call", None)   # the batched hand-over, where the build has it
        if call is not None:
            return await call(timed, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(crawler._pipeline, timed, fn, *args)

    crawler._in_pipeline = in_pipeline
    write_staged = crawler._write_staged   # the last bulk batch: submitted to the pipeline directly
    crawler._write_staged = lambda: timed(write_staged)


def task_floor(a: dict) -> dict:
    """Fetch-only floor: the same Fetcher, same URLs, same concurrency, nothing else."""
    _raise_nofile()
    fed = _fed(a)
    settings = crawl_settings(a, fed)
    urls = [fed.doc_url(i) for i in range(fed.n)]
    server_pid = a.get("server_pid")
    nbytes = 0
    errors: Counter = Counter()

    async def run():
        fetcher = _counting_fetcher(settings)
        queue: asyncio.Queue = asyncio.Queue()
        for u in urls:
            queue.put_nowait(u)

        async def worker():
            nonlocal nbytes
            while True:
                try:
                    u = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    resp = await fetcher.fetch(u)
                    nbytes += len(resp.body)
                except Exception as exc:  # counted, never fatal
                    errors[getattr(exc, "code", type(exc).__name__)] += 1

        async with fetcher:
            await asyncio.gather(*(worker() for _ in range(max(1, settings.concurrency))))
        return fetcher

    srv0 = proc_cpu_seconds(server_pid) if server_pid else 0.0
    cpu0, t0 = _cpu(), time.perf_counter()
    with FdSampler() as fds:
        fetcher = asyncio.run(run())
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    srv = (proc_cpu_seconds(server_pid) - srv0) if server_pid else None
    return {"wall_s": wall, "cpu_s": cpu, "server_cpu_s": srv, "profiles": fetcher.status.get("200", 0),
            "status": dict(fetcher.status), "errors": dict(errors), "bytes": nbytes,
            "requests": dict(fetcher.stats), "peak_rss_mb": _peak_rss_mb(), "peak_open_fds": fds.peak}


def task_naive(a: dict) -> dict:
    """The stack a Python user would write: sequential requests.get, rdflib JSON-LD, rdflib Dataset.

    Breadth-first from the same seed, following the same link properties. The
    names do not resolve, so each request goes to 127.0.0.1 with the site's
    Host header (what --resolve does for the real crawler). The hubnet context
    is inlined before parsing so rdflib never tries to fetch it. No robots.txt.
    Stops at ``budget_s`` seconds or ``max_docs`` documents.
    """
    import requests
    import rdflib
    from collections import deque
    from urllib.parse import urlsplit

    fed = _fed(a)
    ctx_file = Path(__file__).resolve().parent.parent / "vocab" / "context.jsonld"
    ctx = json.loads(ctx_file.read_text())["@context"]
    link_preds = [rdflib.URIRef(p) for p in (
        "http://schema.org/memberOf", "http://schema.org/member", "http://schema.org/parentOrganization",
        "http://schema.org/subOrganization", "http://www.w3.org/ns/org#linkedTo",
        "https://w3id.org/hubnet/ns#vouchesFor")]
    budget, max_docs = a.get("budget_s", 60.0), a.get("max_docs", 10 ** 9)
    server_pid = a.get("server_pid")
    ds = rdflib.Dataset(default_union=True)
    seen = set(fed.seeds())
    todo = deque(fed.seeds())
    docs = triples = failures = 0
    srv0 = proc_cpu_seconds(server_pid) if server_pid else 0.0
    cpu0, t0 = _cpu(), time.perf_counter()
    while todo and docs < max_docs and time.perf_counter() - t0 < budget:
        url = todo.popleft()
        parts = urlsplit(url)
        try:
            r = requests.get(f"http://127.0.0.1:{parts.port or 80}{parts.path or '/'}",
                             headers={"Host": parts.netloc}, timeout=10)
            r.raise_for_status()
            doc = r.json()
            doc["@context"] = ctx
            g = rdflib.Graph()
            g.parse(data=json.dumps(doc), format="json-ld", base=url)
            ctx_graph = ds.graph(rdflib.URIRef(url))
            ds.addN((s, p, o, ctx_graph) for s, p, o in g)
        except Exception:
            failures += 1
            continue
        docs += 1
        triples += len(g)
        # Links are read from the document's own small graph: asking the Dataset's context
        # instead is O(all link triples) per call in rdflib and collapses to ~40 docs/s by 2k docs.
        for p in link_preds:
            for o in g.objects(None, p):
                target = str(o).split("#", 1)[0]
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    srv = (proc_cpu_seconds(server_pid) - srv0) if server_pid else None
    return {"wall_s": wall, "cpu_s": cpu, "server_cpu_s": srv, "profiles": docs, "triples": triples,
            "failures": failures, "stopped_by": "budget" if todo and docs < max_docs else
            ("max_docs" if docs >= max_docs else "done"), "peak_rss_mb": _peak_rss_mb()}


# --------------------------------------------------------------------------- ingest

def write_corpus(path, n: int, seed: int = 20240601) -> dict:
    """``url<TAB>compact json`` per line for ``n`` groups (distinct layout, port 80)."""
    fed = Federation(n, port=80, seed=seed)
    sizes = []
    with open(path, "wb") as fh:
        for i in range(n):
            body = json.dumps(fed.profile(i), indent=2, ensure_ascii=False).encode("utf-8")
            sizes.append(len(body))
            fh.write(fed.doc_url(i).encode() + b"\t" + body.replace(b"\n", b" ") + b"\n")
    return {"docs": n, "bytes": sum(sizes), "mean_bytes": statistics.mean(sizes), "min_bytes": min(sizes),
            "max_bytes": max(sizes)}


def read_corpus(path, limit: int | None = None):
    with open(path, "rb") as fh:
        for k, line in enumerate(fh):
            if limit is not None and k >= limit:
                return
            url, _, body = line.rstrip(b"\n").partition(b"\t")
            yield url.decode(), body


def _parse_chunk(chunk: list) -> list:
    """In a parser process: parse_source per (url, body); the statements go back as N-Triples bytes,
    which the writer reads back in ~0.1 ms a document (pickling pyoxigraph terms costs ~0.5 ms to
    load, as much as parsing the JSON-LD again). None for a document that failed."""
    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings

    settings, out = Settings(), []
    for url, body in chunk:
        try:
            parsed = parse_source(body, "application/ld+json", url, settings)
        except Exception:
            out.append((url, None, None))
            continue
        out.append((url, "".join(f"{t} .\n" for t in parsed.triples).encode(), parsed.content_hash))
    return out


def _parsed_in_processes(corpus, limit, workers: int, chunk: int = 100):
    """(url, triples, content_hash) per document, parsed by ``workers`` processes; at most
    2 x ``workers`` chunks in flight, so a slower writer holds the parsers back (bounded memory)."""
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    import pyoxigraph as ox

    docs = read_corpus(corpus, limit)
    with ProcessPoolExecutor(workers) as pool:
        pending: deque = deque()
        while True:
            while len(pending) < 2 * workers:
                part = [d for _, d in zip(range(chunk), docs)]
                if not part:
                    break
                pending.append(pool.submit(_parse_chunk, part))
            if not pending:
                return
            for url, nt, digest in pending.popleft().result():
                yield url, (None if nt is None else list(ox.parse(nt, format=ox.RdfFormat.N_TRIPLES))), digest


def task_ingest(a: dict) -> dict:
    """parse_source + the store's write per document, straight from a file: no HTTP.

    ``mode``: "bulk" (default), the crawler's path for new sources (``Store.stage_new_source``,
    batches of ``Store.bulk_batch(settings)``, records last); "transaction", ``Store.replace_source``
    (one transaction per source, the path of every change); "floor", parse_source then
    pyoxigraph's own ``bulk_extend`` of the graphs per batch, no records: the bulk loader's floor."""
    import pyoxigraph as ox

    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import OK, SourceRecord, Store, now

    settings = Settings()
    mode = a.get("mode", "bulk")
    # The floor's batch is the runner's choice (it measures two sizes and keeps the faster).
    batch = a.get("batch") or Store.bulk_batch(settings)
    store = Store(a["store"]) if mode != "floor" else None
    raw = ox.Store(str(a["store"])) if mode == "floor" else None
    pending: list = []

    def write(rec, parsed):
        if mode == "bulk":
            store.stage_new_source(rec, parsed.triples, batch=batch)
        elif mode == "transaction":
            store.replace_source(rec, parsed.triples)
        else:
            g = ox.NamedNode(rec.graph)
            pending.extend(ox.Quad(t.subject, t.predicate, t.object, g) for t in parsed.triples)
            if docs % batch == batch - 1:
                raw.bulk_extend(pending)
                pending.clear()
    limit, budget = a.get("n"), a.get("budget_s", 1e9)
    profile = a.get("profile", False)
    prof = cProfile.Profile() if profile else None
    parse_s = write_s = 0.0
    docs = triples = failures = 0
    checkpoints = []
    rss0 = _peak_rss_mb()
    cpu0, t0 = _cpu(), time.perf_counter()
    if prof:
        prof.enable()
    workers = a.get("parse_workers", 0)

    def documents():
        if workers:   # parsed by other processes; what the writer still does is reading N-Triples back
            for url, triples, digest in _parsed_in_processes(a["corpus"], limit, workers):
                yield url, None if triples is None else SimpleNamespace(triples=triples, content_hash=digest)
            return
        for url, body in read_corpus(a["corpus"], limit):
            try:
                yield url, parse_source(body, "application/ld+json", url, settings)
            except Exception:
                yield url, None

    docs_in = documents()
    while True:
        t1 = time.perf_counter()
        url, parsed = next(docs_in, (None, None))
        if url is None:
            break
        if parsed is None:
            failures += 1
            continue
        t2 = time.perf_counter()
        stamp = now()
        rec = SourceRecord(url=url, graph=url, status=OK, found_via="load", first_seen=stamp,
                           generated_at=stamp, last_success=stamp, content_hash=parsed.content_hash,
                           triples=len(parsed.triples), etag=f'"{parsed.content_hash[:16]}"')
        write(rec, parsed)
        t3 = time.perf_counter()
        parse_s += t2 - t1
        write_s += t3 - t2
        docs += 1
        triples += len(parsed.triples)
        if docs % 10000 == 0:
            checkpoints.append({"docs": docs, "elapsed_s": round(t3 - t0, 2)})
        if t3 - t0 > budget:
            break
    t2 = time.perf_counter()
    if raw is not None:
        raw.bulk_extend(pending)
        raw.flush()
    else:
        store.flush()   # the last bulk batch
    write_s += time.perf_counter() - t2
    if prof:
        prof.disable()
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)   # the parser processes, once they ended
    du_open = disk_usage(a["store"])
    if store is not None:
        store.close()
    del store, raw
    gc.collect()
    du_closed = disk_usage(a["store"])
    res = {"mode": mode, "parse_workers": workers, "docs": docs, "triples": triples, "failures": failures,
           "wall_s": wall, "cpu_s": cpu, "cpu_children_s": children.ru_utime + children.ru_stime,
           "parse_s": parse_s, "write_s": write_s, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": rss0,
           "du_open_bytes": du_open, "du_closed_bytes": du_closed, "checkpoints": checkpoints,
           "partial": limit is not None and docs < limit}
    if prof:
        res["profile"] = _top(pstats.Stats(prof), "tottime", 25)
        res["profile_cum"] = _top(pstats.Stats(prof), "cumulative", 25)
    return res


# --------------------------------------------------------------------------- queries

PREFIXES = """PREFIX schema: <http://schema.org/>
PREFIX org: <http://www.w3.org/ns/org#>
PREFIX hubnet: <https://w3id.org/hubnet/ns#>
"""
LINKS = "(schema:memberOf|schema:member|org:linkedTo|hubnet:vouchesFor)"


def queries_for(fed: Federation, picks: list) -> dict:
    """name -> (description, [query texts]): the texts cycle over ``picks`` (group indexes)."""
    topic_bbox = PREFIXES + """SELECT ?g ?name ?lat ?lon WHERE {
  ?g schema:knowsAbout "%s" ; schema:name ?name ; schema:location ?place .
  ?place schema:geo ?geo . ?geo schema:latitude ?lat ; schema:longitude ?lon .
  FILTER(?lat >= 51.50 && ?lat <= 51.60 && ?lon >= -0.15 && ?lon <= 0.05)
}"""
    two_hop = PREFIXES + """SELECT DISTINCT ?c ?name WHERE {
  <%s> """ + LINKS + """ ?b .
  ?b """ + LINKS + """ ?c .
  FILTER(?c != <%s>)
  OPTIONAL { ?c schema:name ?name }
}"""
    count_topic = PREFIXES + """SELECT ?topic (COUNT(DISTINCT ?g) AS ?n) WHERE {
  ?g schema:knowsAbout ?topic .
} GROUP BY ?topic ORDER BY DESC(?n)"""
    one_group = "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH <%s> { ?s ?p ?o } }"
    topics = ["community garden", "food bank", "youth club", "tenant rights"]
    return {
        "topic_bbox": ("groups with a topic inside a lat/long box (central/east London)",
                       [topic_bbox % t for t in topics]),
        "two_hop": ("the two-hop network of one group (any link property)",
                    [two_hop % (fed.iri(i), fed.iri(i)) for i in picks]),
        "count_per_topic": ("number of groups per topic, all topics", [count_topic]),
        "one_group": ("everything about one group (its graph)", [one_group % fed.doc_url(i) for i in picks]),
    }


def _time_runs(fn, texts: list, min_runs: int, budget_s: float, max_runs: int = 500) -> dict:
    fn(texts[0])  # warm-up, not counted
    times, rows = [], []
    t_start = time.perf_counter()
    k = 0
    while k < min_runs or (time.perf_counter() - t_start < budget_s and k < max_runs):
        text = texts[k % len(texts)]
        t = time.perf_counter()
        n = fn(text)
        times.append((time.perf_counter() - t) * 1000)
        rows.append(n)
        k += 1
    per_text = rows[:len(texts)]
    by_text = [statistics.median(times[j::len(texts)]) for j in range(min(len(texts), len(times)))]
    times = sorted(times)
    return {"runs": len(times), "p50_ms": statistics.median(times), "p50_per_text_ms": by_text,
            "p95_ms": times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))],
            "rows_per_text": per_text, "rows_mean": statistics.mean(per_text)}


def task_queries(a: dict) -> dict:
    from hubnet.crawler.store.graph import Store

    n, subset = a["n"], a["subset"]
    fed = Federation(n, port=80)
    rng = random.Random(7)
    picks_all = [rng.randrange(n) for _ in range(10)]
    picks_sub = [rng.randrange(subset) for _ in range(10)] if subset < n else picks_all
    min_runs, budget = a.get("min_runs", 20), a.get("budget_s", 2.0)
    out: dict = {"n": n, "subset": subset, "results": {}}

    t = time.perf_counter()
    store = Store(a["store"])
    out["open_s"] = time.perf_counter() - t
    out["du_reopened_bytes"] = disk_usage(a["store"])

    def ox_run(text):
        r = store.query(text)
        return len(list(r))

    for name, (desc, texts) in queries_for(fed, picks_all).items():
        out["results"][f"oxigraph_full/{name}"] = dict(_time_runs(ox_run, texts, min_runs, budget), desc=desc)

    out["functions"] = measure_functions(store, fed, picks_all, min_runs, budget)
    store.close()
    store = None
    gc.collect()

    # The same queries on a subset, in Oxigraph (on disk, same code path) and in rdflib's Dataset.
    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import OK, SourceRecord, now

    sub_fed = Federation(n, port=80)   # same IRIs; only the first `subset` groups are loaded
    if subset < n:
        sub_store = Store(a["subset_store"])
        settings = Settings()
        t = time.perf_counter()
        for url, body in read_corpus(a["corpus"], subset):
            p = parse_source(body, "application/ld+json", url, settings)
            stamp = now()
            sub_store.replace_source(SourceRecord(url=url, graph=url, status=OK, found_via="load",
                                                  first_seen=stamp, content_hash=p.content_hash), p.triples)
        sub_store.flush()
        out["subset_oxigraph_load_s"] = time.perf_counter() - t
    else:
        sub_store = None

    def sub_run(text):
        return len(list(sub_store.query(text)))

    qs = queries_for(sub_fed, picks_sub)
    for name, (desc, texts) in qs.items():
        if subset < n:
            out["results"][f"oxigraph_subset/{name}"] = dict(_time_runs(sub_run, texts, min_runs, budget), desc=desc)
        else:   # the whole store is the subset: the numbers above are the comparison
            out["results"][f"oxigraph_subset/{name}"] = out["results"][f"oxigraph_full/{name}"]
    if sub_store is not None:
        sub_store.close()

    import rdflib

    ctx = json.loads((Path(__file__).resolve().parent.parent / "vocab" / "context.jsonld").read_text())["@context"]
    ds = rdflib.Dataset(default_union=True)
    t = time.perf_counter()
    rss0 = _peak_rss_mb()
    loaded = 0
    rdflib_budget = a.get("rdflib_load_budget_s", 300.0)
    for url, body in read_corpus(a["corpus"], subset):
        doc = json.loads(body)
        doc["@context"] = ctx
        ds.graph(rdflib.URIRef(url)).parse(data=json.dumps(doc), format="json-ld", base=url)
        loaded += 1
        if time.perf_counter() - t > rdflib_budget:
            break
    out["rdflib_loaded"] = loaded
    out["rdflib_load_s"] = time.perf_counter() - t
    out["rdflib_rss_growth_mb"] = _peak_rss_mb() - rss0

    def rdf_run(text):
        return len(list(ds.query(text)))

    for name, (desc, texts) in qs.items():
        out["results"][f"rdflib_subset/{name}"] = dict(_time_runs(rdf_run, texts, min_runs, 0.0), desc=desc)
    ds = None
    gc.collect()
    # Last: a route that does not answer in time is abandoned in its thread, and the process
    # exits as soon as the results are printed (see main).
    out["routes"] = measure_routes(a, fed, picks_all, min_runs, budget)
    return out


# --------------------------------------------------------------------------- the aggregator's own endpoints
#
# Directory search (crawler.index), /api/groups/<key> and /api/matches are being
# built by other engineers while this benchmark is written. Everything here is
# imported lazily and adapted at run time: the HTTP routes through Flask's test
# client when crawler.web.create_app exists and has the route; otherwise the
# underlying function, labelled as such; otherwise a "not measured" row with the
# reason. Never a made-up number.

SEARCHES = [("community", "food bank", "Leyton ward"), ("lunch", "youth club", "Hackney Wick ward"),
            ("garden", "community garden", "Croydon ward"), ("repairs", "tenant rights", "Brixton ward")]


def _nm(why: str) -> dict:
    return {"not_measured": f"not measured: {why}"}


def _err_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _count(res) -> int:
    if isinstance(res, dict):
        for k in ("total", "count"):
            if isinstance(res.get(k), int):
                return res[k]
        for v in res.values():
            if isinstance(v, list):
                return len(v)
        return 1
    try:
        return len(res)
    except TypeError:
        return 1 if res is not None else 0


def measure_functions(store, fed: Federation, picks: list, min_runs: int, budget: float) -> dict:
    """The underlying functions, on the open store: index sync + search + get, matcher build + matches."""
    import importlib
    import inspect

    out: dict = {}
    try:
        idx_mod = importlib.import_module("hubnet.crawler.store.index")
    except ImportError as exc:
        why = "directory search (crawler.index) not built yet"
        if getattr(exc, "name", None) not in ("hubnet.crawler.store.index", None):
            why += f" ({_err_text(exc)})"
        out["index_sync"] = out["search_fn"] = out["group_fn"] = _nm(why)
        idx_mod = None
    if idx_mod is not None:
        TextIndex, Search = getattr(idx_mod, "TextIndex", None), getattr(idx_mod, "Search", None)
        fields = set(getattr(Search, "__dataclass_fields__", {}) or {})
        if TextIndex is None or Search is None or not {"q", "topic", "area"} <= fields:
            why = (f"hubnet.crawler.store.index has no TextIndex + Search(q, topic, area) as this benchmark expects "
                   f"(has: {', '.join(sorted(k for k in vars(idx_mod) if not k.startswith('_')))})")
            out["index_sync"] = out["search_fn"] = out["group_fn"] = _nm(why)
        else:
            try:
                # The index file the web app uses, so that its start-up sync finds nothing to do.
                path_of = getattr(idx_mod, "index_path", None)
                path = Path(path_of(store)) if path_of else Path(store.path) / "bench-index.sqlite"
                for suffix in ("", "-wal", "-shm"):
                    Path(str(path) + suffix).unlink(missing_ok=True)
                index = TextIndex(path)
                t = time.perf_counter()
                stats = index.sync(store)
                sync_s = time.perf_counter() - t
                out["index_sync"] = {"wall_s": sync_s, "groups": index.count(), "stats": stats,
                                     "db_bytes": sum(os.path.getsize(str(path) + x) for x in ("", "-wal")
                                                     if os.path.exists(str(path) + x))}
                t = time.perf_counter()
                index.sync(store)
                out["index_resync_unchanged"] = {"wall_s": time.perf_counter() - t}
                if hasattr(index, "looked_at"):   # the index follows the store's change journal
                    conn = index._conn()
                    conn.execute("DELETE FROM meta WHERE k = 'journal'")   # as if the journal were lost
                    conn.commit()
                    t = time.perf_counter()
                    index.sync(store)
                    out["index_resync_compare_all"] = {"wall_s": time.perf_counter() - t}
                searches = [Search(q=q, topic=topic, area=area) for q, topic, area in SEARCHES]
                out["search_fn"] = dict(_time_runs(lambda s: _count(index.search(s)), searches, min_runs, budget),
                                        how="hubnet.crawler.store.index TextIndex.search(Search(q, topic, area)), "
                                            "including facet counts")
                cache = getattr(index, "_counts_cache", None)
                if cache is not None:   # counts kept per filter: what the first request of a filter costs

                    def cold(s):
                        cache.clear()
                        return _count(index.search(s))
                    out["search_fn_cold"] = dict(_time_runs(cold, searches, min_runs, budget),
                                                 how="as above, the filter's counts not cached yet")
                    out["search_words_fn_cold"] = dict(
                        _time_runs(cold, [Search(q=q) for q, _, _ in SEARCHES], min_runs, budget),
                        how="words only, the filter's counts not cached yet")
                words_only = [Search(q=q) for q, _, _ in SEARCHES]
                out["search_words_fn"] = dict(_time_runs(lambda s: _count(index.search(s)), words_only,
                                                         min_runs, budget),
                                              how="hubnet.crawler.store.index TextIndex.search(Search(q)) words only")
                key_of = getattr(idx_mod, "group_key", None)
                keys = [key_of(fed.iri(i)) if key_of else fed.iri(i) for i in picks]
                found = sum(1 for k in keys if index.get(k) is not None)
                if found == 0:
                    out["group_fn"] = _nm("hubnet.crawler.store.index TextIndex.get(key) found none of the benchmark's groups")
                else:
                    out["group_fn"] = dict(_time_runs(lambda k: _count(index.get(k)), keys, min_runs, budget),
                                           how="hubnet.crawler.store.index TextIndex.get(group_key(iri))", found=found)
                index.close()
            except Exception as exc:
                why = f"hubnet.crawler.store.index failed on the benchmark store ({_err_text(exc)})"
                for k in ("index_sync", "search_fn", "group_fn"):
                    out.setdefault(k, _nm(why))

    try:
        matching = importlib.import_module("hubnet.crawler.query.brokering.matching")
        Matcher = getattr(matching, "Matcher")
        assert callable(getattr(Matcher, "from_store", None)) and callable(getattr(Matcher, "matches_for", None))
    except (ImportError, AttributeError, AssertionError) as exc:
        out["matcher_build"] = out["matches_fn"] = _nm(f"brokering (hubnet.crawler.query.brokering.matching.Matcher) not built yet "
                                                       f"({_err_text(exc)})")
        return out
    try:
        t = time.perf_counter()
        m = Matcher.from_store(store)
        out["matcher_build"] = {"wall_s": time.perf_counter() - t, "offers": len(m.offers), "needs": len(m.needs)}
        today = "2026-01-01"
        needs = [n for n in m.needs if getattr(n, "category", None)][:200]
        if not needs:
            out["matches_fn"] = _nm("Matcher found no needs in the benchmark data")
        else:
            params = inspect.signature(m.matches_for).parameters
            kw = {"today": today} if "today" in params else {}
            out["matches_fn"] = dict(_time_runs(lambda n: len(m.matches_for(n, **kw)), needs, min_runs, budget),
                                     how="hubnet.crawler.query.brokering.matching Matcher.matches_for(need) on a built Matcher")
    except Exception as exc:
        out.setdefault("matcher_build", _nm(f"Matcher.from_store failed ({_err_text(exc)})"))
        out["matches_fn"] = _nm(f"Matcher failed on the benchmark store ({_err_text(exc)})")
    return out


def measure_routes(a: dict, fed: Federation, picks: list, min_runs: int, budget: float) -> dict:
    """Through Flask's test client, when hubnet.crawler.web.create_app exists. Call with the store closed."""
    import importlib
    import inspect

    try:
        web = importlib.import_module("hubnet.crawler.web")
        create_app = getattr(web, "create_app")
    except (ImportError, AttributeError) as exc:
        why = f"hubnet.crawler.web.create_app not built yet ({_err_text(exc)})"
        return {"app": _nm(why), "routes": []}
    from hubnet.crawler.store.graph import Store

    sig = inspect.signature(create_app)
    params = sig.parameters
    opened = None
    try:
        kw = {}
        if "store" in params:
            opened = Store(a["store"])
            kw["store"] = opened
        elif "store_path" in params:
            kw["store_path"] = a["store"]
        elif "config" in params or "test_config" in params:
            config = {"TESTING": True, "STORE": a["store"]}
            if "BACKGROUND" in getattr(web, "DEFAULTS", {}):
                config["BACKGROUND"] = False          # no crawler thread during the measurement
            kw["config" if "config" in params else "test_config"] = config
        elif params:
            first = next(iter(params.values()))
            if first.default is inspect.Parameter.empty:
                kw[first.name] = a["store"]
        t = time.perf_counter()
        app = create_app(**kw)
        create_s = time.perf_counter() - t
        app.config["TESTING"] = True
    except Exception as exc:
        return {"app": _nm(f"hubnet.crawler.web.create_app{sig} could not be called by the benchmark "
                           f"({_err_text(exc)})"), "routes": []}
    client = app.test_client()
    rules = sorted({r.rule for r in app.url_map.iter_rules()})
    out = {"app": {"create_s": create_s, "signature": str(sig)}, "routes": rules}
    from urllib.parse import quote, urlencode

    try:
        key_of = importlib.import_module("hubnet.crawler.store.index").group_key
    except (ImportError, AttributeError):
        key_of = None
    # /api/groups/<key>
    if any(r.startswith("/api/groups/<") for r in rules):
        forms = []
        for i in picks:
            cands = ([key_of(fed.iri(i))] if key_of else []) + [quote(fed.iri(i), safe=""), fed.host(i)]
            forms.append([f"/api/groups/{c}" for c in cands])
        out["api_group"] = _probe_get(client, forms, min_runs, budget, "/api/groups/<key>")
    else:
        out["api_group"] = _nm("/api/groups/<key> not built yet")
    # directory search over HTTP
    search_rule = next((r for r in ("/api/groups", "/api/search", "/search") if r in rules), None)
    if search_rule:
        forms = [[f"{search_rule}?{urlencode({'q': q, 'topic': t, 'area': ar})}"] for q, t, ar in SEARCHES]
        t = time.perf_counter()
        first = client.get(forms[0][0])
        out["app"]["first_answer_s"] = create_s + time.perf_counter() - t
        out["app"]["first_status"] = first.status_code
        out["app"]["rss_after_first_mb"] = _rss_now_mb()
        out["api_search"] = _probe_get(client, forms, min_runs, budget, search_rule)
    else:
        out["api_search"] = _nm("a directory search route (/api/groups?q=...) not built yet")
    # /api/matches
    if "/api/matches" in rules:
        forms = [[f"/api/matches?{urlencode({'group': fed.iri(i)})}"]
                 + ([f"/api/matches?{urlencode({'group': key_of(fed.iri(i))})}"] if key_of else [])
                 + ["/api/matches"] for i in picks]
        out["api_matches"] = _probe_get(client, forms, min_runs, budget, "/api/matches")
    else:
        out["api_matches"] = _nm("/api/matches (brokering) not built yet")
    if ABANDONED:   # a request is still running in its thread: leave the app alone, the process exits next
        return out
    closer = getattr(app, "extensions", {})
    for ext in list(closer.values()):
        close = getattr(ext, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                pass
    if opened is not None:
        opened.close()
    return out


ABANDONED: list = []      # requests left running in a thread because they did not finish in time


def _get_with_deadline(client, url: str, deadline: float):
    """(response, seconds), or (None, deadline) when the request is still running after ``deadline``."""
    import threading

    box: dict = {}

    def go():
        t = time.perf_counter()
        box["r"] = client.get(url)
        box["t"] = time.perf_counter() - t

    th = threading.Thread(target=go, daemon=True)
    th.start()
    th.join(deadline)
    if th.is_alive():
        ABANDONED.append(url)
        return None, deadline
    return box["r"], box["t"]


def _probe_get(client, forms_per_pick: list, min_runs: int, budget: float, label: str,
               deadline: float = 120.0, slow: float = 2.0) -> dict:
    """Find the URL form that answers 200 for the first pick, then time that form over all picks.

    A request still running after ``deadline`` seconds is abandoned and reported as not measured;
    one slower than ``slow`` seconds is reported once, not repeated 20 times.
    """
    tried = []
    for k, url in enumerate(forms_per_pick[0]):
        resp, took = _get_with_deadline(client, url, deadline)
        if resp is None:
            return _nm(f"{label}: one request ({url[:120]}) was still running after {deadline:g} s and was "
                       f"abandoned")
        tried.append(f"{url} -> {resp.status_code}")
        if resp.status_code == 200 and took > slow:
            # the first request may include a lazily built model; time a second one if it fits
            resp2, took2 = _get_with_deadline(client, url, deadline)
            if resp2 is None:
                return {"single_s": took, "first_only": True, "url_form": url, "how": f"GET {label}",
                        "note": f"the first request took {took:.1f} s; a second one was still running after "
                                f"{deadline:g} s and was abandoned"}
            return {"single_s": took2, "first_s": took, "url_form": url, "how": f"GET {label}",
                    "note": f"too slow to repeat 20 times: the first request took {took:.1f} s (it builds "
                            f"any cached model), the second {took2:.1f} s"}
        if resp.status_code == 200:
            texts = [forms[min(k, len(forms) - 1)] for forms in forms_per_pick]
            ok = {"n": 0}

            def run(u):
                r = client.get(u)
                ok["n"] += r.status_code == 200
                return len(r.data)

            res = _time_runs(run, texts, min_runs, budget)
            res.update(url_form=url, how=f"GET {label} through Flask's test client", ok_share=ok["n"] / (res["runs"] + 1))
            return res
    return _nm(f"{label} exists but no request form the benchmark knows answered 200 ({'; '.join(tried)[:400]})")


# --------------------------------------------------------------------------- brokering endpoints

def _load_corpus(store, corpus, limit=None) -> int:
    """The crawler's own write path (parse_source + Store.replace_source) from a corpus file."""
    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import OK, SourceRecord, now

    settings = Settings()
    n = 0
    for url, body in read_corpus(corpus, limit):
        p = parse_source(body, "application/ld+json", url, settings)
        stamp = now()
        store.replace_source(SourceRecord(url=url, graph=url, status=OK, found_via="load", first_seen=stamp,
                                          last_success=stamp, content_hash=p.content_hash), p.triples)
        n += 1
    store.flush()
    return n


def brokering_requests(fed: Federation, key_of, picks: list) -> dict:
    """name -> (description, [URLs]) for every brokering endpoint and page; URLs cycle over ``picks``."""
    from urllib.parse import urlencode

    def up(i, k):      # k steps up the member tree (group 0 is the root)
        for _ in range(k):
            i = max(0, (i - 1) // 4)
        return i

    key = lambda i: key_of(fed.iri(i))   # noqa: E731
    far = [(i * 7919 + 13) % fed.n for i in picks]     # a fixed, unrelated group for each pick
    topics = ["food bank", "youth club", "community garden", "tenant rights"]
    areas = ["Leyton ward", "Hackney Wick ward", "Croydon ward", "Brixton ward"]
    near = ["51.5600,-0.0100", "51.5430,-0.0250", "51.3760,-0.0980", "51.4610,-0.1150"]
    q = lambda path, **kw: f"{path}?{urlencode(kw)}"   # noqa: E731
    return {
        "contacts_topic_area": ("/api/contacts?topic=&area= (first points of contact for a topic in a ward)",
                                [q("/api/contacts", topic=t, area=a) for t, a in zip(topics, areas)]),
        "contacts_near": ("/api/contacts?topic=&near=&within_km=3 (ranked by distance)",
                          [q("/api/contacts", topic=t, near=n, within_km=3) for t, n in zip(topics, near)]),
        "contacts_csv": ("/api/contacts.csv?topic=&area= (the same as CSV)",
                         [q("/api/contacts.csv", topic=t, area=a) for t, a in zip(topics, areas)]),
        "matches_group": ("/api/matches?group= (one group's needs and the needs it can meet)",
                          [q("/api/matches", group=key(i)) for i in picks]),
        "matches_all": ("/api/matches (every current need with its offers)", ["/api/matches"]),
        "links": ("/api/links?mutual=false (claimed links, first page of 1,000)", ["/api/links?mutual=false"]),
        "introductions_near": ("/api/introductions?from=&to= (2-3 hops up the member tree)",
                               [q("/api/introductions", **{"from": key(i), "to": key(up(i, 2 + k % 2))})
                                for k, i in enumerate(picks)]),
        "introductions_far": ("/api/introductions?from=&to= (unrelated pairs: the full 4-hop search)",
                              [q("/api/introductions", **{"from": key(i), "to": key(j)}) for i, j in zip(picks, far)]),
        "network_ego": ("/api/network?group=&depth=2 (a group's ego network)",
                        [q("/api/network", group=key(i), depth=2) for i in picks]),
        "bridges": ("/api/network/bridges (articulation points)", ["/api/network/bridges"]),
        "isolated_area": ("/api/network/isolated?area= (groups with no links in a ward)",
                          [q("/api/network/isolated", area=a) for a in areas]),
        "page_contacts": ("/contacts?topic=&area= (page)", [q("/contacts", topic=t, area=a) for t, a in zip(topics, areas)]),
        "page_matches": ("/matches?group= (page)", [q("/matches", group=key(i)) for i in picks]),
        "page_introductions": ("/introductions?from=&to= (page)",
                               [q("/introductions", **{"from": key(i), "to": key(up(i, 3))}) for i in picks]),
        "page_network": ("/network?group= (page with the drawing)", [q("/network", group=key(i)) for i in picks]),
        "page_network_overview": ("/network (page: bridges and isolated groups)", ["/network"]),
    }


def task_brokering(a: dict) -> dict:
    """Every brokering endpoint through Flask's test client on an n-group on-disk store.

    Cold costs (the first request after a change builds the network and the matcher) are timed
    apart from the warm p50s, which are what a visitor sees between crawls.
    """
    from hubnet.crawler.query.brokering.models import Models
    from hubnet.crawler.store.index import group_key
    from hubnet.crawler.query.brokering.matching import Matcher
    from hubnet.crawler.query.brokering.network import Network
    from hubnet.crawler.store.graph import Store
    from hubnet.crawler.web import create_app

    n = a["n"]
    fed = Federation(n, port=80)
    out: dict = {"n": n}
    store = Store(a["store"])
    t = time.perf_counter()
    out["loaded"] = _load_corpus(store, a["corpus"])
    out["load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    net = Network.from_store(store)
    out["network_build_s"] = time.perf_counter() - t
    out["network"] = {"groups": len(net.groups), "links": len(net.all_links())}
    t = time.perf_counter()
    m = Matcher.from_store(store)
    out["matcher_build_s"] = time.perf_counter() - t
    out["matcher"] = {"offers": len(m.offers), "needs": len(m.needs)}
    net = m = None
    t = time.perf_counter()
    app = create_app({"STORE": store, "BACKGROUND": False, "TESTING": True})
    out["create_app_s"] = time.perf_counter() - t     # includes the text index's first sync
    client = app.test_client()
    rng = random.Random(11)
    picks = [rng.randrange(100, n) for _ in range(10)] if n > 200 else list(range(1, min(n, 11)))
    reqs = brokering_requests(fed, group_key, picks)
    # Cold: the first request of a model after a change, then the same request warm.
    cold = {}
    for name, url in (("network", "/api/network/bridges"), ("matcher", "/api/matches?group=" + group_key(fed.iri(picks[0])))):
        app.extensions["hubnet.brokering"].invalidate()
        t0 = time.perf_counter()
        r = client.get(url)
        cold[name] = {"url": url, "status": r.status_code, "first_s": time.perf_counter() - t0}
    out["cold"] = cold
    results = {}
    for name, (desc, urls) in reqs.items():
        statuses: dict = {}
        sizes = []

        def run(u):
            r = client.get(u)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            sizes.append(len(r.data))
            return len(r.data)

        # The first request may build a cached answer (the matcher's full list, the link list):
        # reported as first_s; the p50 is what every later visitor sees until the data changes.
        t0 = time.perf_counter()
        run(urls[0])
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        run(urls[0])
        second = time.perf_counter() - t0
        if second > 2.0:      # too slow to repeat 20 times: the second request is the figure
            res = {"single_s": second}
        else:
            res = _time_runs(run, urls, a.get("min_runs", 20), a.get("budget_s", 1.0))
        res["first_s"] = first
        res.update(desc=desc, statuses=statuses, mean_bytes=statistics.mean(sizes))
        results[name] = res
    out["results"] = results
    assert isinstance(app.extensions["hubnet.brokering"], Models)
    app.extensions["hubnet"].close()
    store.close()
    return out


def _sparql_get(port: int, source: str, query: str, timeout: float = 60.0) -> tuple[int, float]:
    """One GET /sparql from a chosen loopback source address (each address is a client): (status, seconds)."""
    import http.client
    from urllib.parse import urlencode

    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", "/sparql?" + urlencode({"query": query}))
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - t
    finally:
        conn.close()


def _p99(xs: list) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


def task_sparql_load(a: dict) -> dict:
    """Normal queries from ten clients, idle and while one client sends cross products (issue 12).

    The attacker keeps ``attackers`` cross products in flight as fast as its rate limit allows.
    Runs the app as ``serve`` does (waitress, the query pool, the default rate limits), once
    with the per-client budget at its defaults and once without it, for comparison.
    """
    import threading

    from hubnet.crawler.store.graph import Store
    from hubnet.crawler.web import create_app
    from hubnet.crawler.web.serve import make_server

    store = Store(a["store"])
    loaded = _load_corpus(store, a["corpus"])
    normal = ("PREFIX schema: <http://schema.org/> SELECT ?g ?name WHERE { ?g a schema:Organization ; "
              "schema:name ?name } LIMIT 20")
    slow = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
    victims = [f"127.0.0.{i}" for i in range(3, 13)]
    out: dict = {"groups": loaded, "timeout_s": a["timeout"], "samples": a["samples"]}

    def measure(attack: bool, port: int) -> dict:
        stop, attacks = threading.Event(), []

        def attacker():
            # As fast as the rate limit lets one client (SPARQL_LIMIT, 120 a minute: 2 a second over
            # all threads); a flood beyond it is the rate limiter's business, not this measurement's.
            while not stop.wait(a["attackers"] / 2.0):
                attacks.append(_sparql_get(port, "127.0.0.2", slow))

        threads = [threading.Thread(target=attacker) for _ in range(a["attackers"])] if attack else []
        for t in threads:
            t.start()
        time.sleep(1.0 if attack else 0)
        answers = []
        for i in range(a["samples"]):   # paced, so the phase lasts several query timeouts
            answers.append(_sparql_get(port, victims[i % len(victims)], normal))
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join(120)
        ok = [sec for status, sec in answers if status == 200]
        return {"statuses": dict(Counter(str(s) for s, _ in answers)),
                "p50_ms": statistics.median(ok) * 1000 if ok else None,
                "p99_ms": _p99(ok) * 1000 if ok else None,
                "attacker_statuses": dict(Counter(str(s) for s, _ in attacks)),
                "attacker_stop_max_s": max((sec for s, sec in attacks if s == 504), default=None)}

    for label, budget in (("limited", {}), ("unlimited", {"QUERY_CLIENT_RUNNING": None,
                                                          "QUERY_CLIENT_SECONDS": None})):
        app = create_app({"STORE": store, "BACKGROUND": False, "QUERY_TIMEOUT": a["timeout"], **budget})
        server = make_server(app, host="127.0.0.1", port=0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            port = server.effective_port
            for _ in range(10):   # warm the workers
                _sparql_get(port, victims[0], normal)
            app.extensions["hubnet.limiter"].reset()
            out[label] = {"idle": measure(False, port), "loaded": measure(True, port)}
        finally:
            server.close()
            app.extensions["hubnet"].close()
    store.close()
    return out


def task_areas(a: dict) -> dict:
    """Area roll-up search on a text index of ``n`` groups (bench/areas.py)."""
    from bench.areas import measure

    return measure(a["n"], a["runs"], small=a.get("small", False))


def task_index_sync(a: dict) -> dict:
    """The text-index sync that follows a crawl (``Aggregator.after_crawl``, as ``hubnet-crawler crawl``
    runs it), twice over a crawled store that has no index yet: the first builds it for every source
    (what a first crawl costs), the second finds nothing changed (what a no-change re-crawl costs)."""
    from hubnet.crawler.service import Aggregator
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import Store, now

    store = Store(a["store"])
    agg = Aggregator(store, Settings(geocoder="off"), own_store=True)
    runs = []
    try:
        for _ in range(2):
            cpu0, t0 = _cpu(), time.perf_counter()
            stats = agg.index.sync(store, crawled_at=now())   # Aggregator.refresh, minus what a CLI
            agg.apply_derived()                                  # crawl without imports leaves idle
            runs.append({"wall_s": time.perf_counter() - t0, "cpu_s": _cpu() - cpu0, "stats": stats})
    finally:
        agg.close()
    return {"runs": runs}


TASKS = {"crawl": task_crawl, "index_sync": task_index_sync, "floor": task_floor, "naive": task_naive, "ingest": task_ingest,
         "queries": task_queries, "brokering": task_brokering, "sparql_load": task_sparql_load,
         "areas": task_areas}


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    res = TASKS[name](args)
    sys.stdout.write("\n" + json.dumps(res, default=str) + "\n")
    sys.stdout.flush()
    if ABANDONED:   # a request thread is still busy: do not wait for it
        os._exit(0)


if __name__ == "__main__":
    main()
