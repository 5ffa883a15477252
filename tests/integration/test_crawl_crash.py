"""A crawler killed mid-crawl (SIGKILL) leaves a store that opens and holds only complete sources."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.store.graph import OK, PROV_GRAPH, Store
from hubnet.testing import Federation

N_SITES = 60

CHILD = textwrap.dedent("""
    import sys, time
    from hubnet.crawler.crawl.crawler import Crawler
    from hubnet.crawler.store.graph import Store
    from hubnet.testing import loopback_settings

    port, store_dir, seeds = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    hosts = [s.split("//")[1].split(":")[0] for s in seeds]

    class Slow(Crawler):
        def _write_hook(self):
            print("wrote", flush=True)
            time.sleep(0.02)  # widen the window so the kill lands mid-crawl

    settings = loopback_settings(port, hosts, concurrency=8)
    Slow(Store(store_dir), settings).crawl(seeds)
    print("finished", flush=True)
""")


@pytest.mark.slow
def test_kill_mid_crawl_leaves_only_complete_sources(tmp_path):
    fed = Federation()
    try:
        seeds = []
        for i in range(N_SITES):
            host = f"site{i}.test"
            fed.put_profile(host, f"Group {i}", path="/", knowsAbout=[f"topic {j}" for j in range(20)])
            seeds.append(fed.url(host, "/"))
        store_dir = tmp_path / "store"
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(fed.port), str(store_dir), *seeds],
                                stdout=subprocess.PIPE, text=True)
        writes = 0
        for line in proc.stdout:
            if line.startswith("wrote"):
                writes += 1
                if writes == 15:
                    proc.send_signal(signal.SIGKILL)
                    break
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
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
