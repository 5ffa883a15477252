"""A bulk batch reaches the loader as TriG text (issue 18: cheaper than a Python quad per statement).
Whatever a hostile document can put in a statement or a record must come out of the bulk path
exactly as the transactional path stores it: every family of awkward term, one source each, and
one batch holding them all."""

from __future__ import annotations

from dataclasses import fields, replace

import pyoxigraph as ox
import pytest

from hubnet.crawler.store.graph import _FIELDS, OK, SourceRecord, Store, now
from hubnet.vocab.errors import StoreError
from hubnet.crawler.store.shipped import NTriples

NAME = ox.NamedNode("http://schema.org/name")
XSD = "http://www.w3.org/2001/XMLSchema#"

# name -> the object of the source's one statement (or a whole statement: a callable of the subject)
TERMS = {
    "quotes and backslashes": ox.Literal('say "hi" \\ and \\" '),
    "line breaks and tabs": ox.Literal("one\ntwo\r\nthree\tfour"),
    "control characters": ox.Literal("nul \x00 bell \x07 escape \x1b"),
    "unicode": ox.Literal("Café ❤ 𝄞 \u202e reversed"),
    "statement punctuation": ox.Literal(" .\n<http://evil.test/a> <http://evil.test/b> <http://evil.test/c> .\n"),
    "TriG punctuation": ox.Literal("} GRAPH <http://evil.test/> { <a> <b> <c> . }"),
    "a blank node label in text": ox.Literal("see _:b0 and\n_:b1"),
    "a triple-term opener in text": ox.Literal("<< <a> <b> <c> >>"),
    "language tag": ox.Literal("colour", language="en-GB"),
    "custom datatype": ox.Literal("12 furlongs", datatype=ox.NamedNode("https://units.test/length")),
    "ill-typed integer": ox.Literal("twelve", datatype=ox.NamedNode(XSD + "integer")),
    "dateTime": ox.Literal("2026-12-06T10:00:00Z", datatype=ox.NamedNode(XSD + "dateTime")),
    "long text": ox.Literal("x" * 100_000),
    "IRI with unicode and escapes": ox.NamedNode("https://example.test/caf%C3%A9/é?q=a%20b#frag"),
    "a statement in a named graph": lambda s: ox.Quad(s, NAME, ox.Literal("elsewhere"),
                                                      ox.NamedNode("https://other.test/graph")),
}


# Handed over as quads rather than text: the loader would rename blank nodes, and a statement given
# in another graph is put in the source's; text that merely looks like these costs the same.
AS_QUADS = {"a blank node label in text", "a triple-term opener in text", "a statement in a named graph",
            "TriG punctuation"}


def url(i: int) -> str:
    return f"https://t{i}.test/"


def statements(i: int, term) -> list:
    s = ox.NamedNode(url(i) + "#group")
    return [ox.Quad(s, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                    ox.NamedNode("http://schema.org/Organization")),
            term(s) if callable(term) else ox.Quad(s, NAME, term)]


def record(i: int) -> SourceRecord:
    stamp = now()
    return SourceRecord(url=url(i), graph=url(i), status=OK, first_seen=stamp, generated_at=stamp,
                        last_success=stamp, triples=2, etag='W/"a \\"b\\"\n"', found_from="https://from.test/x",
                        error_message='a "quoted"\nmessage } _:b0', problems='[{"field": "name", "says": "\\"x\\""}]',
                        depth=2)


def held(store: Store, i: int) -> tuple:
    graph = {(q.subject, q.predicate, q.object) for q in store.graph_triples(url(i))}
    return graph, store.source(url(i))


def both_ways(tmp_path, cases: list, handed=None, shipped=False) -> tuple:
    """The same sources written by the bulk path (one batch) and by the transactional path;
    ``handed`` gets what the loader was given ("text" or "quads"). ``shipped``: the bulk path is
    given the statements as a parser process sends them (N-Triples text, crawl/parsers.py)."""
    bulk, each = Store(tmp_path / "bulk"), Store(tmp_path / "each")

    def seen(steps):
        if handed is not None:
            handed.extend("text" if isinstance(p[0], bytes) else "quads" for k, p in steps if k == "quads")
        return steps
    bulk.on_write = seen
    for i, term in cases:
        given = NTriples.of(statements(i, term)) if shipped else statements(i, term)
        assert bulk.stage_new_source(record(i), given, batch=len(cases) + 1) is True
        each.replace_source(record(i), statements(i, term))
    bulk.flush()
    return bulk, each


# A parser process's statements are all in the default graph (parse_source refuses named graphs).
SHIPPABLE = [n for n in TERMS if n != "a statement in a named graph"]


@pytest.mark.parametrize("name,shipped", [(n, False) for n in TERMS] + [(n, True) for n in SHIPPABLE],
                         ids=[f"{n}, terms" for n in TERMS] + [f"{n}, shipped as text" for n in SHIPPABLE])
