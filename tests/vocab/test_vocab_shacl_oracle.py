"""The oracle test: hubnet's SHACL evaluator (vocab/shacl_subset.py) answers exactly as pyshacl does.

pyshacl, the reference, is run over each profile of a wide family, and the evaluator over the same
statements (read from pyoxigraph's triples, as the doors read them, and from the rdflib Graph pyshacl
saw); the results must be the same multiset of (focus node, path, value, source shape, severity,
message), and the plain-English Reports made from them the same. The family:

- every profile file in examples/ and tests/data/vocab/ (JSON-LD, HTML, each at its own address);
- the profiles tests/vocab/test_vocab_shapes_family.py breaks and mends for every constraint
  (its hand-written bad and good values, applied to the example profile);
- 200 of the benchmark's synthetic profiles (bench/federation.py);
- a generated family: from a profile using every property of shapes.ttl, each property shape of each
  node it applies to (nested shapes under each parent) broken in each way its constraints allow:
  missing, too many, too long, wrong node kind (an IRI, a blank node, a text, a tagged text), wrong
  datatype, ill-formed and out-of-range numbers, not in the scheme, pattern broken; and each node
  shape's own constraints (the group's address, a way to contact it);
- hand-written cases where SHACL semantics bite: blank nodes against sh:pattern and sh:maxLength,
  language-tagged strings, rdf:type with rdfs:subClassOf in the data, literals as focus nodes of
  sh:targetObjectsOf, a node targeted twice, ill-formed typed literals, Turtle's own spellings.

``test_the_oracle_catches_a_broken_evaluator`` breaks the evaluator on purpose, one way at a time,
and requires the family to notice each.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pyoxigraph as ox
import pytest
from pyshacl import validate as pyshacl_validate
from rdflib import Graph
from rdflib.namespace import RDF, SH, XSD

from hubnet import vocab
from hubnet.vocab import shacl_subset
from hubnet.vocab.shacl_subset import Data, Result, ShapesError, compile_shapes, to_ox
from hubnet.vocab.validate import judge, rules, shapes

from profile_files import profile_files
from test_vocab_shapes_family import DERIVED, TABLE, _with

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "http://schema.org/"
XSD_ = str(XSD)
EXAMPLE = json.loads((ROOT / "examples" / "profile.jsonld").read_text(encoding="utf-8"))
BASE_URL = "https://marshgate-ra.example.org/profile.jsonld"


# ------------------------------------------------------------------ the two engines
def _copy(graph: Graph) -> Graph:
    g = Graph()
    for t in graph:
        g.add(t)
    return g


PYSHACL_SHAPES = _copy(shapes())   # pyshacl adds statements to the shapes graph it is given: not to ours


def pyshacl_results(graph: Graph) -> Counter:
    _conforms, results, _text = pyshacl_validate(graph, shacl_graph=PYSHACL_SHAPES, inference="none",
                                                 allow_warnings=True, advanced=False)
    out = Counter()
    for r in results.subjects(RDF.type, SH.ValidationResult):
        path, value = results.value(r, SH.resultPath), results.value(r, SH.value)
        out[Result(to_ox(results.value(r, SH.focusNode)), None if path is None else str(path),
                   None if value is None else to_ox(value), results.value(r, SH.sourceShape),
                   str(results.value(r, SH.resultSeverity)), str(results.value(r, SH.resultMessage)))] += 1
    return out


def graph_of(quads) -> Graph:
    """The rdflib Graph of pyoxigraph triples, made as vocab.load makes it (blank-node ids kept)."""
    g = Graph()
    for q in quads:
        g.add((vocab._to_rdflib(q.subject), vocab._to_rdflib(q.predicate), vocab._to_rdflib(q.object)))
    return g


_QUADS: dict = {}       # case id -> its triples, read once (blank-node ids differ on every read)
_REFERENCE: dict = {}   # case id -> pyshacl's results on them (the slow half), shared by the tests below


def quads_of(case_id: str):
    if case_id not in _QUADS:
        _QUADS[case_id] = CASES[case_id]()
    return _QUADS[case_id]


def reference(case_id: str) -> Counter:
    if case_id not in _REFERENCE:
        _REFERENCE[case_id] = pyshacl_results(graph_of(quads_of(case_id)))
    return _REFERENCE[case_id]


# ------------------------------------------------------------------ the family
def file_cases():
    for path, body, kind, own in profile_files():
        yield f"file:{path.name}", lambda body=body, kind=kind, own=own: _read(body, kind, own)


def _read(body, kind, base):
    try:
        return vocab.triples(body, base_iri=base, media_type=kind)
    except vocab.DocumentError:
        return None   # a page with no JSON-LD: nothing for either engine


def shapes_family_cases():
    for key in sorted(TABLE):
        named = DERIVED[key]
        case = TABLE[key]
        for n, value in enumerate(case.bad + case.good):
            doc = _with(named, value)
            yield f"family:{' '.join(key)}#{n}", lambda doc=doc: _read(json.dumps(doc).encode(), "application/ld+json",
                                                                       BASE_URL)


def bench_cases():
    from bench.federation import Federation

    fed = Federation(200)
    for i in range(200):
        yield f"bench:{i}", lambda i=i: vocab.triples(fed.body(i), base_iri=fed.doc_url(i))


# A profile using every property shapes.ttl constrains, each nested shape under each of its parents.
RICH = {
    **EXAMPLE,
    "telephone": "020 7946 0000", "logo": "https://marshgate-ra.example.org/logo.png", "indexing": True,
    "areaServed": [{"@type": "AdministrativeArea", "name": "Leyton ward", "identifier": "E05000058",
                    "sameAs": "http://statistics.data.gov.uk/id/statistical-geography/E05000058",
                    "postalCode": "E10"}, "Leyton"],
    "member": "https://tenants.example.org/#group", "parentOrganization": "https://parent.example.org/#group",
    "subOrganization": "https://sub.example.org/#group",
    "contactPoint": {**EXAMPLE["contactPoint"], "telephone": "020 7946 0001", "name": "The secretary"},
    "makesOffer": [{**EXAMPLE["makesOffer"][0],
                    "areaServed": {"@type": "AdministrativeArea", "name": "Marsh Gate", "identifier": "E05000059"}}],
    "seeks": [{**EXAMPLE["seeks"][0], "validThrough": "2027-01-31", "areaServed": "Leyton"}],
}


def rich_quads() -> list:
    return vocab.triples(RICH, base_iri=BASE_URL)


def _shape_sites(data: Data) -> list:
    """(focus node, property shape) for every property shape over every node it applies to in ``data``:
    the targeted shapes' focus nodes, and the nodes an sh:node inside an sh:or reaches."""
    from hubnet.vocab.shacl_subset import _instances

    typed = _instances(data, rules().target_classes)
    sites = []
    for shape in rules().targeted:
        for focus in shape.focus_nodes(data, typed):
            if isinstance(focus, ox.Literal):
                continue   # no statement can be about a literal
            for prop in shape.properties:
                sites.append((focus, prop))
                for nested in _nested_node_shapes(prop.node):
                    for value in data.values(focus, prop.path):
                        if not isinstance(value, ox.Literal):
                            sites += [(value, p) for p in rules()._shapes[nested].properties]
    return sites


