"""The remote store's own parts: the server's answers read as pyoxigraph terms whatever its quirks,
every kind of term written and read back unchanged on Virtuoso, the change log the text index reads,
and bad --store values and unreachable servers refused with a clear error."""

from __future__ import annotations

import time

import pyoxigraph as ox
import pytest

from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import OK, SourceRecord, now
from hubnet.crawler.store.remote import RemoteStore, _solutions, endpoint_of, open_store
from hubnet.vocab.errors import StoreError

XSD = "http://www.w3.org/2001/XMLSchema#"
S = ox.NamedNode("https://quirks.test/#group")
P = ox.NamedNode("http://schema.org/name")

# (the server's JSON binding, the pyoxigraph term it stands for): Virtuoso's forms and the standard ones.
BINDINGS = [
    ({"type": "uri", "value": "https://a.test/"}, ox.NamedNode("https://a.test/")),
    ({"type": "literal", "value": "plain"}, ox.Literal("plain")),
    ({"type": "literal", "value": "Grüße", "xml:lang": "de"}, ox.Literal("Grüße", language="de")),
    ({"type": "literal", "value": "Grüße", "lang": "de"}, ox.Literal("Grüße", language="de")),
    ({"type": "typed-literal", "datatype": XSD + "integer", "value": "3"},
     ox.Literal("3", datatype=ox.NamedNode(XSD + "integer"))),
    ({"type": "literal", "datatype": XSD + "dateTime", "value": "2026-12-06T07:27:08Z"},
     ox.Literal("2026-12-06T07:27:08Z", datatype=ox.NamedNode(XSD + "dateTime"))),
    ({"type": "typed-literal", "datatype": XSD + "boolean", "value": "1"}, ox.Literal(True)),
    ({"type": "typed-literal", "datatype": XSD + "boolean", "value": "0"}, ox.Literal(False)),
    ({"type": "bnode", "value": "nodeID://b10001"}, ox.BlankNode("b10001")),
]


@pytest.mark.parametrize("binding, term", BINDINGS, ids=[str(i) for i in range(len(BINDINGS))])
def test_each_form_of_binding_reads_as_its_term(binding, term):
    rows = list(_solutions({"head": {"vars": ["x"]}, "results": {"bindings": [{"x": binding}]}}))
    assert rows[0]["x"] == term


@pytest.mark.parametrize("doc, value", [
    ({"head": {}, "boolean": True}, True),
    ({"head": {}, "boolean": False}, False),
    ({"head": {"vars": ["__ASK_RETVAL"]}, "results": {"bindings": [
        {"__ASK_RETVAL": {"type": "typed-literal", "datatype": XSD + "integer", "value": "1"}}]}}, True),
    ({"head": {"vars": ["__ASK_RETVAL"]}, "results": {"bindings": []}}, False),
])
def test_ask_answers_read_as_booleans_in_either_form(doc, value):
    assert isinstance(_solutions(doc), ox.QueryBoolean) and bool(_solutions(doc)) is value


@pytest.mark.parametrize("spec", ["sparql+http:///sparql", "sparql+http://user:pw@127.0.0.1:1/sparql"])
def test_a_store_url_without_a_host_or_with_credentials_is_refused(spec):
    with pytest.raises(StoreError) as err:
        endpoint_of(spec)
    assert err.value.code == "bad_parameter" and "sparql+http://host:port/path" in err.value.message


def test_an_unreachable_server_is_a_clear_store_error(tmp_path):
    from loop_helpers import free_ports

    settings = Settings(store_local_dir=str(tmp_path), store_retries=0, store_timeout=2)
    with pytest.raises(StoreError) as err:
        open_store(f"sparql+http://127.0.0.1:{free_ports(1)[0]}/sparql", settings)
    assert err.value.code == "store_error" and "cannot use the store" in err.value.message


