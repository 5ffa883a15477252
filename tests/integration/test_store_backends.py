"""The aggregator on either store (embedded Oxigraph, or Virtuoso through --store sparql+http://...):
a real crawl over loopback and a re-crawl with changes, the directory search, the API and /sparql with
its guard; on Virtuoso also two front ends over one store, and a crawl killed mid-way."""

from __future__ import annotations

import csv
import io

import requests

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.store.graph import GONE, OK, PROV_GRAPH
from hubnet.crawler.store.remote import open_store
from hubnet.testing import Federation

from loop_helpers import cli_env, free_ports, kill_crawl_after, publish_sites, run, start, stop, wait_for
from server_helpers import crawler_command

HOSTS = [f"g{i}.test" for i in range(5)]
NAMES_QUERY = ("SELECT ?name WHERE { ?g a <http://schema.org/Organization> ; <http://schema.org/name> ?name } "
               "ORDER BY ?name")


def publish(fed, version: int) -> list:
    """Five groups on their own sites, each naming its version; group 0 links to the others."""
    for i, host in enumerate(HOSTS):
        extra = {"knowsAbout": [f"topic {i}", "gardens" if i % 2 else "youth"]}
        if i == 0:
            extra["member"] = [{"@id": f"http://{h}:{fed.port}/#group"} for h in HOSTS[1:]]
        fed.put_profile(host, f"Group {i} v{version}", path="/", **extra)
    return [fed.url(HOSTS[0], "/")]


def search(client, text: str) -> list:
    resp = client.get("/api/groups", query_string={"q": text, "limit": 100})
    assert resp.status_code == 200, resp.data
    return sorted(g["name"] for g in resp.get_json()["groups"])


def sparql_names(client) -> list:
    resp = client.post("/sparql", data={"query": NAMES_QUERY}, headers={"Accept": "application/sparql-results+json"})
    assert resp.status_code == 200, resp.data
    return [b["name"]["value"] for b in resp.get_json()["results"]["bindings"]]


def check_exports_and_brokering(client) -> None:
    """Exports, dumps and the network views read the same four live groups on either store."""
    live = [f"Group {i} v2" for i in range(4)]
    rows = list(csv.DictReader(io.StringIO(client.get("/export.csv").get_data(as_text=True))))
    assert sorted(r["name"] for r in rows) == live, rows
    dump = client.get("/dump.nq").get_data(as_text=True)
    assert all(f'"{name}"' in dump for name in live) and "Group 4" not in dump
    services = client.get("/export/openreferral.json").get_json()
    assert sorted(s["name"] for s in services["contents"]) == live, services
    isolated = client.get("/api/network/isolated").get_json()["isolated"]
    # Group 0 names the others as members, which none confirms: each is isolated, with group 0's claim.
    assert sorted(g["name"] for g in isolated) == live
    group0 = next(g["id"] for g in isolated if g["name"] == live[0])
    about = {c["about"] for g in isolated for c in g["claims"] if c["claimed_by"] == group0}
    claimed = sorted(g["name"] for g in isolated if g["id"] in about)
    assert claimed == live[1:], isolated


def sent_to_store(store, calls: list):
    """Record every request the remote store sends (nothing to record on the embedded one)."""
    client = getattr(store, "client", None)
    if client is not None:
        real = client.post
        client.post = lambda url, data, *a, **kw: (calls.append(data), real(url, data, *a, **kw))[1]