def _nested_node_shapes(prop_node) -> list:
    g = shapes()
    return [n for members in g.objects(prop_node, SH["or"]) for m in g.items(members) for n in g.objects(m, SH.node)]


def _constraints(prop_node) -> dict:
    """{constraint IRI: [parameters]} of a property shape, its sh:or members' included."""
    g = shapes()
    out: dict = {}
    nodes = [prop_node] + [m for members in g.objects(prop_node, SH["or"]) for m in g.items(members)]
    for node in nodes:
        for p, o in g.predicate_objects(node):
            out.setdefault(p, []).append(o)
    return out


PATTERN_CANDIDATES = [
    "", " ", "x", "just some words", "ftp://x.example/", "http://", "https://ok.example/", "//ok.example/",
    "mailto:a@b.example", "a@b.example", "a@b", "020 7946 0000", "12", "1998", "1998-04-01", "1998-13-01",
    "2027-06-30T18:00:00Z", "2027-06-30 noon", "E05000058", "E05000058\n", "e05000058",
    "http://statistics.data.gov.uk/id/statistical-geography/E05000058",
    "http://statistics.data.gov.uk/id/statistical-geography/Leyton",
]


def _literal(text, datatype=None, lang=None):
    if lang:
        return ox.Literal(text, language=lang)
    return ox.Literal(text, datatype=ox.NamedNode(datatype or XSD_ + "string"))