# ---------------------------------------------------------------------- on Virtuoso
TERMS = {
    "plain": ox.Literal("plain"),
    "language": ox.Literal("Grüße ✓", language="de-at"),
    "escapes": ox.Literal('quote " backslash \\ newline \n tab \t'),
    "integer": ox.Literal("-17", datatype=ox.NamedNode(XSD + "integer")),
    "dateTime": ox.Literal("2026-12-06T07:27:08Z", datatype=ox.NamedNode(XSD + "dateTime")),
    "boolean": ox.Literal(True),
    "custom type": ox.Literal("x", datatype=ox.NamedNode("https://quirks.test/type")),
    "long (64 KiB)": ox.Literal("é" * 32 * 1024),
    "IRI": ox.NamedNode("https://quirks.test/other?q=1#x"),
}


@pytest.fixture
def remote(virtuoso, tmp_path):
    virtuoso.reset()
    store = RemoteStore(virtuoso.spec, Settings(store_local_dir=str(tmp_path)))
    yield store
    store.close()


def _rec(url, n):
    return SourceRecord(url=url, graph=url, status=OK, first_seen=now(), triples=n)


def test_every_kind_of_term_is_written_and_read_back_unchanged(remote):
    url = "https://quirks.test/"
    triples = [ox.Triple(S, ox.NamedNode(f"https://quirks.test/p{i}"), t) for i, t in enumerate(TERMS.values())]
    remote.replace_source(_rec(url, len(triples)), triples)
    back = {(q.predicate, q.object) for q in remote.graph_triples(url)}
    assert back == {(t.predicate, t.object) for t in triples}


def test_a_source_with_blank_nodes_and_many_statements_is_one_write(remote):
    """6,000 statements (past what Virtuoso parses in one INSERT DATA) and blank nodes: one request."""
    url = "https://many.test/"
    triples = [ox.Triple(ox.NamedNode(f"https://many.test/#s{i}"), P, ox.Literal(f"n{i}")) for i in range(6_000)]
    triples += [ox.Triple(S, ox.NamedNode("http://schema.org/location"), ox.BlankNode("place")),
                ox.Triple(ox.BlankNode("place"), P, ox.Literal("somewhere"))]
    sent = []
    real = remote.client.post
    remote.client.post = lambda u, data, *a, **kw: (sent.append(data[0][0]), real(u, data, *a, **kw))[1]
    remote.replace_source(_rec(url, len(triples)), triples)
    assert sent.count("update") == 1
    back = remote.graph_triples(url)
    assert len(back) == len(triples)
    place = {q.object for q in back if q.predicate.value.endswith("location")}
    assert len(place) == 1 and {q.object for q in back if q.subject in place} == {ox.Literal("somewhere")}


def test_the_change_log_names_each_write_to_every_reader_of_the_store(remote, virtuoso, tmp_path):
    """Another front end (another RemoteStore on the same server) learns the names this one wrote."""
    other = RemoteStore(virtuoso.spec, Settings(store_local_dir=str(tmp_path / "other")))
    try:
        assert other.changes_since(None, 0)[0] is None          # a new reader compares everything
        _, jid, offset = other.changes_since(None, 0)
        assert other.changes_since(jid, offset)[0] == []
        urls = [f"https://log{i}.test/" for i in range(3)]
        mark = other.change_mark()
        assert other.change_mark() == mark   # nothing written, nothing to refresh (the poller's test)
        for url in urls:
            remote.replace_source(_rec(url, 1), [ox.Triple(S, P, ox.Literal(url))])
            assert other.change_mark() != mark
            mark = other.change_mark()
        names, jid2, offset2 = other.changes_since(jid, offset)
        assert jid2 == jid and set(urls) <= set(names) and offset2 > offset
        remote.remove_source(SourceRecord(url=urls[0], graph=urls[0], status="gone", removed_at=now()))
        assert urls[0] in other.changes_since(jid, offset2)[0]
        # A reader that has not looked for longer than the log is kept compares everything.
        stale = time.time() - other.settings.store_change_keep_days * 86400 - 1
        assert other.changes_since(jid, stale)[0] is None
    finally:
        other.close()


# ---------------------------------------------------------------------- the bulk path of new sources
def _requests(store) -> list:
    """The kind ("query" or "update") of every request ``store`` sends from now on."""
    sent, real = [], store.client.post
    store.client.post = lambda u, data, *a, **kw: (sent.append(data[0][0]), real(u, data, *a, **kw))[1]
    return sent