def test_crawl_recrawl_search_and_sparql_on_each_backend(store_backend):
    from hubnet.crawler.web import create_app

    fed = Federation()
    store = open_store(store_backend)
    try:
        settings = fed.settings(*HOSTS)
        seeds = publish(fed, 1)
        Crawler(store, settings).crawl(seeds)
        app = create_app({"STORE": store, "CRAWL_SETTINGS": settings, "QUERY_WORKERS": 1, "TESTING": True,
                          "BACKGROUND": False})
        client, hub = app.test_client(), app.extensions["hubnet"]
        try:
            assert search(client, "Group") == [f"Group {i} v1" for i in range(5)]
            assert search(client, "gardens") == ["Group 1 v1", "Group 3 v1"]
            # A re-crawl: four groups changed, one withdrawn (410).
            publish(fed, 2)
            fed.put(HOSTS[4], "/", b"gone", content_type="text/plain", status=410)
            Crawler(store, settings).crawl(seeds)
            hub.after_crawl()
            assert hub.wait_refreshed()
            assert search(client, "Group") == [f"Group {i} v2" for i in range(4)]
            assert sparql_names(client) == [f"Group {i} v2" for i in range(4)]
            records = {r.url: r for r in store.sources().values()}
            assert records[fed.url(HOSTS[4], "/")].status == GONE
            for rec in records.values():
                if rec.status == OK:   # each stored graph is the version its record describes
                    assert content_hash(store.graph_triples(rec.graph)) == rec.content_hash
            assert client.get(f"/api/groups/{client.get('/api/groups').get_json()['groups'][0]['key']}").status_code == 200
            check_exports_and_brokering(client)
            # The guard: SERVICE and updates are refused before anything reaches the store.
            calls: list = []
            sent_to_store(store, calls)
            for text, code in [("SELECT * WHERE { SERVICE <http://evil.test/sparql> { ?s ?p ?o } }",
                                "service_forbidden"),
                               ("INSERT DATA { <http://x.test/a> <http://x.test/b> 1 }", "update_forbidden"),
                               ("DROP ALL", "update_forbidden")]:
                resp = client.post("/sparql", data={"query": text})
                assert resp.status_code == 400, resp.data
                assert resp.get_json()["error"]["code"] == code, resp.data
            assert not any("evil.test" in str(d) or "DROP ALL" in str(d) or "x.test" in str(d) for d in calls)
        finally:
            hub.close()
    finally:
        store.close()
        fed.close()


