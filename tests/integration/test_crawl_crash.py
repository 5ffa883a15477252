"""A crawler killed mid-crawl (SIGKILL) leaves a store that opens and holds only complete sources."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.store.graph import OK, PROV_GRAPH, Store
from hubnet.testing import Federation
from loop_helpers import kill_crawl_after, publish_sites

N_SITES = 60


@pytest.mark.slow
def test_kill_mid_crawl_leaves_only_complete_sources(tmp_path):
    fed = Federation()
    try:
        seeds = publish_sites(fed, N_SITES)
        store_dir = tmp_path / "store"
        # One transaction per source (the path every change takes); the bulk path is killed below.
        kill_crawl_after(fed, store_dir, seeds, 15)
    finally:
        fed.close()

    store = Store(store_dir)  # opens after the crash
    records = store.sources()
    assert 15 <= len(records) < N_SITES
    graphs = set(store.named_graphs()) - {PROV_GRAPH.value}
    for rec in records.values():
        assert rec.status == OK
        # each stored graph is exactly the version its provenance record describes
        assert content_hash(store.graph_triples(rec.graph)) == rec.content_hash
        assert len(store.graph_triples(rec.graph)) == rec.triples
    # no graph without its record
    assert graphs == {r.graph for r in records.values()}
    store.close()


BULK_CHILD = textwrap.dedent("""
    import sys, time
    from hubnet.crawler.crawl.crawler import Crawler
    from hubnet.crawler.store.graph import Store
    from hubnet.testing import loopback_settings

    port, store_dir, seeds = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    hosts = [s.split("//")[1].split(":")[0] for s in seeds]

    class Watched(Store):
        def _run_step(self, step):
            print("step", step[0], flush=True)   # the parent kills on one of these, up to 5 ms later
            time.sleep(0.005)
            super()._run_step(step)

    settings = loopback_settings(port, hosts, concurrency=8, bulk_batch=4, parse_workers=1)   # parser processes on
    Crawler(Watched(store_dir), settings).crawl(seeds)
    print("finished", flush=True)
""")

BULK_KILLS = 12


def _assert_whole(store_dir) -> dict:
    """The store opens (its recovery sweep runs), and every source in it is whole."""
    store = Store(store_dir)
    try:
        assert not (store_dir / "bulk-pending.json").exists()
        records = store.sources()
        for rec in records.values():
            assert rec.status == OK
            assert content_hash(store.graph_triples(rec.graph)) == rec.content_hash
            assert len(store.graph_triples(rec.graph)) == rec.triples
        assert set(store.named_graphs()) - {PROV_GRAPH.value} == {r.graph for r in records.values()}
        return records
    finally:
        store.close()


@pytest.mark.slow
def test_kills_during_bulk_writes_leave_only_whole_sources_and_the_crawl_converges(tmp_path):
    """SIGKILL lands, BULK_KILLS times, on a step of a bulk batch (before or during the bulk load of
    its graphs and records, before or after its commit) of first crawls resuming on one store; every time the store opens
    with whole sources only, and a crawl to the end then holds every site."""
    import random

    rng = random.Random(20261206)
    fed = Federation()
    try:
        seeds = []
        for i in range(N_SITES):
            host = f"bulk{i}.test"
            fed.put_profile(host, f"Group {i}", path="/", knowsAbout=[f"topic {j}" for j in range(20)])
            seeds.append(fed.url(host, "/"))
        store_dir = tmp_path / "store"
        kinds_killed = set()
        for _ in range(BULK_KILLS):
            proc = subprocess.Popen([sys.executable, "-c", BULK_CHILD, str(fed.port), str(store_dir), *seeds],
                                    stdout=subprocess.PIPE, text=True)
            target = rng.randrange(1, 12)
            steps = 0
            for line in proc.stdout:
                if line.startswith("step"):
                    steps += 1
                    if steps == target:
                        time.sleep(rng.random() * 0.005)
                        proc.send_signal(signal.SIGKILL)
                        kinds_killed.add(line.split()[1])
                        break
            proc.stdout.close()
            proc.wait(timeout=60)
            _assert_whole(store_dir)
        assert kinds_killed >= {"quads", "commit"}   # the kills did land inside batches
        proc = subprocess.run([sys.executable, "-c", BULK_CHILD, str(fed.port), str(store_dir), *seeds],
                              capture_output=True, text=True, timeout=120)
        assert "finished" in proc.stdout, proc.stderr
    finally:
        fed.close()
    assert len(_assert_whole(store_dir)) == N_SITES
