"""``python -m bench``: run the benchmarks, write results.md (and results.json beside it).

Every figure is a ratio against a baseline measured in the same run, on the
same machine, against the same server: see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.federation import Federation
from bench.server import free_port, start_server

FLOOR_BATCH = 500   # documents per bulk_extend of issue 18's bulk-loader floor

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("crawl", "recrawl", "ingest", "queries", "search", "areas", "brokering", "polite", "sparql_load")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_task(task: str, args: dict, timeout: float = 3600) -> dict:
    cmd = [sys.executable, "-m", "bench.tasks", task, json.dumps(args)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"bench task {task} failed ({p.returncode}):\n{p.stderr[-4000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- environment

def machine() -> dict:
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "cpu_model": model,
            "ram_gib": round(mem, 1) if mem else None, "kernel": platform.release(),
            "os": _os_name()}


def _os_name() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("pyoxigraph", "rdflib", "aiohttp", "requests", "flask"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


# --------------------------------------------------------------------------- helpers

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rng(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


def row(metric, value, unit="", note="", *, not_measured=None, range_=None) -> dict:
    r = {"metric": metric, "value": value, "unit": unit, "note": note}
    if range_ is not None and range_[0] is not None:
        r["range"] = list(range_)
    if value is None:
        r["not_measured"] = not_measured or "not measured"
    return r


def nm_row(metric, why) -> dict:
    why = why if why.startswith("not measured") else f"not measured: {why}"
    return {"metric": metric, "value": None, "unit": "", "note": "", "not_measured": why}


def target(name, goal, value, reached, note="", unit="") -> dict:
    return {"target": name, "goal": goal, "value": value, "unit": unit, "reached": reached, "note": note}


# --------------------------------------------------------------------------- the run

class Bench:
    def __init__(self, args):
        self.a = args
        self.quick = args.quick
        self.n = args.n or (500 if args.quick else 10_000)
        self.ingest_n = args.ingest_n or (2_000 if args.quick else 100_000)
        self.brokering_n = args.brokering_n or (500 if args.quick else 10_000)
        self.reps = args.reps or (1 if args.quick else 3)
        # The load section runs for about a minute by design (several query timeouts per phase):
        # a quick run (the test suite's smoke run) leaves it out unless asked for by name.
        default = [s for s in SECTIONS if not (args.quick and s == "sparql_load")]
        self.only = [s.strip() for s in (args.only or ",".join(default)).split(",") if s.strip()]
        bad = [s for s in self.only if s not in SECTIONS]
        if bad:
            raise SystemExit(f"--only: unknown section(s) {bad}; choose from {', '.join(SECTIONS)}")
        self.out = Path(args.out)
        self.work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="hubnet-bench-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.results: dict = {"sections": {}, "targets": [], "profiles": {}, "notes": []}
        self.server = None
        self.crawl_ref = None      # first crawl numbers for the re-crawl ratio

    # ------------------------------------------------------------------ setup
    def setup_federation(self):
        self.port = free_port()
        self.fed = Federation(self.n, port=self.port)
        self.shared_hosts, self.shared_n = (4, 8) if self.quick else (10, 200)
        self.shared = Federation(self.shared_n, port=self.port, hosts=self.shared_hosts)
        sites = self.work / "sites"
        if sites.exists():
            shutil.rmtree(sites)
        t = time.perf_counter()
        size = self.fed.write(sites)
        self.shared.write(sites)
        self.depth = self.fed.depth_from_seed()
        sizes = [len(self.fed.body(i)) for i in range(min(self.n, 2000))]
        self.results["federation"] = {
            "groups": self.n, "hosts": self.n, "port": self.port, "bytes": size,
            "mean_bytes": round(size / self.n), "min_bytes_first2000": min(sizes),
            "max_bytes_first2000": max(sizes), "depth_from_seed": self.depth,
            "links": round(sum(len(self.fed.links(i)) for i in range(self.n)) / self.n, 2),
            "write_s": round(time.perf_counter() - t, 2),
        }
        log(f"federation: {self.n} groups, mean {size / self.n:.0f} B, depth {self.depth}, port {self.port}")

    def start_server(self):
        self.server = start_server(self.work / "sites", self.work / "server", port=self.port, prefer=self.a.server)
        self.results["server"] = {"kind": self.server.kind, "version": getattr(self.server, "version", "")}
        log(f"server: {self.server.kind} on 127.0.0.1:{self.port}")

    def crawl_args(self, store=None, **settings) -> dict:
        base = dict(per_host_delay=0.0, concurrency=32, obey_robots=True,
                    max_depth=max(5, self.depth), max_sources=max(10_000, self.n + 10))
        base.update(settings)
        args = dict(n=self.n, port=self.port, server_pid=self.server.pid, settings=base)
        if store is not None:
            args["store"] = str(store)
        return args

    # ------------------------------------------------------------------ crawl
    def run_crawl(self):
        floors, crawls = [], []
        for k in range(self.reps):
            log(f"crawl rep {k + 1}/{self.reps}: fetch-only floor")
            floors.append(run_task("floor", self.crawl_args()))
            store = self.work / f"crawl-store-{k}"
            shutil.rmtree(store, ignore_errors=True)
            log(f"crawl rep {k + 1}/{self.reps}: first crawl")
            crawls.append(run_task("crawl", self.crawl_args(store)))
            if k < self.reps - 1:
                shutil.rmtree(store, ignore_errors=True)
        self.crawl_store = self.work / f"crawl-store-{self.reps - 1}"
        log("crawl: naive stack (requests + rdflib)")
        naive = run_task("naive", dict(n=self.n, port=self.port, server_pid=self.server.pid,
                                       budget_s=self.a.naive_budget, max_docs=self.n))
        self.crawl_ref = crawls
        # The editor's rules (SHACL) on each new profile (issue 14) cost more than the rest of the
        # pipeline: one crawl without them shows what the crawl is apart from that check.
        nc_store = self.work / "crawl-store-nochecks"
        shutil.rmtree(nc_store, ignore_errors=True)
        log("crawl: diagnostic, profile checks off")
        nochecks = run_task("crawl", self.crawl_args(nc_store, check_profiles=False))
        shutil.rmtree(nc_store, ignore_errors=True)
        n = self.n
        c_rate = [c["profiles"] / c["wall_s"] for c in crawls]
        f_rate = [f["profiles"] / f["wall_s"] for f in floors]
        pair_floor = [c / f for c, f in zip(c_rate, f_rate)]
        n_rate = naive["profiles"] / naive["wall_s"] if naive["profiles"] else None
        rows = [
            row("first crawl: profiles/s", med(c_rate), "profiles/s",
                f"median of {len(crawls)} runs; {n} groups on {n} hosts; on-disk store", range_=rng(c_rate)),
            row("first crawl: wall time", med([c["wall_s"] for c in crawls]), "s", range_=rng([c["wall_s"] for c in crawls])),
            row("first crawl: crawler CPU", med([c["cpu_s"] for c in crawls]), "CPU s",
                "process user+sys (event loop + pipeline thread)", range_=rng([c["cpu_s"] for c in crawls])),
            row("first crawl: server CPU", med([c["server_cpu_s"] for c in crawls]), "CPU s", self.server.kind),
            row("first crawl: CPU per profile (crawler + server)",
                med([(c["cpu_s"] + (c["server_cpu_s"] or 0)) / max(1, c["profiles"]) * 1000 for c in crawls]), "ms"),
            row("first crawl: profiles stored", med([c["counts"]["new"] for c in crawls]), "profiles",
                f"failures: {crawls[-1]['counts']['failed']} {crawls[-1]['failed_by_reason'] or ''}".strip()),
            row("first crawl: requests (profiles + robots.txt)", med([c["requests"].get("requests") for c in crawls]),
                "requests"),
            row("first crawl: peak RSS", med([c["peak_rss_mb"] for c in crawls]), "MB"),
            row("first crawl: peak open file descriptors", max(c["peak_open_fds"] for c in crawls), "fds",
                "sockets in use and idle keep-alive ones (sampled every 50 ms)"),
            row("fetch-only floor: profiles/s", med(f_rate), "profiles/s",
                "the crawler's Fetcher, same URLs, same settings (robots.txt too), 32 at once, nothing else",
                range_=rng(f_rate)),
            row("fetch-only floor: client CPU", med([f["cpu_s"] for f in floors]), "CPU s"),
            row("fetch-only floor: server CPU", med([f["server_cpu_s"] for f in floors]), "CPU s"),
            row("fetch-only floor: peak open file descriptors", max(f["peak_open_fds"] for f in floors), "fds"),
            row("naive stack: profiles/s", n_rate, "profiles/s",
                f"sequential requests.get + rdflib JSON-LD + rdflib Dataset; measured on the first "
                f"{naive['profiles']:,} profiles in {naive['wall_s']:.1f} s (budget {self.a.naive_budget:g} s, "
                f"stopped by {naive['stopped_by']}), rate extrapolated to {n:,} linearly; each document parsed "
                f"into its own Graph, links read there, then added to the Dataset; no robots.txt"),
            row("naive stack: extrapolated time for all groups", n / n_rate if n_rate else None, "s",
                "extrapolated, not measured"),
            row("naive stack: CPU per profile", naive["cpu_s"] / max(1, naive["profiles"]) * 1000, "ms"),
            row("ratio: first crawl / fetch-only floor", med(pair_floor) * 100, "%",
                "median of per-run ratios", range_=tuple(x * 100 for x in rng(pair_floor))),
            row("ratio: first crawl / naive stack", med(c_rate) / n_rate if n_rate else None, "x"),
        ]
        nc_rate = nochecks["profiles"] / nochecks["wall_s"]
        nc_note = "one run, `check_profiles=False` (no `vocab.validate` of each new profile), otherwise the same crawl"
        rows += [
            row("diagnostic, profile checks off: profiles/s", nc_rate, "profiles/s",
                f"{nc_note}; {nochecks['counts']['new']:,} stored in {nochecks['wall_s']:.1f} s"),
            row("diagnostic, profile checks off: crawler CPU per profile",
                nochecks["cpu_s"] / max(1, nochecks["profiles"]) * 1000, "ms"),
            row("diagnostic, profile checks off: / fetch-only floor", nc_rate / med(f_rate) * 100, "%",
                "against the median floor of this run"),
            row("diagnostic, profile checks off: / naive stack", nc_rate / n_rate if n_rate else None, "x"),
        ]
        if not self.quick and self.n > 1500:
            cap = min(self.n, 3000)
            store = self.work / "crawl-store-nofile"
            shutil.rmtree(store, ignore_errors=True)
            log(f"crawl: diagnostic under ulimit -n 1024, {cap} sources")
            lim = run_task("crawl", dict(self.crawl_args(store, max_sources=cap), nofile=1024))
            shutil.rmtree(store, ignore_errors=True)
            rows += [
                row("diagnostic, soft limit of 1,024 open files: sources lost", lim["counts"]["failed"], "sources",
                    f"first {cap:,} sources with `ulimit -n 1024` (a common default; the runs above raise the "
                    f"soft limit to the hard one); failures by reason: {lim['failed_by_reason']}"),
                row("diagnostic, soft limit of 1,024 open files: wall time", lim["wall_s"], "s",
                    f"{lim['counts']['new']:,} stored; peak open fds {lim['peak_open_fds']}"),
            ]
        self.results["sections"]["crawl"] = {
            "title": f"First crawl of {n:,} groups on {n:,} distinct hosts",
            "rows": rows, "raw": {"crawls": crawls, "floors": floors, "naive": naive, "nochecks": nochecks},
            "settings": crawls[-1]["settings"],
        }
        r_floor, r_naive = med(pair_floor), (med(c_rate) / n_rate if n_rate else None)
        nc_naive = f"{nc_rate / n_rate:.2f}x" if n_rate else "—"
        self.results["targets"] += [
            target("crawl vs fetch-only floor", ">= 50 %", r_floor * 100, r_floor >= 0.5,
                   f"with the profile checks off: {nc_rate / med(f_rate) * 100:.1f} %", unit="%"),
            target("crawl vs naive stack", ">= 10x", r_naive, (r_naive or 0) >= 10,
                   f"with the profile checks off: {nc_naive}", unit="x"),
        ]
        self.crawl_missed = r_floor < 0.5 or (r_naive or 0) < 10

    # ------------------------------------------------------------------ re-crawl
    def run_recrawl(self):
        if self.crawl_ref is None:
            store = self.work / "crawl-store-setup"
            shutil.rmtree(store, ignore_errors=True)
            log("re-crawl: setup first crawl")
            self.crawl_ref = [run_task("crawl", self.crawl_args(store))]
            self.crawl_store = store
        recs, server_counts = [], []
        for k in range(self.reps):
            log(f"re-crawl rep {k + 1}/{self.reps}")
            before = self.server.status_counts()
            recs.append(run_task("crawl", self.crawl_args(self.crawl_store)))
            after = self.server.status_counts()
            server_counts.append({s: after.get(s, 0) - before.get(s, 0) for s in set(after) | set(before)})
        log("re-crawl with the robots cache of the crawl before (as `serve` re-crawls)")
        warm = run_task("crawl", dict(self.crawl_args(self.crawl_store), warm_robots=True))
        first_wall = med([c["wall_s"] for c in self.crawl_ref])
        share = [r["status"].get("304", 0) / max(1, sum(r["status"].values())) for r in recs]
        # the server sees robots.txt requests too: share among profile requests = 304 / (304 + 200)
        srv_share = [sc.get("304", 0) / max(1, sc.get("304", 0) + sc.get("200", 0)) for sc in server_counts]
        rel = [r["wall_s"] / first_wall for r in recs]
        writes = [r["writes"] for r in recs]
        rows = [
            row("re-crawl: 304 share (crawler's view)", med(share) * 100, "%",
                "final status of each profile fetch, counted in the Fetcher"),
            row("re-crawl: 304 share (server's log)", med(srv_share) * 100, "%",
                f"304 / (304 + 200) in the {self.server.kind} log; robots.txt 404s: "
                f"{server_counts[-1].get('404', 0)}"),
            row("re-crawl: store writes", max(writes), "writes", "Summary.writes, max over runs"),
            row("re-crawl: wall time", med([r["wall_s"] for r in recs]), "s", range_=rng([r["wall_s"] for r in recs])),
            row("re-crawl: time / first crawl", med(rel) * 100, "%", f"first crawl {first_wall:.2f} s (median)",
                range_=tuple(x * 100 for x in rng(rel))),
            row("re-crawl: crawler CPU", med([r["cpu_s"] for r in recs]), "CPU s"),
            row("re-crawl: requests", med([r["requests"].get("requests") for r in recs]), "requests",
                "one robots.txt per host (a new crawl starts with an empty robots cache) + one conditional GET"),
            row("re-crawl: unchanged sources", med([r["counts"]["unchanged"] for r in recs]), "sources"),
            row("re-crawl, robots cache kept (as `serve` re-crawls): wall time", warm["wall_s"], "s",
                f"{warm['requests'].get('requests')} requests, {warm['writes']} writes; one run"),
            row("re-crawl, robots cache kept: time / first crawl", warm["wall_s"] / first_wall * 100, "%",
                "the robots.txt answers of the crawl before are still fresh (robots_cache_ttl 24 h)"),
        ]
        log("text index: the sync after the first crawl, then after a no-change re-crawl")
        idx = run_task("index_sync", dict(store=str(self.crawl_store)))
        built, idle = idx["runs"]
        rows += [
            row("text index sync after the first crawl", built["wall_s"], "s",
                f"`Aggregator.after_crawl`'s sync, as `hubnet-crawler crawl` runs it after the crawl (not in the "
                f"crawl's time above): a new index, {built['stats']['changed']:,} sources indexed, "
                f"{built['cpu_s']:.1f} CPU s"),
            row("text index sync after a no-change re-crawl", idle["wall_s"] * 1000, "ms",
                f"the same sync again: {idle['stats']['changed']:,} sources changed, "
                f"{idle['stats']['removed']:,} removed (the change journal names none)"),
        ]
        self.results["sections"]["recrawl"] = {"title": "Re-crawl with nothing changed", "rows": rows,
                                               "raw": {"recrawls": recs, "server_counts": server_counts,
                                                                        "warm_robots": warm, "index_sync": idx}}
        self.results["targets"] += [
            target("re-crawl 304 share", ">= 95 %", med(share) * 100, med(share) >= 0.95, unit="%"),
            target("re-crawl store writes", "0", max(writes), max(writes) == 0),
            target("re-crawl time vs first crawl", "<= 25 %", med(rel) * 100, med(rel) <= 0.25,
                   "a new process: every robots.txt asked again (`hubnet-crawler crawl` run again)", unit="%"),
            target("re-crawl time vs first crawl, robots cache kept", "<= 25 %", warm["wall_s"] / first_wall * 100,
                   warm["wall_s"] / first_wall <= 0.25, "as `hubnet-crawler serve --recrawl-interval` re-crawls",
                   unit="%"),
        ]
        self.recrawl_missed = med(rel) > 0.25

    # ------------------------------------------------------------------ ingest
    def run_ingest(self):
        self.corpus = self.work / f"corpus-{self.ingest_n}.tsv"
        log(f"ingest: writing {self.ingest_n} profiles to {self.corpus.name}")
        sys.path.insert(0, str(ROOT))
        from bench.tasks import write_corpus

        corpus_info = write_corpus(self.corpus, self.ingest_n)
        self.ingest_store = self.work / "ingest-store"
        shutil.rmtree(self.ingest_store, ignore_errors=True)
        floor_store = self.work / "ingest-floor"
        shutil.rmtree(floor_store, ignore_errors=True)
        from hubnet.crawler.store.graph import Store

        # The floor in batches of 500 (issue 18's measure) and of the store's own size, the faster
        # of the two counting: neither size is favoured against the store's path.
        floors = {}
        for size in sorted({FLOOR_BATCH, Store.BULK_BATCH}):
            log(f"ingest: bulk-loader floor, {self.ingest_n} profiles (parse_source + bulk_extend per {size})")
            floors[size] = run_task("ingest", dict(corpus=str(self.corpus), n=self.ingest_n, store=str(floor_store),
                                                   budget_s=self.a.ingest_budget, mode="floor", batch=size))
            shutil.rmtree(floor_store, ignore_errors=True)
        floor_batch = max(floors, key=lambda size: floors[size]["docs"] / floors[size]["wall_s"])
        fl = floors[floor_batch]
        log(f"ingest: {self.ingest_n} profiles into an on-disk store")
        r = run_task("ingest", dict(corpus=str(self.corpus), n=self.ingest_n, store=str(self.ingest_store),
                                    budget_s=self.a.ingest_budget))
        tx_n = min(self.ingest_n, 10_000)
        tx_store = self.work / "ingest-transaction"
        shutil.rmtree(tx_store, ignore_errors=True)
        log(f"ingest: {tx_n} profiles, one transaction per source (the path of changes)")
        tx = run_task("ingest", dict(corpus=str(self.corpus), n=tx_n, store=str(tx_store),
                                     budget_s=self.a.ingest_budget, mode="transaction"))
        shutil.rmtree(tx_store, ignore_errors=True)
        rate = r["docs"] / r["wall_s"]
        floor_rate = fl["docs"] / fl["wall_s"]
        tx_rate = tx["docs"] / tx["wall_s"]
        mb = 1024 * 1024
        rows = [
            row("ingest: docs/s", rate, "docs/s", f"{r['docs']:,} profiles, parse_source + Store.stage_new_source "
                f"(bulk batches of Store.bulk_batch, graphs and records in one bulk load, committed by "
                f"removing the batch's note) from a file"
                f"{' (stopped by the time budget)' if r['partial'] else ''}"),
            row("bulk-loader floor: docs/s", floor_rate, "docs/s", f"{fl['docs']:,} profiles, parse_source + "
                f"pyoxigraph bulk_extend of the graphs per {floor_batch:,}, no records, no crash safety; same corpus, "
                "same run; the faster of " + " and ".join(
                    f"per {size:,}: {f['docs'] / f['wall_s']:,.0f} docs/s" for size, f in floors.items())),
            row("ratio: ingest / bulk-loader floor", 100 * rate / floor_rate, "%", "wall clock"),
            row("ratio: ingest / bulk-loader floor, by CPU", 100 * fl["cpu_s"] / fl["docs"] / (r["cpu_s"] / r["docs"]),
                "%", f"CPU per document: floor {fl['cpu_s'] / fl['docs'] * 1000:.2f} ms, ingest "
                f"{r['cpu_s'] / r['docs'] * 1000:.2f} ms (steadier than wall clock on a shared machine)"),
            row("transaction per source: docs/s", tx_rate, "docs/s", f"first {tx['docs']:,} profiles, parse_source + "
                "Store.replace_source (the path every change takes; the ingest path before issue 18)"),
            row("ratio: ingest / transaction per source", rate / tx_rate, "x"),
            row("ingest: wall time", r["wall_s"], "s"),
            *self._ingest_trend(r),
            row("ingest: parse per doc", r["parse_s"] / r["docs"] * 1000, "ms", "parse_source"),
            row("ingest: store write per doc", r["write_s"] / r["docs"] * 1000, "ms", "Store.stage_new_source"),
            row("bulk-loader floor: store write per doc", fl["write_s"] / fl["docs"] * 1000, "ms", "bulk_extend"),
            row("bulk-loader floor: peak RSS", fl["peak_rss_mb"], "MB"),
            row("bulk-loader floor: on disk after close", fl["du_closed_bytes"] / mb, "MB"),
            row("ingest: CPU", r["cpu_s"], "CPU s"),
            row("ingest: peak RSS", r["peak_rss_mb"], "MB", "ru_maxrss of the ingest process"),
            row("ingest: store on disk while open", r["du_open_bytes"] / mb, "MB", "du, RocksDB WAL included"),
            row("ingest: store on disk after close", r["du_closed_bytes"] / mb, "MB"),
            row("ingest: triples stored", r["triples"], "triples"),
            row("ingest: mean document size", corpus_info["mean_bytes"], "bytes",
                f"{corpus_info['min_bytes']}-{corpus_info['max_bytes']} B"),
        ]
        self.results["sections"]["ingest"] = {"title": f"Ingest of {self.ingest_n:,} profiles (no HTTP)",
                                              "rows": rows, "raw": r, "floor": fl, "floor_batch": floor_batch,
                                              "floors": {str(k): v for k, v in floors.items()}, "transaction": tx,
                                              "corpus": corpus_info}
        self.ingest_raw = r
        full = self.ingest_n >= 100_000 and not r["partial"]
        scale = "" if full else f"judged at {r['docs']:,} docs; the target is stated for 100,000"
        peak_du = max(r["du_open_bytes"], r["du_closed_bytes"]) / (1024 ** 3)
        self.results["targets"] += [
            target("ingest rate", ">= 1,500 docs/s", rate, rate >= 1500, unit="docs/s"),
            target("ingest vs bulk-loader floor", ">= 85 %", 100 * rate / floor_rate, rate >= 0.85 * floor_rate,
                   scale, unit="%"),
            target("peak RSS at 100k", "<= 1 GB", r["peak_rss_mb"], r["peak_rss_mb"] <= 1024 if full else None,
                   scale, unit="MB"),
            target("store on disk at 100k", "<= 1.5 GB", peak_du * 1024, peak_du <= 1.5 if full else None,
                   (scale + "; " if scale else "") + "largest of open / closed / reopened", unit="MB"),
        ]
        self.ingest_missed = rate < 1500

    @staticmethod
    def _ingest_trend(r) -> list:
        cp = r.get("checkpoints") or []
        if len(cp) < 2:
            return []
        first = cp[0]["docs"] / cp[0]["elapsed_s"]
        last = (cp[-1]["docs"] - cp[-2]["docs"]) / (cp[-1]["elapsed_s"] - cp[-2]["elapsed_s"])
        return [row("ingest: docs/s over the first 10,000", first, "docs/s"),
                row(f"ingest: docs/s over the last 10,000 (to {cp[-1]['docs']:,})", last, "docs/s",
                    "the store slows as it grows")]

    # ------------------------------------------------------------------ queries
    def run_queries(self):
        subset = min(self.ingest_n, 10_000)
        log(f"queries: {self.ingest_n} groups in Oxigraph; {subset} in Oxigraph and rdflib")
        r = run_task("queries", dict(store=str(self.ingest_store), corpus=str(self.corpus), n=self.ingest_n,
                                     subset=subset, subset_store=str(self.work / "subset-store"),
                                     min_runs=20, budget_s=2.0 if not self.quick else 0.1))
        res = r["results"]
        rows = []
        for name in ("topic_bbox", "two_hop", "count_per_topic", "one_group"):
            full, sub, rdf = res[f"oxigraph_full/{name}"], res[f"oxigraph_subset/{name}"], res[f"rdflib_subset/{name}"]
            extra = ""
            if name == "topic_bbox":
                per = ", ".join(f"{n:,} rows {t:.1f} ms" for n, t in zip(full["rows_per_text"], full["p50_per_text_ms"]))
                extra = f"; p50 per topic: {per}"
            rows.append(row(f"{name}: Oxigraph at {self.ingest_n:,}, p50", full["p50_ms"], "ms",
                            f"{full['desc']}; {full['runs']} runs, p95 {full['p95_ms']:.2f} ms, "
                            f"rows {full['rows_mean']:.0f} on average{extra}"))
            if subset < self.ingest_n:
                rows.append(row(f"{name}: Oxigraph at {subset:,}, p50", sub["p50_ms"], "ms",
                                f"{sub['runs']} runs, p95 {sub['p95_ms']:.2f} ms, rows {sub['rows_mean']:.0f}"))
            same = sub["rows_per_text"] == rdf["rows_per_text"]
            if not same:
                self.results["notes"].append(f"{name}: rdflib and Oxigraph returned different row counts on the "
                                             f"same {subset:,} groups ({rdf['rows_per_text']} vs "
                                             f"{sub['rows_per_text']})")
            rows.append(row(f"{name}: rdflib Dataset at {subset:,}, p50", rdf["p50_ms"], "ms",
                            f"{rdf['runs']} runs, p95 {rdf['p95_ms']:.2f} ms, rows {rdf['rows_mean']:.0f}"
                            f"{' (same row counts as Oxigraph)' if same else ' (ROW COUNTS DIFFER from Oxigraph)'}"))
            rows.append(row(f"{name}: rdflib / Oxigraph at {subset:,}", rdf["p50_ms"] / max(sub["p50_ms"], 1e-9), "x"))
        why = (f"rdflib holds only the first {subset:,} groups, not {self.ingest_n:,}: at ~2 ms/doc and "
               f"~85 KB/profile (shared/research/perf-detail.md) 100k would take minutes and ~8 GB"
               if subset < self.ingest_n else "the same groups as the Oxigraph store")
        rows.append(row(f"rdflib Dataset load of {r['rdflib_loaded']:,} profiles", r["rdflib_load_s"], "s",
                        f"peak RSS grew {r['rdflib_rss_growth_mb']:.0f} MB; {why}"))
        if subset < self.ingest_n:
            rows.append(row(f"Oxigraph on-disk load of the same {subset:,} profiles", r.get("subset_oxigraph_load_s"),
                            "s", "parse_source + Store.replace_source"))
        rows.append(row("store on disk after reopen", r["du_reopened_bytes"] / (1024 * 1024), "MB",
                        "du after the store is opened again (RocksDB replays and drops the WAL)"))
        self.results["sections"]["queries"] = {"title": f"Queries at {self.ingest_n:,} groups", "rows": rows,
                                               "raw": r}
        # endpoints
        f, rt = r["functions"], r["routes"]
        erows = []

        def add(metric, m, via):
            if m is None:
                return
            if "not_measured" in m:
                erows.append(nm_row(metric, m["not_measured"]))
            elif "p50_ms" in m:
                erows.append(row(metric + ", p50", m["p50_ms"], "ms",
                                 f"{via}: {m.get('how', '')}; {m['runs']} runs, p95 {m['p95_ms']:.2f} ms"))
            elif "single_s" in m:
                erows.append(row(metric + ", one request", m["single_s"], "s", f"{via}: {m['how']}; {m['note']}"))
            elif "wall_s" in m:
                erows.append(row(metric, m["wall_s"], "s", via))

        routes_ok = "not_measured" not in rt.get("app", {})
        add("directory search by words + topic + area (HTTP)", rt.get("api_search"), "route")
        add("directory search by words + topic + area (function)", f.get("search_fn"), "underlying function")
        add("directory search by words only (function)", f.get("search_words_fn"), "underlying function")
        add("directory search by words + topic + area, counts not cached (function)", f.get("search_fn_cold"),
            "underlying function")
        add("directory search by words only, counts not cached (function)", f.get("search_words_fn_cold"),
            "underlying function")
        add(f"text index sync of {self.ingest_n:,} groups (from empty)", f.get("index_sync"), "hubnet.crawler.store.index sync(store)")
        add("text index sync, nothing changed", f.get("index_resync_unchanged"),
            "hubnet.crawler.store.index sync(store): reads the store's change journal since the last sync")
        add("text index sync, nothing changed, comparing every source", f.get("index_resync_compare_all"),
            "sync(store) after the index lost its place in the journal (a new or renewed journal)")
        app_m = rt.get("app", {})
        if "first_answer_s" in app_m:
            erows.append(row("server start: create_app", app_m["create_s"], "s",
                             "the store and the index already in step (the sync above): the start-up sync compares "
                             "only what the store's change journal names"))
            erows.append(row("server start: time to first answer", app_m["first_answer_s"], "s",
                             f"create_app + the first directory search (HTTP {app_m['first_status']})"))
            erows.append(row("server: RSS after the first answer", app_m["rss_after_first_mb"], "MB",
                             "resident memory of the process holding the store, the index and the app"))
        add("/api/groups/<key> (HTTP)", rt.get("api_group"), "route")
        add("single group from the index (function)", f.get("group_fn"), "underlying function")
        add("/api/matches (HTTP)", rt.get("api_matches"), "route")
        add("matcher build (function)", f.get("matcher_build"), "hubnet.crawler.query.brokering.matching Matcher.from_store(store)")
        add("matches for one need (function)", f.get("matches_fn"), "underlying function")
        mb, mf = f.get("matcher_build") or {}, f.get("matches_fn") or {}
        if "needs" in mb and "p50_ms" in mf:
            erows.append(row("matches for every need (estimate)", mb["needs"] * mf["p50_ms"] / 1000, "s",
                             f"estimate, not measured: {mb['needs']:,} needs x p50 of matches_for: the "
                             f"first /api/matches without group= after a change computes every need's "
                             f"matches (kept until the next change); with group= only that group's"))
        if not routes_ok:
            erows.append(nm_row("HTTP routes", rt["app"]["not_measured"]))
        self.results["sections"]["endpoints"] = {"title": f"The aggregator's own endpoints at {self.ingest_n:,} groups",
                                                 "rows": erows, "raw": {"functions": f, "routes": rt}}
        full = self.ingest_n >= 100_000
        scale = "" if full else f"judged at {self.ingest_n:,} groups; the target is stated for 100,000"

        def pick(*ms):
            for label, m in ms:
                if m and "p50_ms" in m:
                    return label, m
            return None, None

        if "first_answer_s" in app_m:
            self.results["targets"].append(target("server ready at 100k", "<= 5 s", app_m["first_answer_s"],
                                                  app_m["first_answer_s"] <= 5 if full else None,
                                                  "create_app to the first search answered" + (f"; {scale}" if scale else ""),
                                                  unit="s"))
        label, m = pick(("HTTP route /api/groups/<key>", rt.get("api_group")),
                        ("underlying function (index lookup), route not built yet", f.get("group_fn")))
        sparql_one = res["oxigraph_full/one_group"]["p50_ms"]
        if m:
            self.results["targets"].append(target("single-group lookup p50 at 100k", "<= 10 ms", m["p50_ms"],
                                                  m["p50_ms"] <= 10 if full else None,
                                                  f"measured on the {label}; the SPARQL graph of one group takes "
                                                  f"{sparql_one:.2f} ms" + (f"; {scale}" if scale else ""), unit="ms"))
        else:
            self.results["targets"].append(target("single-group lookup p50 at 100k", "<= 10 ms", None, None,
                                                  (rt.get("api_group") or rt.get("app") or {}).get(
                                                      "not_measured", "not measured: /api/groups/<key> not built yet")
                                                  + f"; the SPARQL graph of one group takes {sparql_one:.2f} ms"))

    # ------------------------------------------------------------------ search
    def run_search(self):
        """`bench.search` over the ingest section's store: the directory search targets."""
        from bench.search import section

        log(f"search: TextIndex.search over {self.ingest_n} groups (bench.search)")
        cmd = [sys.executable, "-m", "bench.search", "--store", str(self.ingest_store), "--n", str(self.ingest_n),
               "--runs", str(8 if self.quick else 20)]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"bench.search failed ({p.returncode}):\n{p.stderr[-4000:]}")
        sec, targets = section(json.loads(p.stdout))
        self.results["sections"]["search"] = sec
        self.results["targets"] += targets

    # ------------------------------------------------------------------ brokering
    def run_brokering(self):
        n = self.brokering_n
        corpus = self.work / f"corpus-{n}.tsv"
        sys.path.insert(0, str(ROOT))
        from bench.tasks import write_corpus

        write_corpus(corpus, n)
        store = self.work / "brokering-store"
        shutil.rmtree(store, ignore_errors=True)
        log(f"brokering: {n} groups into an on-disk store, then every brokering endpoint")
        r = run_task("brokering", dict(n=n, corpus=str(corpus), store=str(store), min_runs=20,
                                       budget_s=0.1 if self.quick else 1.0))
        rows = [
            row("store: groups loaded", r["loaded"], "groups", f"parse_source + Store.replace_source in "
                f"{r['load_s']:.1f} s; {r['network']['links']:,} links, {r['matcher']['offers']:,} offers, "
                f"{r['matcher']['needs']:,} needs"),
            row("cold: network build (Network.from_store)", r["network_build_s"] * 1000, "ms",
                "once per change in the store, on the first brokering request after it"),
            row("cold: matcher build (Matcher.from_store)", r["matcher_build_s"] * 1000, "ms", "likewise"),
            row("cold: first /api/network/bridges after a change", r["cold"]["network"]["first_s"] * 1000, "ms",
                "network build + articulation points"),
            row("cold: first /api/matches?group= after a change", r["cold"]["matcher"]["first_s"] * 1000, "ms",
                "matcher build + that group's matches"),
        ]
        worst = (None, -1.0)
        for name, m in r["results"].items():
            ok = set(m["statuses"]) == {"200"}
            status = "" if ok else f"; STATUSES {m['statuses']}"
            if "p50_ms" in m:
                rows.append(row(f"{m['desc']}, p50", m["p50_ms"], "ms",
                                f"{m['runs']} runs, p95 {m['p95_ms']:.2f} ms, {m['mean_bytes'] / 1024:.1f} KB per "
                                f"answer; first request {m['first_s'] * 1000:.0f} ms{status}"))
                value = m["p50_ms"]
            else:
                rows.append(row(f"{m['desc']}, one request", m["single_s"] * 1000, "ms",
                                f"too slow to repeat; first request {m['first_s'] * 1000:.0f} ms{status}"))
                value = m["single_s"] * 1000
            if value > worst[1] and ok:
                worst = (m["desc"], value)
            if not ok:
                self.results["notes"].append(f"brokering: {m['desc']} answered {m['statuses']}")
        self.results["sections"]["brokering"] = {
            "title": f"Brokering endpoints at {n:,} groups", "rows": rows, "raw": r}
        full = n >= 10_000
        self.results["targets"].append(target(
            "every brokering endpoint p50 at 10k", "<= 100 ms", worst[1], worst[1] <= 100 if full else None,
            f"slowest: {worst[0]}; cold builds reported apart in the brokering section"
            + ("" if full else f"; judged at {n:,} groups, the target is stated for 10,000"), unit="ms"))

    # ------------------------------------------------------------------ area roll-up search
    def run_areas(self):
        """``area=<region>`` (what ``/api/groups?area=`` runs: ``TextIndex.search``) at the ingest size, as a
        ratio against a ``topic=`` filter of similar size in the same run (bench/areas.py)."""
        n = self.ingest_n
        log(f"areas: {n} groups over England-like areas, then area= searches at every level")
        r = run_task("areas", dict(n=n, runs=5 if self.quick else 7, small=self.quick))
        cases = {c["key"]: c for c in r["cases"]}
        base = cases["baseline_topic"]
        how = f"TextIndex.search, what /api/groups runs; median of {r['runs']} runs"
        rows = [row("index: groups written (as sync writes them, with memberships)", r["n"], "groups",
                    f"in {r['write_s']:.1f} s, over 9 regions and {r['wards']:,} wards; areas and boundaries "
                    f"loaded, memberships recomputed in {r['load_s']:.1f} s")]
        for c in r["cases"]:
            rows.append(row(f"{c['label']}, median", c["median_ms"], "ms", f"{c['total']:,} groups found; {how}"))
        for key in ("region_name", "region_kind", "region_words", "borough_name"):
            c = cases[key]
            rows.append(row(f"ratio: {c['label'].split(' (')[0]} / topic=food", c["median_ms"] / base["median_ms"],
                            "×", f"{c['total']:,} vs {base['total']:,} groups found"))
        self.results["sections"]["areas"] = {"title": f"Area roll-up search at {n:,} groups", "rows": rows, "raw": r}

    # ------------------------------------------------------------------ SPARQL under a hostile client
    def run_sparql_load(self):
        n = 300 if self.quick else 2000
        corpus = self.work / f"corpus-{n}.tsv"
        sys.path.insert(0, str(ROOT))
        from bench.tasks import write_corpus

        write_corpus(corpus, n)
        store = self.work / "sparql-load-store"
        shutil.rmtree(store, ignore_errors=True)
        timeout = 2.0
        log(f"sparql_load: normal queries from 10 clients, idle and while one client sends cross products")
        r = run_task("sparql_load", dict(corpus=str(corpus), store=str(store), timeout=timeout, attackers=4,
                                         samples=100 if self.quick else 300))
        rows, ratios = [], {}
        for label, title in (("limited", "per-client budget (defaults)"), ("unlimited", "no per-client budget")):
            idle, loaded = r[label]["idle"], r[label]["loaded"]
            ratio = loaded["p99_ms"] / idle["p99_ms"] if loaded["p99_ms"] and idle["p99_ms"] else None
            ratios[label] = ratio
            rows.append(row(f"{title}: normal query p99 under attack / idle p99",
                            ratio if ratio is not None else float("nan"), "x",
                            f"idle p99 {idle['p99_ms']:.1f} ms, loaded p99 "
                            f"{loaded['p99_ms'] or float('nan'):.1f} ms; victims' statuses {loaded['statuses']}; "
                            f"attacker's statuses {loaded['attacker_statuses']}"))
            stop = loaded["attacker_stop_max_s"]
            rows.append(row(f"{title}: slowest stop of a pathological query", stop if stop else float("nan"), "s",
                            f"timeout {timeout:g} s; the target is timeout + 1 s"))
        self.results["sections"]["sparql_load"] = {
            "title": f"SPARQL under one client's pathological queries ({r['groups']:,} groups, 2 workers)",
            "rows": rows, "raw": r}
        limited = r["limited"]["loaded"]
        self.results["targets"].append(target(
            "normal SPARQL p99 under one hostile client", "<= 2x idle p99", ratios["limited"],
            ratios["limited"] is not None and ratios["limited"] <= 2.0
            and "503" not in limited["statuses"], f"victims' statuses {limited['statuses']}", unit="x"))
        stop = limited["attacker_stop_max_s"]
        self.results["targets"].append(target(
            "a pathological query is stopped", f"<= timeout + 1 s ({timeout + 1:g} s)", stop,
            None if stop is None else stop <= timeout + 1, unit="s"))

    # ------------------------------------------------------------------ politeness
    def run_polite(self):
        cap = 16 if self.quick else min(self.n, 1000)
        log(f"polite: default settings, first {cap} of the distinct-host federation")
        store = self.work / "polite-store"
        shutil.rmtree(store, ignore_errors=True)
        # Default Settings except what loopback needs (allow_private, resolve) and the source cap.
        a = dict(n=self.n, port=self.port, server_pid=self.server.pid, store=str(store),
                 settings=dict(max_depth=max(5, self.depth), max_sources=cap))
        d = run_task("crawl", a)
        shutil.rmtree(store, ignore_errors=True)
        log(f"polite: {self.shared_n} profiles on {self.shared_hosts} hosts")
        b = dict(n=self.shared_n, port=self.port, hosts=self.shared_hosts, server_pid=self.server.pid,
                 store=str(store), settings=dict(max_depth=64))
        s = run_task("crawl", b)
        shutil.rmtree(store, ignore_errors=True)
        from hubnet.crawler.settings import Settings

        dflt = Settings()
        delay, conc = dflt.per_host_delay, dflt.concurrency
        d_rate = d["counts"]["new"] / d["wall_s"]
        s_rate = s["counts"]["new"] / s["wall_s"]
        first_rate = (med([c["profiles"] / c["wall_s"] for c in self.crawl_ref]) if self.crawl_ref else None)
        s_expect = self.shared_hosts / delay
        # each distinct host costs robots.txt, then `delay`, then the profile; `concurrency` workers in parallel
        d_expect = conc / delay
        rows = [
            row("polite, distinct hosts: profiles/s", d_rate, "profiles/s",
                f"default Settings (per-host delay {delay:g} s, concurrency {conc}, robots.txt obeyed); "
                f"crawl capped at {cap} sources to bound its time; {d['counts']['new']} stored in {d['wall_s']:.1f} s"),
            row("polite, distinct hosts: vs first crawl (delay 0)", d_rate / first_rate * 100 if first_rate else None,
                "%", "with every host distinct one could expect ~100 %"),
            row("polite, distinct hosts: bound from concurrency / delay", d_expect, "profiles/s",
                "each worker holds one host: robots.txt, then the per-host delay, then the profile"),
            row(f"polite, {self.shared_n} profiles on {self.shared_hosts} hosts: profiles/s", s_rate, "profiles/s",
                f"{s['counts']['new']} stored in {s['wall_s']:.1f} s"),
            row(f"polite, {self.shared_hosts} hosts: expected hosts / delay", s_expect, "profiles/s"),
            row(f"polite, {self.shared_hosts} hosts: measured / expected", s_rate / s_expect * 100, "%",
                "below 100 %: the first request to each host is robots.txt, which also waits its turn"),
        ]
        self.results["sections"]["polite"] = {"title": "Politeness: default per-host delay", "rows": rows,
                                              "raw": {"distinct": d, "shared": s}}

    # ------------------------------------------------------------------ profiles
    def run_profiles(self):
        if "crawl" in self.only and getattr(self, "crawl_missed", False):
            cap = 100 if self.quick else min(self.n, 3000)
            store = self.work / "profile-store"
            shutil.rmtree(store, ignore_errors=True)
            for key, extra, label in (("crawl", {}, ""),
                                      ("crawl_nochecks", {"check_profiles": False}, ", profile checks off")):
                log(f"profile: crawl of {cap} sources under cProfile{label}")
                p = run_task("crawl", dict(self.crawl_args(store, max_sources=cap, **extra), profile=True))
                shutil.rmtree(store, ignore_errors=True)
                self.results["profiles"][key] = {
                    "sources": p["counts"]["new"], "wall_s": p["wall_s"], "cpu_s": p["cpu_s"], "label": label,
                    "pipeline_busy_s": p["pipeline_busy_s"], "pipeline_calls": p["pipeline_calls"],
                    "event_loop_tottime": p["profile_event_loop"], "pipeline_tottime": p["profile_pipeline"],
                    "pipeline_cumulative": p["profile_pipeline_cum"], "pipeline_shares": p["pipeline_shares"],
                    "pipeline_profiled_s": p["pipeline_profiled_s"], "loop_shares": p["loop_shares"]}
        if "recrawl" in self.only and getattr(self, "recrawl_missed", False):
            log("profile: re-crawl under cProfile")
            p = run_task("crawl", dict(self.crawl_args(self.crawl_store), profile=True))
            self.results["profiles"]["recrawl"] = {
                "sources": sum(p["counts"].values()), "wall_s": p["wall_s"], "cpu_s": p["cpu_s"],
                "pipeline_busy_s": p["pipeline_busy_s"], "pipeline_calls": p["pipeline_calls"],
                "event_loop_tottime": p["profile_event_loop"], "pipeline_tottime": p["profile_pipeline"],
                "pipeline_cumulative": p["profile_pipeline_cum"]}
        if "ingest" in self.only and getattr(self, "ingest_missed", False):
            k = 300 if self.quick else min(self.ingest_n, 5000)
            store = self.work / "profile-ingest"
            shutil.rmtree(store, ignore_errors=True)
            log(f"profile: ingest of {k} under cProfile")
            p = run_task("ingest", dict(corpus=str(self.corpus), n=k, store=str(store), profile=True))
            shutil.rmtree(store, ignore_errors=True)
            self.results["profiles"]["ingest"] = {"docs": p["docs"], "wall_s": p["wall_s"],
                                                  "parse_s": p["parse_s"], "write_s": p["write_s"],
                                                  "tottime": p["profile"], "cumulative": p["profile_cum"]}

    # ------------------------------------------------------------------ main
    def run(self) -> dict:
        t0 = time.time()
        self.results["meta"] = {
            "machine": machine(), "versions": versions(), "command": self.command(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "quick": self.quick, "n": self.n,
            "ingest_n": self.ingest_n, "reps": self.reps, "only": self.only, "load": [os.getloadavg()[0]],
        }
        need_http = any(s in self.only for s in ("crawl", "recrawl", "polite"))
        try:
            if need_http:
                self.setup_federation()
                self.start_server()
            if "crawl" in self.only:
                self.guard("crawl", self.run_crawl)
            if "recrawl" in self.only:
                self.guard("recrawl", self.run_recrawl)
            if "polite" in self.only:
                self.guard("polite", self.run_polite)
            if {"ingest", "queries", "search"} & set(self.only):
                ok = self.guard("ingest", self.run_ingest)
                if "ingest" not in self.only and not self.a.update:   # an update does not take its section
                    self.results["notes"].append("the ingest section ran as setup for the queries and the search")
                if "queries" in self.only:
                    if ok:
                        self.guard("queries", self.run_queries, also=("endpoints",))
                    else:
                        for k in ("queries", "endpoints"):
                            self.results["sections"][k] = {"title": k, "rows": [
                                nm_row(k, "not measured: the ingest it needs failed")]}
                if "search" in self.only:   # after the queries: they time the index sync from empty
                    if ok:
                        self.guard("search", self.run_search)
                    else:
                        self.results["sections"]["search"] = {"title": "search", "rows": [
                            nm_row("search", "not measured: the ingest it needs failed")]}
            if "areas" in self.only:
                self.guard("areas", self.run_areas)
            if "brokering" in self.only:
                self.guard("brokering", self.run_brokering)
            if "sparql_load" in self.only:
                self.guard("sparql_load", self.run_sparql_load)
            self.guard("profiles", self.run_profiles)
        finally:
            if self.server is not None:
                self.server.stop()
            if not self.a.keep:
                shutil.rmtree(self.work, ignore_errors=True)
        self.results["meta"]["elapsed_s"] = round(time.time() - t0, 1)
        self.results["meta"]["load"].append(os.getloadavg()[0])
        self.results["meta"]["server"] = self.results.get("server")
        return self.results

    def guard(self, name, fn, also=()) -> bool:
        """Run one section; a failure becomes a "not measured" row instead of losing the whole run."""
        before = len(self.results["targets"])
        try:
            fn()
            return True
        except Exception as exc:  # reported in results.md, with the error
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            log(f"{name} failed: {first}")
            for k in (name, *also):
                if k in SECTIONS or k == "endpoints":
                    self.results["sections"].setdefault(k, {"title": k, "rows": []})
                    self.results["sections"][k]["rows"].append(
                        nm_row(f"{k} (section failed)", f"not measured: the {name} run failed: {first}"))
            self.results["notes"].append(f"the {name} run failed: {str(exc)[-1500:]}")
            return False
        finally:
            for t in self.results["targets"][before:]:
                t.setdefault("section", name)

    def command(self) -> str:
        return "python -m bench " + " ".join(shlex.quote(x) for x in sys.argv[1:])


PROFILED = {"crawl": "crawl", "crawl_nochecks": "crawl", "recrawl": "recrawl", "ingest": "ingest"}   # profile: section


def merge_into(old: dict, new: dict) -> dict:
    """``old`` with the sections (and their targets) that ``new`` ran replaced; said so in the meta.

    Everything else in ``old`` is kept as it was, targets in their places (a re-measured target
    where it stood, a new one at the end), so results.md changes only where ``new`` measured.
    """
    ran = set(new["meta"]["only"]) | ({"endpoints"} if "queries" in new["meta"]["only"] else set())
    for name in ran:
        if name in new["sections"]:
            old["sections"][name] = new["sections"][name]
    fresh = {t["target"]: t for t in new["targets"] if t.get("section") in ran}
    kept = []
    for t in old["targets"]:
        if t["target"] in fresh:
            kept.append(fresh.pop(t["target"]))
        elif t.get("section") not in ran:
            kept.append(t)
    old["targets"] = kept + list(fresh.values())
    old["notes"] = old.get("notes", []) + new.get("notes", [])
    # a profile belongs to the section that ran it: one from an older run of a section run now is
    # stale, and one of a section that ran only as setup (the ingest for the queries) is not taken
    profiles = old.setdefault("profiles", {})
    for key, section in PROFILED.items():
        if section in ran:
            profiles.pop(key, None)
            if key in (new.get("profiles") or {}):
                profiles[key] = new["profiles"][key]
    old["meta"].setdefault("updates", []).append(
        {"sections": sorted(ran & set(new["sections"])), "command": new["meta"]["command"],
         "started": new["meta"]["started"], "elapsed_s": new["meta"]["elapsed_s"], "load": new["meta"].get("load")})
    return old


def write_results(out: Path, results: dict, update: bool) -> dict:
    """results.json and results.md at ``out`` (``--update``: merged into the results already there).

    results.md is made from results.json and the hand-written notes in ``notes/`` beside it
    (bench/report.py, ``load_notes``).
    """
    from bench.report import load_notes, write_report

    out = Path(out)
    if update:
        require_results(out)
        results = merge_into(json.loads(out.with_suffix(".json").read_text()), results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    out.write_text(write_report(results, load_notes(out.parent / "notes")))
    return results


def add_record_options(parser, what: str) -> None:
    """The tools' ``--update`` and ``--out`` (bench.search, bench.memory, bench.parse_crawl): ``what``
    says which section(s) ``record`` writes."""
    parser.add_argument("--update", action="store_true",
                        help=f"record the figures as {what} of the results (bench/results.json and .md)")
    parser.add_argument("--out", type=Path, default=HERE / "results.md",
                        help="the results file --update writes")


def require_results(out) -> None:
    """``--update`` needs the results it updates: said before a measurement starts, not after it."""
    if not Path(out).with_suffix(".json").exists():
        raise SystemExit(f"--update: {Path(out).with_suffix('.json')} does not exist (run without --update first)")


def started() -> dict:
    """When and under what load a tool's measurement began: ``record``'s ``start``."""
    return {"time": time.time(), "load": os.getloadavg()[0]}


def record(out: Path, sections: dict, targets: list, command: str, start: dict) -> None:
    """The tools' ``--update`` (bench.search, bench.memory, bench.parse_crawl): replace ``sections``
    and their ``targets`` in the results at ``out``, as ``python -m bench --only ... --update`` does,
    and leave the rest of results.md as it was.
    """
    for t in targets:
        t.setdefault("section", next(iter(sections)))
    results = {"sections": sections, "targets": targets, "profiles": {}, "notes": [],
               "meta": {"machine": machine(), "versions": versions(), "command": command,
                        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(start["time"])),
                        "quick": False, "only": list(sections), "elapsed_s": round(time.time() - start["time"], 1),
                        "load": [start["load"], os.getloadavg()[0]]}}
    write_results(out, results, update=True)
    log(f"wrote {out} and {Path(out).with_suffix('.json')}: {', '.join(sections)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, help="groups in the crawled federation (default 10,000; quick 500)")
    ap.add_argument("--ingest-n", type=int, help="profiles ingested and queried (default 100,000; quick 2,000)")
    ap.add_argument("--brokering-n", type=int, help="groups behind the brokering endpoints (default 10,000; quick 500)")
    ap.add_argument("--quick", action="store_true", help="small smoke-test sizes (the test suite uses this)")
    ap.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    ap.add_argument("--out", default=str(HERE / "results.md"), help="results file (JSON written beside it)")
    ap.add_argument("--reps", type=int, help="repetitions of the crawl / floor / re-crawl (default 3; quick 1)")
    ap.add_argument("--server", choices=("auto", "nginx", "python"), default="auto",
                    help="static server: nginx when installed (auto), or the Python fallback")
    ap.add_argument("--naive-budget", type=float, default=None, help="seconds for the naive stack (60; quick 2)")
    ap.add_argument("--ingest-budget", type=float, default=900.0, help="seconds before the ingest stops")
    ap.add_argument("--workdir", help="scratch directory (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--update", action="store_true",
                    help="replace only the sections run now in the existing results (with --only)")
    args = ap.parse_args(argv)
    if args.naive_budget is None:
        args.naive_budget = 2.0 if args.quick else 60.0
    out = Path(args.out)
    if args.update:
        require_results(out)
    if args.only and not args.update and out.resolve() == (HERE / "results.md").resolve():
        raise SystemExit("--only without --update would replace bench/results.md with those sections alone: "
                         "add --update to replace only them, or --out FILE to write them elsewhere")
    bench = Bench(args)
    write_results(out, bench.run(), args.update)
    log(f"wrote {out} and {out.with_suffix('.json')} in {bench.results['meta']['elapsed_s']} s")
    return 0