def _breaks(prop_node) -> list:
    """(name, [values]) ways to set the property: each way its constraints allow it to be broken
    (and the values just inside the limits). [] is 'missing'."""
    c = _constraints(prop_node)
    ways = [("missing", []), ("an IRI", [ox.NamedNode("https://wrong.example/thing")]),
            ("an empty blank node", [ox.BlankNode()]), ("a text", [_literal("some words")]),
            ("a tagged text", [_literal("some words", lang="en")]),
            ("a blank node with a name", "named-blank")]
    for limit in c.get(SH.maxLength, []):
        n = int(limit)
        ways += [(f"{n + 1} characters", [_literal("x" * (n + 1))]), (f"{n} characters", [_literal("y" * n)]),
                 (f"{n + 1} characters, tagged", [_literal("x" * (n + 1), lang="cy")]),
                 (f"an IRI of {n + 1} characters", [ox.NamedNode("https://a.example/" + "i" * (n + 1 - 18))])]
    for limit in c.get(SH.maxCount, []):
        n = int(limit)
        ways += [(f"{n + 1} values", [_literal(f"v{i}") for i in range(n + 1)]),
                 (f"{n + 1} numbers", [_literal(str(i), XSD_ + "integer") for i in range(n + 1)])]
    if SH.datatype in c or SH.minInclusive in c or SH.maxInclusive in c:
        ways += [("a double", [_literal("4.5E1", XSD_ + "double")]), ("a decimal", [_literal("45.50", XSD_ + "decimal")]),
                 ("an integer", [_literal("45", XSD_ + "integer")]), ("a float", [_literal("45", XSD_ + "float")]),
                 ("number as text", [_literal("45")]), ("ill-formed double", [_literal("north", XSD_ + "double")]),
                 ("ill-formed integer", [_literal("4.5", XSD_ + "integer")]),
                 ("ill-formed decimal", [_literal("51,5", XSD_ + "decimal")]),
                 ("infinite double", [_literal("INF", XSD_ + "double")]), ("NaN", [_literal("NaN", XSD_ + "double")]),
                 ("a boolean", [_literal("true", XSD_ + "boolean")]), ("'no' as a boolean", [_literal("no", XSD_ + "boolean")]),
                 ("'1' as a boolean", [_literal("1", XSD_ + "boolean")]), ("a date", [_literal("2020-01-01", XSD_ + "date")]),
                 ("other datatype", [_literal("45", "https://example.org/dt")])]
    for bound in c.get(SH.minInclusive, []) + c.get(SH.maxInclusive, []):
        b = int(bound)
        for text, dt in ((str(b), "integer"), (f"{b}.0001", "decimal"), (f"{b - 1}", "integer"), (f"{b + 1}", "integer"),
                         (f"{float(b)}E0", "double"), (f"{b}.5", "double")):
            ways.append((f"{text}^^{dt}", [_literal(text, XSD_ + dt)]))
    for members in c.get(SH["in"], []):
        first = next(iter(shapes().items(members)))
        ways += [("in the scheme", [ox.NamedNode(str(first))]), ("not in the scheme",
                                                                  [ox.NamedNode(str(first) + "-not")]),
                 ("the slug as text", [_literal(str(first).rsplit("/", 1)[-1])])]
    for pattern in c.get(SH.pattern, []):
        search = re.compile(str(pattern)).search
        fails = [t for t in PATTERN_CANDIDATES if not search(t)][:3]
        passes = [t for t in PATTERN_CANDIDATES if search(t)][:2]
        for text in fails + passes:
            ways.append((f"{text!r}", [_literal(text)]))
            if re.match(r"^[a-z]+:\S+$", text):
                ways.append((f"<{text}>", [ox.NamedNode(text)]))
            ways.append((f"{text!r}@en", [_literal(text, lang="en")]))
    return ways


