"""The store's writes: only the difference is written, and the result is exactly the new state."""

from __future__ import annotations

import sys
import threading

import pyoxigraph as ox
import pytest

from hubnet.crawler.store.graph import OK, PROV_GRAPH, STALE, SourceRecord, load_file, now

URL = "https://a.test/profile.jsonld"
G = ox.NamedNode(URL)
GROUP = ox.NamedNode(URL + "#group")
NAME = ox.NamedNode("http://schema.org/name")
ABOUT = ox.NamedNode("http://schema.org/knowsAbout")


def quads(*pairs):
    return [ox.Quad(GROUP, p, ox.Literal(o)) for p, o in pairs]


def record(**kw):
    stamp = now()
    base = dict(url=URL, graph=URL, status=OK, first_seen=stamp, generated_at=stamp, last_success=stamp)
    base.update(kw)
    return SourceRecord(**base)


def graph(store, name=URL) -> set:
    return {(q.subject, q.predicate, q.object) for q in store.graph_triples(name)}


def prov_of(store, subject) -> set:
    return {(q.predicate.value, q.object.value) for q in
            store.oxigraph.quads_for_pattern(ox.NamedNode(subject), None, None, PROV_GRAPH)}


@pytest.fixture
def store(backend_store):
    """Every test here runs on both backends (embedded, Virtuoso)."""
    return backend_store


def test_replacing_leaves_exactly_the_new_statements_and_record(store):
    store.replace_source(record(etag='"1"', content_hash="h1", triples=2),
                         quads((NAME, "Alpha"), (ABOUT, "gardens")))
    store.replace_source(record(etag='"2"', content_hash="h2", triples=2),
                         quads((NAME, "Alpha Residents"), (ABOUT, "gardens")))
    assert graph(store) == {(GROUP, NAME, ox.Literal("Alpha Residents")), (GROUP, ABOUT, ox.Literal("gardens"))}
    rec = store.source(URL)
    assert (rec.etag, rec.content_hash, rec.status) == ('"2"', "h2", OK)
    assert sum(1 for p, _ in prov_of(store, URL) if p.endswith("#etag")) == 1   # the old value is gone


def test_a_record_only_update_keeps_the_graph_and_drops_cleared_fields(store):
    store.replace_source(record(error_code=None), quads((NAME, "Alpha")))
    store.update_record(record(status=STALE, error_code="timeout", error_message="too slow"))
    assert store.source(URL).error_code == "timeout"
    store.update_record(record(status=OK))
    rec = store.source(URL)
    assert rec.status == OK and rec.error_code is None and rec.error_message is None
    assert graph(store) == {(GROUP, NAME, ox.Literal("Alpha"))}


def test_a_moved_graph_takes_its_provenance_pointer_along(store):
    moved = "https://a.test/new.jsonld"
    store.replace_source(record(), quads((NAME, "Alpha")))
    store.replace_source(record(graph=moved), quads((NAME, "Alpha")), previous_graph=URL)
    assert graph(store) == set() and graph(store, moved)
    derived = "http://www.w3.org/ns/prov#wasDerivedFrom"
    assert prov_of(store, URL) and (derived, URL) in prov_of(store, moved)
    assert not any(p == derived for p, _ in prov_of(store, URL))


def test_removing_keeps_a_tombstone_and_no_statements(store):
    store.replace_source(record(), quads((NAME, "Alpha")))
    store.remove_source(record(status="gone", removed_at=now()))
    assert graph(store) == set() and store.source(URL).status == "gone"
    assert URL not in store.named_graphs()


def test_blank_nodes_are_replaced_not_doubled(store, tmp_path):
    """A loaded Turtle file may hold blank nodes, which cannot be matched across two reads."""
    path = tmp_path / "groups.ttl"
    path.write_text('[] <http://schema.org/name> "Anon" ; <http://schema.org/knowsAbout> [ <http://schema.org/name> "x" ] .\n')
    load_file(store, path, "https://load.test/groups")
    load_file(store, path, "https://load.test/groups")
    assert len(graph(store, "https://load.test/groups")) == 3


def test_concurrent_writers_leave_one_whole_version(store):
    """Each write reads the stored state and writes the difference: without the store's write
    lock, two writers would interleave and leave a mixture of two versions."""
    versions = [quads((NAME, f"Name {k}"), *[(ABOUT, f"topic {k}.{j}") for j in range(40)]) for k in range(4)]
    whole = [{(q.subject, q.predicate, q.object) for q in v} for v in versions]
    seen_bad = []
    done = threading.Event()

    def write(k):
        for _ in range(15 if getattr(store, "remote", False) else 60):   # a remote write is a few requests
            store.replace_source(record(content_hash=f"h{k}"), versions[k])

    def watch():
        while not done.is_set():
            now_ = graph(store)
            if now_ and now_ not in whole:
                seen_bad.append(len(now_))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    watcher = threading.Thread(target=watch)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)     # switch threads often, so a read-then-write race would show
    try:
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        done.set()
        watcher.join()
        sys.setswitchinterval(interval)
    assert graph(store) in whole
    assert not seen_bad, f"{len(seen_bad)} mixed states seen"


def test_links_of_a_stored_graph_match_the_links_of_its_statements(store):
    """A 304 passes on the links of the stored graph, read without loading the whole graph."""
    from pathlib import Path

    from hubnet.crawler.crawl import extract as link
    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings

    body = (Path(__file__).resolve().parents[3] / "examples" / "profile.jsonld").read_bytes()
    url = "https://marshgate-ra.example.org/profile.jsonld"
    parsed = parse_source(body, "application/ld+json", url, Settings())
    extra = [ox.Quad(ox.NamedNode("https://marshgate-ra.example.org/#group"), ox.NamedNode("http://www.w3.org/ns/org#linkedTo"),
                     ox.NamedNode(f"https://other{k}.example/#group")) for k in range(3)]
    store.replace_source(record(url=url, graph=url), parsed.triples + extra)
    links, groups = link.stored_links_and_groups(store, url, limit=100)
    assert sorted(links) == sorted(link.links(parsed.triples + extra, 100)) and len(links) >= 3
    assert groups == link.group_subjects(parsed.triples)
    assert len(link.stored_links_and_groups(store, url, limit=2)[0]) == 2
