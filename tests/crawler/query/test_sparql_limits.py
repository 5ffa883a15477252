"""The hard limits, on a live server: wall-clock kill (G5), row cap (G7), concurrency cap (G9),
checkpoint refresh, and the worker pool's own behaviour (replacement, isolation, start methods).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests

from hubnet.crawler.query.workers import QueryService, _isolate_network
from hubnet.crawler.store.graph import Store, load_file
from sparql_support import BETA, NETWORK, Canary, LiveServer, fill_store, make_app
from hubnet.vocab.errors import QueryError

pytestmark = pytest.mark.slow

FILLER = 3000
CROSS_4 = "SELECT (COUNT(*) AS ?n) { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
CROSS_2 = "SELECT (COUNT(*) AS ?n) { ?a ?b ?c . ?d ?e ?f }"
GRAPH_COUNT = "SELECT (COUNT(DISTINCT ?g) AS ?n) { GRAPH ?g { ?s ?p ?o } }"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return fill_store(tmp_path_factory.mktemp("limits"), filler=FILLER)


@pytest.fixture(scope="module")
def live(store):
    server = LiveServer(make_app(store, timeout=2.0, row_cap=5, workers=2, queue_wait=0.3))
    yield server
    server.close()


def wait_idle(service, n=2, within=15.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if service.stats()["idle"] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"pool not back to {n} idle workers: {service.stats()}")


def count(resp) -> int:
    assert resp.status_code == 200, resp.text
    return int(resp.json()["results"]["bindings"][0]["n"]["value"])


def test_the_cross_product_would_run_for_minutes_without_the_kill(store):
    """Calibrate: the 2-way product's rate on this store says the 4-way one needs far more than minutes.

    (Measured once by hand: even the 3-way product, ~3e10 rows, was still running after 60 s.)
    """
    triples = len(store.oxigraph)
    t0 = time.monotonic()
    n = int(next(iter(store.query(CROSS_2)))["n"].value)
    rate = n / (time.monotonic() - t0)
    assert n == triples ** 2
    assert triples ** 4 / rate > 600, f"the 4-way product would take only {triples ** 4 / rate:.0f} s"


def test_timeout_kills_the_worker_and_answers_504(live):
    """G5: stopped within timeout + 1 s, clear JSON error, the next query answered at once."""
    service = live.service
    wait_idle(service)
    pids_before = set(service.stats()["pids"])
    t0 = time.monotonic()
    resp = requests.get(live.url, params={"query": CROSS_4}, timeout=30)
    elapsed = time.monotonic() - t0
    assert resp.status_code == 504, resp.text
    assert resp.json() == {"ok": False, "error": {"status": 504, "code": "query_timeout",
                                                 "message": resp.json()["error"]["message"]}}
    assert "2 s" in resp.json()["error"]["message"]
    assert elapsed >= 2.0, elapsed

    resp = requests.get(live.url, params={"query": "ASK { ?s ?p ?o }"}, timeout=10)
    assert resp.status_code == 200 and resp.json()["boolean"] is True

    killed = pids_before - set(service.stats()["pids"])
    assert len(killed) == 1
    with pytest.raises(ProcessLookupError):   # SIGKILLed and reaped, not left running
        os.kill(killed.pop(), 0)
    wait_idle(service)                        # a replacement joined the pool
    assert len(service.stats()["pids"]) == 2 and service.stats()["timeouts"] >= 1


def test_row_cap_truncates_and_says_so(live):
    """G7 with a cap of 5."""
    resp = requests.get(live.url, params={"query": "SELECT * { ?s ?p ?o }"}, timeout=10)
    assert resp.status_code == 200
    assert len(resp.json()["results"]["bindings"]) == 5
    assert resp.headers["X-Hubnet-Truncated"] == "true" and resp.headers["X-Hubnet-Row-Cap"] == "5"
    assert "X-Hubnet-Truncated" in resp.headers["Access-Control-Expose-Headers"]

    resp = requests.get(live.url, params={"query": "SELECT * { ?s ?p ?o }"}, headers={"Accept": "text/csv"},
                        timeout=10)
    assert len(resp.text.strip().splitlines()) == 1 + 5 and resp.headers["X-Hubnet-Truncated"] == "true"

    resp = requests.get(live.url, params={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                        headers={"Accept": "application/n-triples"}, timeout=10)
    assert len(list(ox.parse(resp.content, format=ox.RdfFormat.N_TRIPLES))) == 5
    assert resp.headers["X-Hubnet-Truncated"] == "true"

    resp = requests.get(live.url, params={"query": "SELECT * { ?s ?p ?o } LIMIT 5"}, timeout=10)
    assert len(resp.json()["results"]["bindings"]) == 5 and "X-Hubnet-Truncated" not in resp.headers


def test_all_workers_busy_gives_503_with_retry_after(live):
    """G9: two slow queries hold both workers; a third is turned away after a short wait, not queued."""
    service = live.service
    wait_idle(service)
    slow = []
    threads = [threading.Thread(target=lambda: slow.append(requests.get(live.url, params={"query": CROSS_4},
                                                                        timeout=30)))
               for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while service.stats()["busy"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    resp = requests.get(live.url, params={"query": "ASK {}"}, timeout=10)
    # Turned away (a wait for a worker would have ended in 200 once the slow queries were killed).
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == "server_busy"
    assert int(resp.headers["Retry-After"]) >= 1
    for t in threads:
        t.join()
    assert [r.status_code for r in slow] == [504, 504]
    wait_idle(service)
    assert requests.get(live.url, params={"query": "ASK {}"}, timeout=10).json()["boolean"] is True


def test_a_worker_that_died_while_idle_is_replaced(live):
    service = live.service
    wait_idle(service)
    victim = service.stats()["pids"][0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.1)
    for _ in range(4):
        resp = requests.get(live.url, params={"query": "ASK { ?s ?p ?o }"}, timeout=10)
        assert resp.status_code == 200, resp.text
    wait_idle(service)
    assert victim not in service.stats()["pids"]


def test_a_query_that_needs_too_much_memory_kills_only_its_worker(store):
    """The address-space limit (RLIMIT_AS) makes the allocation fail; the worker dies, is replaced."""
    with QueryService(store, timeout=20, workers=1, memory_limit=1 << 30) as service:
        with pytest.raises(QueryError) as info:
            service.execute("SELECT ?a ?b ?c ?d ?e ?f { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c ?f LIMIT 1")
        assert (info.value.status, info.value.code) == (503, "query_failed")  # not query_timeout (20 s)
        assert service.execute("ASK { ?s ?p ?o }").body.endswith(b"true}")
        assert service.stats()["crashes"] == 1


# ---------------------------------------------------------------------- checkpoints
def test_refresh_makes_new_data_visible_and_running_queries_finish(tmp_path):
    store = fill_store(tmp_path, filler=FILLER)
    server = LiveServer(make_app(store, timeout=20.0, workers=2))
    try:
        service = server.service
        graphs_before = count(requests.get(server.url, params={"query": GRAPH_COUNT}, timeout=10))
        triples_before = len(store.oxigraph)
        first_checkpoint = service.checkpoint

        extra = tmp_path / "gamma.ttl"
        extra.write_text("<https://gamma.example.org/#group> a <http://schema.org/Organization> ; "
                         "<http://schema.org/name> \"Gamma Choir\" .\n", encoding="utf-8")
        load_file(store, extra, "https://gamma.example.org/")
        # Written to the live store, not yet in the checkpoint the workers read.
        assert count(requests.get(server.url, params={"query": GRAPH_COUNT}, timeout=10)) == graphs_before

        # A slow (about a second) query starts on the old checkpoint; refresh happens meanwhile.
        answers = []
        slow = threading.Thread(target=lambda: answers.append(
            requests.get(server.url, params={"query": CROSS_2}, timeout=30)))
        slow.start()
        time.sleep(0.3)
        assert service.stats()["busy"] == 1
        service.refresh()
        assert service.checkpoint != first_checkpoint
        assert Path(first_checkpoint).exists()          # still in use by the running query
        assert count(requests.get(server.url, params={"query": GRAPH_COUNT}, timeout=10)) == graphs_before + 1
        names = requests.get(server.url, params={"query": "ASK { ?g <http://schema.org/name> \"Gamma Choir\" }"},
                             timeout=10)
        assert names.json()["boolean"] is True
        slow.join()
        assert count(answers[0]) == triples_before ** 2  # completed, on the data it started with

        # Once no worker uses the old checkpoint, it is deleted.
        deadline = time.monotonic() + 5
        while Path(first_checkpoint).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(first_checkpoint).exists()
        assert [p.name for p in service.workdir.iterdir()] == [Path(service.checkpoint).name]

        # A graph named by the protocol must be in the *checkpoint*: known only after refresh.
        assert service.graph_exists("https://gamma.example.org/") and service.graph_exists(BETA)
    finally:
        server.close()
    assert not (tmp_path / "store" / "checkpoints").exists()


def test_checkpoints_are_hard_links(tmp_path):
    store = fill_store(tmp_path, filler=200)
    with QueryService(store, timeout=5, workers=1) as service:
        files = [p for p in Path(service.checkpoint).iterdir() if p.suffix == ".sst"]
        live = Path(store.path) / "oxigraph"
        # Each a link to a live file, unless a compaction (after the bulk loads that filled the
        # store) has since replaced that file: a copy would leave the live file there.
        assert files and all(p.stat().st_nlink >= 2 or not (live / p.name).exists() for p in files)
        assert any(p.stat().st_nlink >= 2 for p in files)


def test_in_memory_store_is_copied_into_a_temporary_checkpoint():
    store = Store(None)
    store.oxigraph.add(ox.Quad(ox.NamedNode("http://ex/s"), ox.NamedNode("http://ex/p"), ox.Literal("o"),
                               ox.NamedNode(NETWORK)))
    service = QueryService(store, timeout=5, workers=1)
    try:
        result = service.execute("SELECT ?o { ?s ?p ?o }")
        assert b'"value":"o"' in result.body and service.graph_exists(NETWORK)
        workdir = service.workdir
    finally:
        service.close()
    assert not workdir.exists()


def test_fork_start_method_is_refused(tmp_path):
    with pytest.raises(ValueError, match="forkserver"):
        QueryService(Store(tmp_path / "s"), start_method="fork")


def test_spawn_start_method_works_too(tmp_path):
    store = fill_store(tmp_path)
    with QueryService(store, timeout=20, workers=1, start_method="spawn") as service:
        assert service.execute("ASK { ?s ?p ?o }").body.endswith(b"true}")
        assert service.stats()["start_method"] == "spawn"


# ---------------------------------------------------------------------- defence in depth
def _try_to_connect(port, queue):
    isolated = _isolate_network()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        queue.put((isolated, "connected"))
    except OSError as exc:
        queue.put((isolated, type(exc).__name__))


def test_worker_network_namespace_has_no_way_out():
    """Where the kernel lets us, a worker cannot open a socket even if every check were bypassed."""
    canary = Canary()
    try:
        ctx = multiprocessing.get_context("forkserver")
        queue = ctx.Queue()
        proc = ctx.Process(target=_try_to_connect, args=(int(canary.url.rsplit(":", 1)[1].strip("/")), queue))
        proc.start()
        isolated, outcome = queue.get(timeout=20)
        proc.join(5)
        if not isolated:
            pytest.skip("no network namespaces here (not root, unprivileged user namespaces disabled)")
        assert outcome != "connected" and canary.hits == []
    finally:
        canary.close()


def test_retry_after_is_bounded():
    busy = QueryService.__new__(QueryService)
    busy.timeout, busy.size = 10.0, 2
    assert busy._busy().retry_after == math.ceil(10.0 / 2)
