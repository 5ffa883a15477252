"""Hostile input: every bad document ends in a DocumentError with a stable code,
never in a RecursionError, a crash, or triples the document should not produce."""

from __future__ import annotations

import json

import pytest
from rdflib import Literal, URIRef

from hubnet import vocab
from hubnet.vocab.parse import read_document, read_json

ORG = {"@context": "https://schema.org", "@id": "https://a.example/#org", "@type": "Organization",
       "name": "A", "url": "https://a.example/"}


def _code(document, **kw) -> str:
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load(document, **kw)
    return exc.value.code


def _nested(depth: int) -> dict:
    doc = dict(ORG)
    node = doc
    for _ in range(depth):
        child = {"@type": "Thing"}
        node["subjectOf"] = child
        node = child
    return doc


# --------------------------------------------------------------------------- depth

def test_json_text_nested_100000_deep_is_too_deep():
    text = "[" * 100_000 + "]" * 100_000
    assert _code(text) == "too_deep"
    assert _code(text.encode()) == "too_deep"


def test_object_text_nested_100000_deep_is_too_deep():
    text = '{"a":' * 100_000 + "1" + "}" * 100_000
    assert _code(text) == "too_deep"


def test_decoded_value_nested_100000_deep_is_too_deep():
    doc: dict = {}
    node = doc
    for _ in range(100_000):
        node["a"] = {}
        node = node["a"]
    assert _code(doc) == "too_deep"   # checked iteratively: no RecursionError
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.validate(doc)
    assert exc.value.code == "too_deep"


def test_nested_100_deep_is_too_deep():
    assert _code(_nested(100)) == "too_deep"
    assert _code(json.dumps(_nested(100))) == "too_deep"


def test_depth_limit_is_64():
    assert len(vocab.load(_nested(62))) > 60        # 63 levels of JSON
    assert _code(_nested(64)) == "too_deep"           # 65 levels of JSON
    assert vocab.DEFAULT_LIMITS.max_json_depth == 64


def test_too_deep_inside_html():
    page = '<script type="application/ld+json">' + "[" * 50_000 + "]" * 50_000 + "</script>"
    assert _code(page, media_type="text/html") == "too_deep"


# --------------------------------------------------------------------------- not a document

@pytest.mark.parametrize("text", ["[]", '"str"', "null", "1e999", "1", "true", "NaN", "-Infinity",
                                  '{"@context": "https://schema.org", "latitude": NaN}', '{"a": 1e999}',
                                  "", "{", '{"a": 1,}', "[1, 2]", '["https://schema.org"]', "[[]]", "[null]"])
def test_not_a_json_object_is_an_invalid_document(text):
    assert _code(text) == "invalid_document"


@pytest.mark.parametrize("value", [[], [1, "x"], [[]]])
def test_decoded_list_without_objects_is_an_invalid_document(value):
    assert _code(value) == "invalid_document"


def test_read_json_rejects_non_finite_numbers():
    for text in ("NaN", "Infinity", '{"x": -Infinity}', '{"x": 1e400}'):
        with pytest.raises(vocab.DocumentError) as exc:
            read_json(text)
        assert exc.value.code == "invalid_document", text


def test_too_many_json_values_is_too_large():
    doc = dict(ORG, knowsAbout=[f"topic {i}" for i in range(vocab.DEFAULT_LIMITS.max_json_nodes)])
    assert _code(doc) == "too_large"


# --------------------------------------------------------------------------- named graphs

def test_named_graph_injection_is_forbidden():
    doc = {"@context": "https://schema.org", "@id": "https://victim.test/g",
           "@graph": [{"@id": "https://victim.test/#org", "@type": "Organization", "name": "Pwned"}]}
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load(doc)
    assert exc.value.code == "named_graph_forbidden"
    assert exc.value.status == 422


def test_named_graph_nested_in_a_node_is_forbidden():
    doc = dict(ORG, subjectOf={"@id": "https://victim.test/g", "@graph": [{"@id": "https://victim.test/x",
                                                                             "name": "Pwned"}]})
    assert _code(doc) == "named_graph_forbidden"


def test_named_graph_in_text_is_forbidden():
    text = json.dumps({"@context": "https://schema.org", "@id": "https://victim.test/g",
                       "@graph": [{"@id": "https://victim.test/#org", "name": "Pwned"}]})
    assert _code(text.encode()) == "named_graph_forbidden"