def test_each_awkward_term_comes_out_of_the_bulk_path_as_a_transaction_stores_it(tmp_path, name, shipped):
    handed = []
    bulk, each = both_ways(tmp_path, [(0, TERMS[name])], handed, shipped)
    assert handed == ["quads" if name in AS_QUADS else "text"]
    assert held(bulk, 0) == held(each, 0)
    assert len(held(bulk, 0)[0]) == 2
    bulk.close(), each.close()


@pytest.mark.parametrize("shipped", [False, True], ids=["terms", "shipped as text"])
def test_one_batch_of_every_awkward_term_comes_out_whole(tmp_path, shipped):
    cases = list(enumerate(TERMS[n] for n in (SHIPPABLE if shipped else TERMS)))
    bulk, each = both_ways(tmp_path, cases, shipped=shipped)
    for i, _ in cases:
        assert held(bulk, i) == held(each, i)
    assert len(bulk.oxigraph) == len(each.oxigraph)
    bulk.close(), each.close()


# A record is written as text by the bulk path (store/graph.py _record_nt): every field, with
# the most awkward value of its kind a hostile server or document could put there.
AWKWARD_TEXT = 'a "q" \\ \\" \n two\r\n\t nul \x00 \x1b \u2028 Café 𝄞 } GRAPH <x> { _:b0 << >> .\n'
AWKWARD = {"int": 7, "iri": "https://t0.test/caf%C3%A9/é?q=a%20b#frag", "date": AWKWARD_TEXT,
           "text": AWKWARD_TEXT}
RECORD_FIELDS = [f.name for f in fields(SourceRecord) if f.name not in ("url", "graph", "status")]


def _kind(name: str) -> str:
    return next(kind for field, _, _, kind in _FIELDS if field == name)


@pytest.mark.parametrize("field", RECORD_FIELDS)
def test_every_record_field_comes_out_of_the_bulk_path_as_a_transaction_stores_it(tmp_path, field):
    rec = replace(record(0), **{field: AWKWARD[_kind(field)]})
    bulk, each = Store(tmp_path / "bulk"), Store(tmp_path / "each")
    assert bulk.stage_new_source(rec, statements(0, NAME), batch=1) is True
    each.replace_source(rec, statements(0, NAME))
    prov = ox.NamedNode("https://w3id.org/hubnet/graph/provenance")
    stored = [{str(q) for q in s.oxigraph.quads_for_pattern(None, None, None, prov)} for s in (bulk, each)]
    assert stored[0] == stored[1]
    assert getattr(bulk.source(url(0)), field) == AWKWARD[_kind(field)]
    bulk.close(), each.close()


# What a parser process could ship as a document's "N-Triples" if it lied (its answer is untrusted:
# threat model T7): text meant to put statements in another source's graph.
VICTIM = "https://victim.test/"
OWN = "<https://t0.test/#group> <http://schema.org/name> \"mine\" .\n"
EVIL = f"<{VICTIM}#group> <http://schema.org/name> \"pwned\" ."
INJECTIONS = {
    "closing the graph's block": OWN + f"}} <{VICTIM}> {{ {EVIL}\n",
    "a GRAPH block of its own": OWN + f"}} GRAPH <{VICTIM}> {{ {EVIL} }}\n<https://t0.test/> {{\n",
    "a fourth term naming the graph": OWN + EVIL.replace(" .", f" <{VICTIM}> .") + "\n",
    "a directive": OWN + "@prefix v: <https://victim.test/> .\n",
}


@pytest.mark.parametrize("name", sorted(INJECTIONS))
def test_text_a_lying_parser_ships_writes_nothing_in_another_graph(tmp_path, name):
    """The batch that holds such text is refused as a whole (store_error, its sources listed as lost,
    none stored); the other graph is as it was and the store takes the next batch."""
    store = Store(tmp_path / "s")
    victim = replace(record(0), url=VICTIM, graph=VICTIM)
    store.replace_source(victim, [ox.Quad(ox.NamedNode(VICTIM + "#group"), NAME, ox.Literal("victim"))])
    before = {str(q) for q in store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(VICTIM))}
    with pytest.raises(StoreError) as caught:
        store.stage_new_source(record(0), NTriples(INJECTIONS[name].encode(), 2), batch=1)
    assert caught.value.code == "store_error" and [r.url for r in caught.value.lost] == [url(0)]
    assert {str(q) for q in store.oxigraph.quads_for_pattern(None, None, None, ox.NamedNode(VICTIM))} == before
    assert store.source(url(0)) is None and not list(store.graph_triples(url(0)))
    assert store.stage_new_source(record(1), NTriples.of(statements(1, NAME)), batch=1) is True
    assert len(held(store, 1)[0]) == 2
    store.close()