def _set(quads, focus, predicate: str, values) -> list:
    p = ox.NamedNode(predicate)
    kept = [q for q in quads if not (q.subject == focus and q.predicate == p)]
    extra = []
    if values == "named-blank":
        b = ox.BlankNode()
        values = [b]
        extra = [ox.Quad(b, ox.NamedNode(SCHEMA + "name"), _literal("A blank node"))]
    return kept + [ox.Quad(focus, p, v) for v in values] + extra


def _rename(quads, old, new) -> list:
    def swap(t):
        return new if t == old else t
    return [ox.Quad(swap(q.subject), q.predicate, swap(q.object)) for q in quads]


GROUP = ox.NamedNode("https://marshgate-ra.example.org/#group")


def generated_cases():
    base = rich_quads()
    seen = set()
    for focus, prop in _shape_sites(Data.from_quads(base)):
        for name, values in _breaks(prop.node):
            key = (focus, prop.path, name)
            if key in seen:
                continue
            seen.add(key)
            label = "group" if focus == GROUP else f"{prop.path.rsplit('/', 1)[-1]} of {type(focus).__name__}"
            yield (f"generated:{label}:{prop.path.rsplit('/', 1)[-1]}:{name}",
                   lambda focus=focus, path=prop.path, values=values: _set(base, focus, path, values))
    # the group's own node shapes: its address (sh:nodeKind IRI, sh:pattern) and a way to contact it
    for name, new in [("blank", ox.BlankNode()), ("urn", ox.NamedNode("urn:uuid:6e8bc430")),
                      ("ftp", ox.NamedNode("ftp://marshgate-ra.example.org/#group")),
                      ("http", ox.NamedNode("http://marshgate-ra.example.org/#group"))]:
        yield f"generated:@id {name}", lambda new=new: _rename(base, GROUP, new)
    contact = ("email", "telephone", "url", "contactPoint")

    def without(keep=()):
        quads = base
        for term in contact:
            if term not in keep:
                quads = _set(quads, GROUP, SCHEMA + term, [])
        return quads
    yield "generated:no contact", without
    for term in contact:
        yield f"generated:only {term}", lambda term=term: without((term,))