def test_a_batch_of_new_sources_is_one_read_and_one_update_request(remote):
    """Twelve never-held sources, one with blank nodes: no request until the batch is full, then
    one query (is any of them held?) and ONE update."""
    assert remote.blocked == {}   # the block list, read once per store
    sent = _requests(remote)
    urls = [f"https://bulk{i}.test/" for i in range(12)]
    for i, url in enumerate(urls):
        triples = [ox.Triple(ox.NamedNode(url + "#group"), P, ox.Literal(f"Group {i}"))]
        if i == 5:
            triples.append(ox.Triple(ox.NamedNode(url + "#group"), P, ox.BlankNode("b")))
        assert remote.stage_new_source(_rec(url, len(triples)), triples, batch=12) is True
    assert sent == ["query", "update"]
    held = remote.sources()
    assert sorted(held) == sorted(urls) and all(len(remote.graph_triples(u)) == held[u].triples for u in urls)


def test_a_batch_the_server_fails_part_way_leaves_each_source_whole_or_absent_and_names_the_lost(virtuoso, tmp_path):
    """Virtuoso keeps the operations of a request done before one that fails. A batch whose request
    fails after its second source: those two are whole, the rest absent (no graph, no record) and
    named as lost; a source written before is unchanged."""
    virtuoso.reset()
    remote = RemoteStore(virtuoso.spec, Settings(store_local_dir=str(tmp_path), store_insert_chunk=20))
    before = "https://before.test/"
    remote.replace_source(_rec(before, 1), [ox.Triple(S, P, ox.Literal("kept"))])
    urls = [f"https://lost{i}.test/" for i in range(4)]
    data = {u: [ox.Triple(ox.NamedNode(u + "#g"), P, ox.Literal(u)), ox.Triple(ox.NamedNode(u + "#g"), P, ox.Literal("x"))]
            for u in urls}
    for url in urls[:-1]:
        remote.stage_new_source(_rec(url, 2), data[url], batch=4)
    real = remote._store.update   # (not .oxigraph, which writes the batch first)

    def failing_after_two(text):   # DROP (not SILENT) of a graph that does not exist is an error
        remote._store.update = real   # once: the clean-up after it goes through
        ops = text.split(" ;\n")
        return real(" ;\n".join(ops[:2] + ["DROP GRAPH <https://no-such.test/graph>"] + ops[2:]))

    remote._store.update = failing_after_two
    try:
        with pytest.raises(StoreError) as err:
            remote.stage_new_source(_rec(urls[-1], 2), data[urls[-1]], batch=4)
    finally:
        remote._store.update = real
    assert sorted(r.url for r in err.value.lost) == urls[2:]
    assert sorted(remote.sources()) == sorted([before, *urls[:2]])
    assert set(remote.named_graphs()) == {before, *urls[:2], "https://w3id.org/hubnet/graph/provenance"}
    assert [q.object.value for q in remote.graph_triples(before)] == ["kept"]
    for url in urls[:2]:
        assert {t.object for t in remote.graph_triples(url)} == {t.object for t in data[url]}
    remote.close()


def test_a_batch_whose_request_timed_out_is_not_undone_and_counts_as_lost(remote):
    """The client gave up but the server committed (as it may): nothing is dropped behind the
    server's back, every source of the batch is reported lost, and the store holds them whole."""
    urls = [f"https://late{i}.test/" for i in range(3)]
    real = remote._store.update

    def late(text):
        real(text)
        raise TimeoutError("the store did not answer within 30 s")

    for url in urls[:-1]:
        remote.stage_new_source(_rec(url, 1), [ox.Triple(ox.NamedNode(url + "#g"), P, ox.Literal(url))], batch=3)
    remote._store.update = late
    try:
        with pytest.raises(StoreError) as err:
            remote.stage_new_source(_rec(urls[-1], 1), [ox.Triple(S, P, ox.Literal("x"))], batch=3)
    finally:
        remote._store.update = real
    assert sorted(r.url for r in err.value.lost) == urls
    assert sorted(remote.sources()) == urls and all(len(remote.graph_triples(u)) == 1 for u in urls)