def test_graph_without_id_is_the_default_graph():
    doc = {"@context": "https://schema.org", "@graph": [{k: v for k, v in ORG.items() if k != "@context"}]}
    graph = vocab.load(doc)
    assert graph.value(URIRef("https://a.example/#org"), vocab.SCHEMA.name) == Literal("A")


# --------------------------------------------------------------------------- sizes

def test_more_than_5000_triples():
    doc = dict(ORG, knowsAbout=[f"topic {i}" for i in range(5_001)])
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load(doc)
    assert exc.value.code == "too_many_triples"
    assert "5000" in exc.value.message


def test_just_under_the_triple_limit_loads():
    doc = dict(ORG, knowsAbout=[f"topic {i}" for i in range(4_990)])   # + type, name, url
    assert len(vocab.load(doc)) == 4_993


def test_70_kib_literal_is_too_long():
    assert _code(dict(ORG, description="x" * (70 * 1024))) == "literal_too_long"


def test_64_kib_literal_is_accepted():
    graph = vocab.load(dict(ORG, description="x" * (64 * 1024)))
    assert len(str(graph.value(URIRef("https://a.example/#org"), vocab.SCHEMA.description))) == 64 * 1024


def test_overlong_iri_is_refused():
    assert _code(dict(ORG, sameAs="https://a.example/" + "a" * 3000)) == "iri_too_long"


def test_custom_limits_apply():
    limits = vocab.Limits(max_triples=3)
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load(dict(ORG, email="a@a.example"), limits=limits)
    assert exc.value.code == "too_many_triples"


# --------------------------------------------------------------------------- encoding

def test_invalid_utf8_is_bad_encoding():
    data = b'{"@context": "https://schema.org", "@type": "Organization", "name": "Caf\xe9 \xff"}'
    assert _code(data) == "bad_encoding"
    with pytest.raises(vocab.DocumentError) as exc:
        read_document(data)
    assert exc.value.code == "bad_encoding"
    assert "UTF-8" in exc.value.message


def test_utf8_with_bom_is_accepted():
    data = "\ufeff".encode() + json.dumps(dict(ORG, name="Café")).encode()
    graph = vocab.load(data)
    assert graph.value(URIRef("https://a.example/#org"), vocab.SCHEMA.name) == Literal("Café")


def test_unreadable_path(tmp_path):
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load(tmp_path / "missing.jsonld")
    assert exc.value.code == "unreadable"


# --------------------------------------------------------------------------- injection

def test_nquads_shaped_id_produces_no_extra_triples():
    evil = 'https://a.example/#org> <http://schema.org/name> "pwned" .\n<https://a.example/#org'
    doc = dict(ORG, **{"@id": evil})
    try:
        graph = vocab.load(doc)
    except vocab.DocumentError as exc:           # refusing the document is fine too
        assert exc.code == "invalid_document"
        return
    assert not any("pwned" in str(t) for triple in graph for t in triple)
    assert not any(str(s).startswith("https://a.example/#org") for s in graph.subjects())
    assert vocab.find_groups(graph) == []


def test_nquads_shaped_link_produces_no_extra_triples():
    evil = 'https://b.example/#g> .\n<https://a.example/#org> <http://schema.org/name> "pwned'
    graph = vocab.load(dict(ORG, memberOf=evil))
    assert sorted(str(o) for o in graph.objects(URIRef("https://a.example/#org"), vocab.SCHEMA.name)) == ["A"]
    assert not any("pwned" in str(t) for triple in graph for t in triple if not isinstance(t, Literal))


def test_nquads_shaped_literal_stays_one_literal():
    evil = 'A" .\n<https://victim.test/#org> <http://schema.org/name> "pwned'
    graph = vocab.load(dict(ORG, name=evil))
    assert len(graph) == 3
    assert graph.value(URIRef("https://a.example/#org"), vocab.SCHEMA.name) == Literal(evil)
    assert URIRef("https://victim.test/#org") not in set(graph.subjects())


def test_turtle_is_read_with_the_same_limits():
    turtle = "@prefix s: <http://schema.org/> .\n<https://a.example/#org> a s:NGO ; s:name \"A\" ; s:url <https://a.example/> .\n"
    graph = vocab.load(turtle, media_type="text/turtle")
    assert vocab.find_groups(graph) == [URIRef("https://a.example/#org")]
    big = "@prefix s: <http://schema.org/> .\n" + "".join(
        f'<https://a.example/#org> s:knowsAbout "t{i}" .\n' for i in range(5_001))
    assert _code(big, media_type="text/turtle") == "too_many_triples"
    assert _code("<https://a.example/#org> <http://schema.org/name> ", media_type="text/turtle") == "invalid_document"