AWKWARD_TURTLE = {
    # rdf:type with rdfs:subClassOf in the data: pyshacl's targetClass follows it (two steps, and a cycle)
    "subclass": """
        <https://a.example/#g> a <https://a.example/Club> ; s:name "" ; s:email <mailto:x> .
        <https://a.example/Club> rdfs:subClassOf <https://a.example/Society> .
        <https://a.example/Society> rdfs:subClassOf s:NGO .
        <https://a.example/Loop> rdfs:subClassOf <https://a.example/Loop2> . <https://a.example/Loop2> rdfs:subClassOf <https://a.example/Loop> .
        <https://a.example/#h> a <https://a.example/Loop> .
        <https://a.example/#real> a s:Organization ; s:name "Real" ; s:funder <https://a.example/#g> .""",
    # literals as focus nodes of sh:targetObjectsOf (location, geo, address, contactPoint, offers, areas)
    "literal focus": """
        <https://a.example/#g> a s:Organization ; s:name "G" ; s:email "a@a.example" ;
            s:location "The hall" , [ s:geo "51.5,0.1" ; s:address "1 Lane" ] ; s:contactPoint "call us" ;
            s:makesOffer "Hall hire" ; s:seeks 42 ; s:areaServed "Leyton"@en , 7 .""",
    # one node targeted twice (an offer that is also a need; a group of two group types), and shared
    "targeted twice": """
        <https://a.example/#g> a s:Organization , s:NGO ; s:name "G" ; s:email "a@a.example" ;
            s:makesOffer <https://a.example/#o> ; s:seeks <https://a.example/#o> ;
            s:location <https://a.example/#p> ; s:contactPoint <https://a.example/#p> .
        <https://a.example/#o> s:name "" ; h:category <https://w3id.org/hubnet/category/nope> .
        <https://a.example/#p> s:name "%s" ; s:email "nope" ; s:geo [ s:latitude 100 ] .""" % ("x" * 201),
    # blank nodes where texts or IRIs belong, against sh:pattern and sh:maxLength
    "blank values": """
        [] a s:Organization ; s:name [] ; s:email [] ; s:telephone [ s:name "x" ] ; s:url [] ;
            s:foundingDate [] ; s:knowsAbout [] ; s:description [] ; s:identifier [] ;
            s:areaServed [ s:identifier [] ; s:sameAs [] ; s:name [] ] ; s:contactPoint [ s:email [] ] .""",
    # language tags and explicit datatypes on every kind of value
    "tagged and typed": """
        <https://a.example/#g> a s:Organization ; s:name "G"@en , "G"^^xsd:string ; s:email "a@a.example"@en ;
            s:description "%s"@cy ; s:foundingDate "1998-04-01"^^xsd:date ; s:url "https://a.example/"^^xsd:anyURI ;
            h:indexing "no"^^xsd:boolean , "false"^^xsd:boolean ;
            s:location [ s:geo [ s:latitude "51.50"^^xsd:decimal , "51.5"^^xsd:decimal ; s:longitude "0.1"@en ] ] .
        """ % ("x" * 5001),
    "two geo values": """
        <https://a.example/#g> a s:Organization ; s:name "G" ; s:email "a@a.example" ;
            s:location [ s:geo [ s:latitude 1, 2 ; s:longitude "-180"^^xsd:integer , "180.0"^^xsd:double ] ] .""",
    "no group": """<https://a.example/#x> s:name "not a group" ; s:location [ s:geo [ ] ] .""",
    "groups reach each other": """
        <https://a.example/#a> a s:Organization ; s:name "" ; s:member <https://a.example/#b> .
        <https://a.example/#b> a s:NGO ; s:memberOf <https://a.example/#a> ; s:url "words" .""",
}
PREFIXES = ("@prefix s: <http://schema.org/> . @prefix h: <https://w3id.org/hubnet/ns#> . "
            "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n")


def awkward_cases():
    for name, text in AWKWARD_TURTLE.items():
        yield f"turtle:{name}", lambda text=text: vocab.triples((PREFIXES + text).encode(), media_type="text/turtle",
                                                                base_iri="https://a.example/")


# The sharpest cases first: a sabotaged evaluator is caught (below) without going through them all.
CASES = dict([*awkward_cases(), *generated_cases(), *shapes_family_cases(), *file_cases(), *bench_cases()])


# ------------------------------------------------------------------ the tests
def _same(case_id: str, engine=None):
    """The evaluator's results and Report against pyshacl's, for one case; returns what differs."""
    quads = quads_of(case_id)
    if quads is None:
        return None
    engine = engine or rules().validate
    expected = reference(case_id)
    data = Data.from_quads(quads)
    got = Counter(engine(data))
    if got != expected:
        return {"only the evaluator": got - expected, "only pyshacl": expected - got}
    from_graph = Counter(engine(Data.from_graph(graph_of(quads))))
    if from_graph != expected:
        return {"from the rdflib Graph, only the evaluator": from_graph - expected,
                "only pyshacl": expected - from_graph}
    ours, theirs = judge(data, engine), judge(data, lambda d: list(expected.elements()))
    return None if ours == theirs else {"report": str(ours), "pyshacl's report": str(theirs)}


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_the_evaluator_answers_as_pyshacl(case_id):
    assert _same(case_id) is None