# ---------------------------------------------------------------------- Virtuoso only
def _hub(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _search(hub: str, text: str) -> list:
    try:
        resp = requests.get(f"{hub}/api/groups", params={"q": text, "limit": 100}, timeout=10)
        return sorted(g["name"] for g in resp.json()["groups"])
    except (requests.RequestException, ValueError, KeyError):
        return []


def _sparql(hub: str) -> list:
    resp = requests.post(f"{hub}/sparql", data={"query": NAMES_QUERY},
                         headers={"Accept": "application/sparql-results+json"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return [b["name"]["value"] for b in resp.json()["results"]["bindings"]]


def test_two_front_ends_over_one_virtuoso_store_answer_alike_and_learn_each_crawl(virtuoso, tmp_path, monkeypatch):
    """Two `serve` processes, each with its own text index, over one store: a crawl written to the
    store by a third process (the CLI) shows in both searches, and a group pinged to one front end
    (which crawls it) shows in the other's, each learnt from the store's change log."""
    virtuoso.reset()
    monkeypatch.setenv("HUBNET_STORE_POLL_INTERVAL", "0.5")
    fed = Federation()
    hosts = [f"front{i}.localhost" for i in range(4)]
    procs = []
    try:
        for i, host in enumerate(hosts[:3]):
            fed.put_profile(host, f"Shared Group {i}", path="/", knowsAbout=["allotments"])
        crawl = [*crawler_command(), "crawl", "--store", virtuoso.spec, "--allow-private"]
        monkeypatch.setenv("HUBNET_STORE_LOCAL_DIR", str(tmp_path / "cli"))
        run([*crawl, fed.url(hosts[0], "/"), fed.url(hosts[1], "/")], tmp_path)
        ports = free_ports(2)
        for n, port in enumerate(ports):
            monkeypatch.setenv("HUBNET_STORE_LOCAL_DIR", str(tmp_path / f"front{n}"))
            procs.append(start([*crawler_command(), "serve", "--store", virtuoso.spec, "--port", str(port),
                                "--recrawl-interval", "0", "--allow-private"], tmp_path, port))
        hubs = [_hub(p) for p in ports]
        two = ["Shared Group 0", "Shared Group 1"]
        assert [_search(h, "allotments") for h in hubs] == [two, two]
        assert [_sparql(h) for h in hubs] == [two, two]
        # A third group crawled into the store: each front end's own index learns it from the store.
        monkeypatch.setenv("HUBNET_STORE_LOCAL_DIR", str(tmp_path / "cli"))
        run([*crawl, fed.url(hosts[2], "/")], tmp_path)
        three = [*two, "Shared Group 2"]
        for hub in hubs:
            wait_for(lambda: _search(hub, "allotments") == three, f"{hub} to learn the new group")
        assert [_sparql(h) for h in hubs] == [three, three]
        # A group pinged to the first front end, which crawls it: the second learns it from the store.
        fed.put_profile(hosts[3], "Shared Group 3", path="/", knowsAbout=["allotments"])
        assert requests.post(f"{hubs[0]}/ping", data={"url": fed.url(hosts[3], "/")}, timeout=10).status_code == 202
        four = [*three, "Shared Group 3"]
        wait_for(lambda: _search(hubs[1], "allotments") == four, "the second front end to learn the pinged group")
        assert [_sparql(h) for h in hubs] == [four, four]
    finally:
        stop(procs)
        fed.close()


N_KILLED = 40


def test_a_recrawl_killed_mid_way_leaves_every_source_at_its_old_or_new_version(virtuoso, tmp_path, monkeypatch):
    """SIGKILL mid re-crawl: every source's graph is exactly the version its record names, old or new."""
    virtuoso.reset()
    monkeypatch.setenv("HUBNET_STORE_LOCAL_DIR", str(tmp_path / "local"))
    fed = Federation()
    try:
        seeds = publish_sites(fed, N_KILLED)
        store = open_store(virtuoso.spec)
        Crawler(store, fed.settings()).crawl(seeds)
        old = {r.url: r.content_hash for r in store.sources().values()}
        publish_sites(fed, N_KILLED, suffix=" renamed", topics=25, topic="new topic")
        kill_crawl_after(fed, virtuoso.spec, seeds, 10, env=cli_env())
    finally:
        fed.close()
    records = store.sources()
    assert len(records) == N_KILLED
    graphs = set(store.named_graphs()) - {PROV_GRAPH.value}
    versions = {"old": 0, "new": 0}
    for rec in records.values():
        assert rec.status == OK
        stored = store.graph_triples(rec.graph)
        assert content_hash(stored) == rec.content_hash and len(stored) == rec.triples
        versions["old" if rec.content_hash == old[rec.url] else "new"] += 1
    assert versions["new"] >= 10 and versions["old"] >= 1, versions   # the kill did land mid-way
    assert graphs == {r.graph for r in records.values()}   # no graph without its record
    store.close()


def test_a_first_crawl_killed_mid_bulk_batch_leaves_each_source_whole_or_absent(virtuoso, tmp_path, monkeypatch):
    """SIGKILL mid first crawl with bulk batches of 4 new sources (one update request each): every
    source the store holds is whole, and no graph is there without its record."""
    virtuoso.reset()
    monkeypatch.setenv("HUBNET_STORE_LOCAL_DIR", str(tmp_path / "local"))
    fed = Federation()
    try:
        kill_crawl_after(fed, virtuoso.spec, publish_sites(fed, N_KILLED), 18, bulk_batch=4, env=cli_env())
    finally:
        fed.close()
    store = open_store(virtuoso.spec)
    records = store.sources()
    assert 4 <= len(records) < N_KILLED, len(records)   # the kill did land mid-way
    for rec in records.values():
        stored = store.graph_triples(rec.graph)
        assert rec.status == OK and content_hash(stored) == rec.content_hash and len(stored) == rec.triples
    assert set(store.named_graphs()) - {PROV_GRAPH.value} == {r.graph for r in records.values()}
    store.close()