# --------------------------------------------------------------------------- the rules' own work
# A document at the statement limit, drawn to make the checks' walks long: the work the rules do
# is counted (never timed) and must stay linear in the statements.
class _Counted(dict):
    """A node's values of one property, counting each time one is looked at."""
    seen = 0

    def __iter__(self):
        for value in super().__iter__():
            _Counted.seen += 1
            yield value


def _turtle(lines) -> bytes:
    return ("@prefix s: <http://schema.org/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
            + "\n".join(lines)).encode()


def test_many_groups_around_one_hub_are_walked_once_each():
    """1,600 groups that each lead to one node that leads back to all of them: one walk per group
    would visit the hub's 1,600 links 1,600 times."""
    n = 1_600
    lines = [f"<https://a.example/#g{i}> a s:Organization ; s:member <https://a.example/#hub> ." for i in range(n)]
    lines.append("<https://a.example/#hub> s:knows " + ", ".join(f"<https://a.example/#g{i}>" for i in range(n)) + " .")
    from hubnet.vocab.shacl_subset import Data
    from hubnet.vocab.validate import profile_groups

    data = Data.from_quads(vocab.triples(_turtle(lines), media_type="text/turtle"))
    data.edges = {s: {p: _Counted(values) for p, values in by_p.items()} for s, by_p in data.edges.items()}
    _Counted.seen = 0
    groups = profile_groups(data)
    assert len(groups) == n   # every group is reached from another: all of them are the profile's
    assert _Counted.seen <= 2 * len(vocab.triples(_turtle(lines), media_type="text/turtle"))


def test_a_long_subclass_chain_is_walked_once_per_target_class(monkeypatch):
    """4,000 rdfs:subClassOf statements in a chain under schema:Organization: pyshacl's targetClass
    follows them; the evaluator walks the chain once per class the rules target, not once per class."""
    from hubnet.vocab import shacl_subset
    from hubnet.vocab.validate import rules

    n = 4_000
    lines = [f"<https://a.example/C{i + 1}> rdfs:subClassOf <https://a.example/C{i}> ." for i in range(n)]
    lines += ["<https://a.example/C0> rdfs:subClassOf s:Organization .",
              f"<https://a.example/#g> a <https://a.example/C{n}> ; s:name \"\" ."]
    walked = []
    real = shacl_subset._with_subclasses
    monkeypatch.setattr(shacl_subset, "_with_subclasses", lambda cls, sub: walked.append(len(r := real(cls, sub))) or r)
    data = shacl_subset.Data.from_quads(vocab.triples(_turtle(lines), media_type="text/turtle"))
    results = rules().validate(data)
    assert {r.focus.value for r in results} == {"https://a.example/#g"}   # found at the chain's end
    assert len(walked) == len(rules().target_classes)
    assert sum(walked) <= len(rules().target_classes) * (n + 2)


def test_long_emails_that_make_the_pattern_backtrack_are_judged_at_once(tmp_path):
    """The email pattern's ``[^@\\s]+\\.[^@\\s]+`` backtracks quadratically on "a@a.a.a…a " (64 KiB: ~10 s
    each before the length lookahead in shapes.ttl). Every door and the crawler judge hostile profiles
    with it, so 16 such values would hold a parser for minutes: the CLI must answer well inside a guard
    that only a hang exceeds."""
    import subprocess
    import sys

    hostile = "a@" + "a." * 30_000 + " "
    doc = {"@context": vocab.CONTEXT_IRI, "@id": "https://ra.example.org/#group", "@type": "Organization",
           "name": "RA", "email": hostile,
           "contactPoint": [{"@type": "ContactPoint", "name": f"c{i}", "email": hostile} for i in range(15)]}
    path = tmp_path / "profile.jsonld"
    path.write_text(json.dumps(doc), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "hubnet.node", "validate", "--json", str(path)],
                          capture_output=True, text=True, timeout=60)
    report = json.loads(done.stdout)
    assert not report["valid"]
    flagged = {e["field"] for e in report["errors"] if "is not an email address" in e["message"]}
    assert flagged == {"email", "contactPoint[c0].email"} | {f"contactPoint[c{i}].email" for i in range(1, 15)}