def test_the_family_is_wide():
    """Every property shape of shapes.ttl is broken over every node it applies to, results of every
    severity and of every shape that can report come out, and the generated base itself is clean."""
    assert not pyshacl_results(graph_of(rich_quads()))
    g = shapes()
    reporting = {p for s in rules().targeted for p in s.properties}
    covered = {prop for _, prop in _shape_sites(Data.from_quads(rich_quads()))}
    every_property_shape = {o for o in g.objects(None, SH.property)}
    assert {p.node for p in covered} == every_property_shape
    assert len(CASES) > 1000
    found = Counter()
    for case_id in CASES:
        if quads_of(case_id) is not None:
            for r in reference(case_id):
                found[r.shape] += 1
    silent = [p.node for p in reporting if p.node not in found]
    silent += [s.node for s in rules().targeted if s.checks and s.node not in found]
    assert not silent, f"shapes no case breaks: {silent}"
    assert {r.severity for case_id in CASES if case_id in _REFERENCE for r in _REFERENCE[case_id]} == {
        str(SH.Violation), str(SH.Warning)}


# Each sabotage is a plausible slip in the evaluator; the family must catch every one.
def _off_by_one_max_length(param):
    limit = shacl_subset._count(param, SH.maxLength)
    return lambda v, data: type(v) is not shacl_subset.BLANK and len(v.value) < limit


def _blank_matches_patterns(param):
    search = re.compile(str(param)).search
    return lambda v, data: type(v) is shacl_subset.BLANK or search(v.value) is not None


def _ill_formed_is_fine(param):
    wanted = str(param)
    return lambda v, data: type(v) is shacl_subset.LITERAL and v.datatype.value == wanted


def _no_subclasses(data, classes):
    typed: dict = {}
    for s, o in data.pairs.get(shacl_subset.RDF_TYPE, ()):
        typed.setdefault(o, {})[s] = None
    return typed


def _no_literal_focus(self, data, typed):
    return {f: None for f in ORIGINAL_FOCUS(self, data, typed) if not isinstance(f, ox.Literal)}


def _focus_per_target(self, data, typed):
    out = []
    for cls in self.target_classes:
        out += list(typed.get(cls, ()))
    for p in self.target_objects_of:
        out += [o for _, o in data.pairs.get(p, ())]
    return out


ORIGINAL_FOCUS = shacl_subset.Shape.focus_nodes
SABOTAGE = {
    "maxLength off by one": ("_max_length", _off_by_one_max_length),
    "a blank node matches every pattern": ("_pattern", _blank_matches_patterns),
    "ill-formed literals have their datatype": ("_datatype", _ill_formed_is_fine),
    "rdfs:subClassOf in the data ignored": ("_instances", _no_subclasses),
}


SHAPE_SABOTAGE = {"literal focus nodes dropped": _no_literal_focus,
                  "a node targeted twice is judged twice": _focus_per_target}


@pytest.mark.parametrize("sabotage", [*SABOTAGE, *SHAPE_SABOTAGE, "literals kept as written"])
def test_the_oracle_catches_a_broken_evaluator(monkeypatch, sabotage):
    if sabotage in SABOTAGE:
        monkeypatch.setattr(shacl_subset, *SABOTAGE[sabotage])
    elif sabotage in SHAPE_SABOTAGE:
        monkeypatch.setattr(shacl_subset.Shape, "focus_nodes", SHAPE_SABOTAGE[sabotage])
    else:
        monkeypatch.setattr(shacl_subset.Data, "_canonical", lambda self, lit, read=None: lit)
    broken = compile_shapes(shapes())
    assert any(_same(case_id, broken.validate) for case_id in CASES), f"no case noticed: {sabotage}"


# ------------------------------------------------------------------ the evaluator refuses what it cannot do
SHAPE_HEAD = ("@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix s: <http://schema.org/> . "
              "@prefix ex: <https://example.org/> .\n")
UNSUPPORTED = {
    "sh:class": "ex:S a sh:NodeShape ; sh:targetClass s:Organization ; sh:property [ sh:path s:member ; "
                "sh:class s:Organization ; sh:message 'm' ] .",
    "sh:minLength": "ex:S a sh:NodeShape ; sh:targetClass s:Organization ; sh:property [ sh:path s:name ; "
                    "sh:minLength 2 ; sh:message 'm' ] .",
    "sh:flags": "ex:S sh:targetClass s:Organization ; sh:pattern 'a' ; sh:flags 'i' ; sh:message 'm' .",
    "sh:targetNode": "ex:S sh:targetNode ex:x ; sh:nodeKind sh:IRI ; sh:message 'm' .",
    "sh:and": "ex:S sh:targetClass s:Organization ; sh:and ( [ sh:nodeKind sh:IRI ] ) ; sh:message 'm' .",
    "sh:deactivated": "ex:S sh:targetClass s:Organization ; sh:deactivated true ; sh:nodeKind sh:IRI ; "
                      "sh:message 'm' .",
    "a property path": "ex:S sh:targetClass s:Organization ; sh:property [ sh:path ( s:location s:geo ) ; "
                       "sh:minCount 1 ; sh:message 'm' ] .",
    "no message": "ex:S sh:targetClass s:Organization ; sh:property [ sh:path s:name ; sh:minCount 1 ] .",
    "two messages": "ex:S sh:targetClass s:Organization ; sh:nodeKind sh:IRI ; sh:message 'a'@en , 'b'@cy .",
    "severity inside sh:or": "ex:S sh:targetClass s:Organization ; sh:or ( [ sh:nodeKind sh:IRI ; "
                             "sh:severity sh:Warning ] ) ; sh:message 'm' .",
    "sh:node that reports": "ex:S sh:targetClass s:Organization ; sh:property [ sh:path s:location ; "
                            "sh:node ex:T ; sh:message 'm' ] . ex:T sh:property [ sh:path s:name ; sh:minCount 1 ] .",
    "a recursive shape": "ex:S sh:targetClass s:Organization ; sh:or ( ex:T ) ; sh:message 'm' . "
                         "ex:T sh:or ( ex:T ) .",
    "sh:in with a text": "ex:S sh:targetClass s:Organization ; sh:property [ sh:path s:name ; sh:in ( 'a' ) ; "
                         "sh:message 'm' ] .",
    "a text bound": "ex:S sh:targetClass s:Organization ; sh:property [ sh:path s:name ; sh:maxInclusive 'z' ; "
                    "sh:message 'm' ] .",
    "minCount on a node shape": "ex:S sh:targetClass s:Organization ; sh:minCount 1 ; sh:message 'm' .",
    "an implicit class target": "ex:S a sh:NodeShape , <http://www.w3.org/2000/01/rdf-schema#Class> ; "
                                "sh:nodeKind sh:IRI ; sh:message 'm' .",
    "an unknown predicate": "ex:S sh:targetClass s:Organization ; ex:strict true ; sh:nodeKind sh:IRI ; "
                            "sh:message 'm' .",
}


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_a_shape_using_what_the_evaluator_lacks_is_refused_at_load(name):
    graph = Graph().parse(data=SHAPE_HEAD + UNSUPPORTED[name], format="turtle")
    with pytest.raises(ShapesError):
        compile_shapes(graph)


def test_shapes_ttl_as_it_stands_compiles_and_its_copy_with_sh_class_does_not():
    compile_shapes(shapes())
    g = _copy(shapes())
    prop = next(iter(g.objects(None, SH.property)))
    g.add((prop, SH["class"], RDF.Property))
    with pytest.raises(ShapesError, match="class"):
        compile_shapes(g)
