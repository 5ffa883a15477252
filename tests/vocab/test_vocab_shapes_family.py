"""Every constraint in vocab/shapes.ttl, broken one at a time, through ``hubnet-node validate FILE``.

The list of constraints is read from shapes.ttl with rdflib: for each node
shape, the fields it applies to in a profile (the group itself, or every
place in the example profile that holds what it targets), and for each of its
property shapes every kind of constraint (minCount, pattern, nodeKind,
datatype, minInclusive...), including those inside sh:or and in a shape
reached with sh:node. That derived list must equal the hand-written table
below, so a new shape (or a deleted one) fails here until the table says
which values break it and which satisfy it.

The values are written by hand, not computed from the shapes, so a loosened
pattern, a dropped anchor or a changed limit is caught: every bad value must
make ``validate`` exit 1 with an error line naming the field, and every good
value must pass (exit 0, no error on that field). Warnings (sh:Warning) get
the same treatment, except that a profile with only warnings is still valid.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from importlib import resources

import pytest
from click.testing import CliRunner
from rdflib import Graph, Literal
from rdflib.collection import Collection
from rdflib.namespace import RDF, RDFS, SH

from hubnet import vocab
from hubnet.node.cli import main
from hubnet.node.doc import as_list
from hubnet.vocab import HUBNET
from hubnet.vocab.validate import URL_TERMS

from node_helpers import EXAMPLE, example

ABSENT = object()  # the field is left out
NOT_CONSTRAINTS = {SH.path, SH.message, SH.severity, SH.property, SH.targetClass, SH.targetObjectsOf,
                   SH.targetSubjectsOf, SH.targetNode, SH.name, SH.description, SH.order, SH.group}


# ------------------------------------------------------------------ what shapes.ttl constrains
def _local(iri) -> str:
    return str(iri).rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _hosts_in_example(term: str) -> list[str]:
    """Dotted paths of every object held under ``term`` in the example profile."""
    found = []

    def walk(node, path):
        for item in as_list(node):
            if not isinstance(item, dict):
                continue
            for key, value in item.items():
                where = f"{path}.{key}" if path else key
                if key == term and any(isinstance(v, dict) for v in as_list(value)):
                    found.append(where)
                walk(value, where)
    walk(example(), "")
    return sorted(set(found))


def _kinds(g: Graph, node, *, node_level=False) -> set[str]:
    kinds = set()
    for p, o in g.predicate_objects(node):
        if p == SH["or"] and not node_level:
            for member in Collection(g, o):
                kinds |= _kinds(g, member)
        elif p == HUBNET.inScheme:
            kinds.add("in")
        elif str(p).startswith(str(SH)) and p not in NOT_CONSTRAINTS:
            kinds.add(_local(p))
    return kinds


def _nested_shapes(g: Graph, prop) -> list:
    out = list(g.objects(prop, SH.node))
    for members in g.objects(prop, SH["or"]):
        for member in Collection(g, members):
            out += list(g.objects(member, SH.node))
    return out


def _severity(g: Graph, shape) -> str:
    return "warning" if g.value(shape, SH.severity) == SH.Warning else "error"


def derived_constraints() -> dict:
    """{(field as written, kind, severity): field the message names}, read from shapes.ttl."""
    g = Graph().parse(data=resources.files("vocab").joinpath("shapes.ttl").read_text(encoding="utf-8"),
                      format="turtle")
    out = {}
    for shape in g.subjects(RDF.type, SH.NodeShape):
        if g.value(shape, HUBNET.targetsGroups) == Literal(True):
            hosts = [""]
        else:
            hosts = [h for target in g.objects(shape, SH.targetObjectsOf) for h in _hosts_in_example(_local(target))]
            referenced = any(g.subjects(SH.node, shape))
            assert hosts or referenced, f"{shape}: nothing in examples/profile.jsonld for it to apply to"
        label = g.value(shape, RDFS.label)
        for kind in _kinds(g, shape, node_level=True):
            out[(str(label), kind, _severity(g, shape))] = str(label)
        for host in hosts:
            for prop in g.objects(shape, SH.property):
                field = ".".join(filter(None, [host, _local(g.value(prop, SH.path))]))
                for kind in _kinds(g, prop):
                    out[(field, kind, _severity(g, prop))] = field
                for nested in _nested_shapes(g, prop):
                    for sub in g.objects(nested, SH.property):
                        for kind in _kinds(g, sub):
                            out[(f"{field}.{_local(g.value(sub, SH.path))}", kind, _severity(g, sub))] = field
    return out


# ------------------------------------------------------------------ the hand-written values
@dataclass
class Case:
    bad: tuple = ()
    good: tuple = ()


def length(limit: int, make=lambda n: "x" * n) -> Case:
    return Case(bad=(make(limit + 1),), good=(make(limit),))


OTHER = "https://other-group.example/#group"
LINK_NODE_KIND = Case(bad=({"@value": OTHER}, {"@value": "https://other-group.example/"}),
                      good=(OTHER, {"@id": OTHER}))
LINK_PATTERN = Case(bad=("ftp://other-group.example/", "ftp://mirror.example/https://other-group.example/",
                         "mailto:hello@other-group.example", "javascript:alert(1)", "urn:uuid:6e8bc430-9c3a",
                         "just some words", "other-group", "//other-group.example/",
                         {"@id": "ftp://mirror.example/https://other-group.example/"}, {"@id": "javascript:alert(1)"},
                         {"@id": "just some words"}),
                    good=("http://other-group.example/", OTHER))
LINKS = {"nodeKind": LINK_NODE_KIND, "pattern": LINK_PATTERN}
EMAIL = {"maxLength": Case(bad=("a" * 243 + "@example.org",), good=("a" * 242 + "@example.org",)),
         "pattern": Case(bad=("not-an-email", "hello@", "@example.org", "hello@example", "hello world@example.org",
                              "a@b@example.org", "hello@example.org and more"),
                         good=("hello@example.org", "mailto:hello@example.org"))}
TELEPHONE = {"maxLength": length(50, lambda n: "0" * n),
             "pattern": Case(bad=("call us", "12", "ext 9", "+4"), good=("020 7946 0000", "999"))}
NAME_REQUIRED = {"minCount": Case(bad=(ABSENT,), good=("A",)),
                 "pattern": Case(bad=("", "   ", "\n\t"), good=("A", " A "))}
AREA = {"nodeKind": Case(bad=({"@id": "https://other-group.example/area"},), good=("Leyton ward",)),
        "maxLength": length(200),
        "node": Case(bad=({"@type": "AdministrativeArea", "identifier": "E05000000"},),
                     good=({"@type": "AdministrativeArea", "name": "Leyton ward"},))}


def area_object(**kw):
    return {"@type": "AdministrativeArea", **kw}


AREA_NAME = {"minCount": Case(bad=(area_object(identifier="E05000000"),), good=(area_object(name="Ward"),)),
             "pattern": Case(bad=(area_object(name=""), area_object(name="  ")), good=(area_object(name="W"),)),
             "maxLength": length(200, lambda n: area_object(name="x" * n))}
ONS = "http://statistics.data.gov.uk/id/statistical-geography/"
AREA_CODE = Case(bad=("E0500005", "E050000588", "e05000058", "05000058", "EE5000058", "E05 000058", "E05000058 ",
                      " E05000058", "E05000058x", "E05000058\n", "Wharfside ward"),
                 good=("E05000058", "W05000999", "S13002877"))
AREA_IRI = Case(bad=(ONS + "E0500005", ONS + "e05000058", ONS + "E05000058/", ONS + "E05000058x", ONS,
                     "https://statistics.data.gov.uk/id/statistical-geography/Wharfside"),
                good=(ONS + "E05000058", "https://statistics.data.gov.uk/id/statistical-geography/E09000030",
                      "https://www.wikidata.org/wiki/Q7989478"))
LATITUDE, LONGITUDE = ({
    "minCount": Case(bad=(ABSENT,), good=(0,)),
    "maxCount": Case(bad=([10, 11],), good=(10,)),
    "datatype": Case(bad=("north", "51.5N", True), good=(51, 51.5, "51.5")),
    "minInclusive": Case(bad=(-limit - 0.0001, -limit - 1, -1000), good=(-limit, -limit + 0.5)),
    "maxInclusive": Case(bad=(limit + 0.0001, limit + 1, 1000), good=(limit, limit - 0.5)),
} for limit in (90, 180))
OFFER = {"name": {**NAME_REQUIRED, "maxLength": length(200)},
         "description": {"maxLength": length(2000)},
         "category": {"in": Case(bad=("bogus-category", "https://example.org/categories/meeting-space"),
                                 good=("meeting-space", "food")),
                      "minCount warning": Case(bad=(ABSENT,), good=("skills",))},
         "validThrough": {"pattern": Case(bad=("30/06/2027", "2027-6-30", "2027-13-01", "2027-06-32", "next June",
                                               "2027-06-30 at noon", "2027", "by 2027-06-30"),
                                          good=("2027-06-30", "2027-06-30T18:00:00Z", "2027-06-30T18:00:00+01:00"))},
         "areaServed": AREA, **{f"areaServed.name": AREA_NAME}}

EXPECTED = {
    "@id": {"nodeKind": Case(bad=(ABSENT, "_:group"), good=("https://marshgate-ra.example.org/#group",)),
            "pattern": Case(bad=("urn:uuid:6e8bc430-9c3a", "ftp://marshgate-ra.example.org/#group",
                                 "mailto:hello@marshgate-ra.example.org", "http:///#group",
                                 "ftp://x.example/https://marshgate-ra.example.org/#group"),
                            good=("http://marshgate-ra.example.org/#group",))},
    "contact": {"or": Case(bad=({},), good=({"email": "a@b.example"}, {"telephone": "020 7946 0000"},
                                           {"url": "https://b.example/"},
                                           {"contactPoint": {"@type": "ContactPoint", "email": "a@b.example"}}))},
    "name": {**NAME_REQUIRED, "nodeKind": Case(bad=({"@id": "https://other-group.example/name"},), good=("A",)),
             "maxLength": length(200)},
    "description": {"maxLength": length(5000), "minCount warning": Case(bad=(ABSENT,), good=("What we do.",))},
    **{term: LINKS for term in ("url", "sameAs", "license", "memberOf", "member", "parentOrganization",
                                "subOrganization", "linkedTo", "vouchesFor")},
    "logo": {**LINKS, "nodeKind": Case(bad=LINK_NODE_KIND.bad,
                                       good=(OTHER, {"@type": "ImageObject", "url": "https://b.example/logo.png"}))},
    "email": EMAIL,
    "telephone": TELEPHONE,
    "indexing": {"datatype": Case(bad=("no", "list us", "2026-01-01"), good=(False, True, "false")),
                 "maxCount": Case(bad=([True, False],), good=(False,))},
    "foundingDate": {"pattern": Case(bad=("1998/04/01", "01-04-1998", "1998-13-01", "1998-04-32", "1998-4-1",
                                          "in 1998", "19980401", "98", "c. 1998-04-01"),
                                     good=("1998", "1998-04", "1998-04-01", "2031-12-31"))},
    "knowsAbout": {"maxLength": length(100, lambda n: ["x" * n]),
                   "maxCount": length(40, lambda n: [f"topic {i}" for i in range(n)]),
                   "minCount warning": Case(bad=(ABSENT,), good=(["allotments"],))},
    "additionalType": {"in warning": Case(bad=("not-a-kind-of-group", "https://example.org/kinds/charity"),
                                          good=("residents-association", "charity"))},
    "location": {"minCount warning": Case(bad=(ABSENT,), good=({"@type": "Place", "name": "The hall"},))},
    "areaServed": {**AREA, "minCount warning": Case(bad=(ABSENT,), good=("Leyton ward",))},
    "areaServed.name": AREA_NAME,
    "areaServed.identifier": {
        "nodeKind": Case(bad=({"@id": "https://other-group.example/E05000058"},), good=("E05000058",)),
        "pattern": Case(bad=AREA_CODE.bad + ("E0500005", "E050000588", "e05000058", "E05 000058", "05000058E",
                                             "EE5000058", "Leyton ward", "", " E05000058"),
                        good=AREA_CODE.good + ("E05000058", "W05000001", "S13002900", "E09000031"))},
    "areaServed.sameAs": {"nodeKind": LINKS["nodeKind"],
                          "pattern": Case(bad=LINKS["pattern"].bad + AREA_IRI.bad,
                                          good=LINKS["pattern"].good + AREA_IRI.good)},
    "areaServed.postalCode": {"maxLength": length(20)},
    "location.name": {"maxLength": length(200)},
    # sh:or ( [nodeKind Literal; maxLength 300] [nodeKind BlankNodeOrIRI] ): no value is of neither kind.
    "location.address": {"nodeKind": Case(good=("1 Marsh Gate Lane", {"@type": "PostalAddress"})),
                         "maxLength": length(300)},
    "location.address.postalCode": {"maxLength": length(20)},
    "location.address.addressLocality": {"maxLength": length(100)},
    "location.address.streetAddress": {"maxLength": length(300)},
    "location.geo.latitude": LATITUDE,
    "location.geo.longitude": LONGITUDE,
    "contactPoint.email": EMAIL,
    "contactPoint.telephone": TELEPHONE,
    "contactPoint.contactType": {"maxLength": length(100)},
    "contactPoint.availableLanguage": {"maxLength": length(100, lambda n: ["x" * n])},
    "contactPoint.name": {"maxLength": length(200)},
    **{f"{offer}.{field}": cases for offer in ("makesOffer", "seeks") for field, cases in OFFER.items()},
}


def _table() -> dict:
    out = {}
    for field, kinds in EXPECTED.items():
        for kind, case in kinds.items():
            kind, _, severity = kind.partition(" ")
            out[(field, kind, severity or "error")] = case
    return out


TABLE = _table()
DERIVED = derived_constraints()
CONTACT_KEYS = ("email", "telephone", "url", "contactPoint")


def test_the_table_covers_exactly_the_constraints_in_shapes_ttl():
    missing = sorted(set(DERIVED) - set(TABLE))
    stale = sorted(set(TABLE) - set(DERIVED))
    assert not missing, f"constraints in shapes.ttl with no hand-written values here: {missing}"
    assert not stale, f"hand-written values for constraints shapes.ttl no longer has: {stale}"


# ------------------------------------------------------------------ through the CLI
def _with(field: str, value) -> dict:
    """The example profile with ``field`` (dotted, first item of any list) set to ``value``."""
    doc = example()
    if field == "contact":  # a node-level rule over four fields: replace all four
        for key in CONTACT_KEYS:
            doc.pop(key, None)
        doc.update(copy.deepcopy(value))
        return doc
    if field == "@id" and value is not ABSENT and value.startswith("_:"):
        doc["@id"] = value
        return doc
    *parents, last = field.split(".")
    node = doc
    for key in parents:
        node = node[key][0] if isinstance(node[key], list) else node[key]
    if value is ABSENT:
        node.pop(last, None)
    else:
        node[last] = copy.deepcopy(value)
    return doc


def _validate(tmp_path, doc):
    path = tmp_path / "profile.jsonld"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False, prog_name="hubnet-node")


def _lines_about(output: str, severity: str, field: str) -> list[str]:
    prefix = f"{severity}:"
    return [ln.strip() for ln in output.splitlines()
            if ln.strip().startswith(prefix) and ln.strip()[len(prefix):].strip().startswith(f"{field}:")]


@pytest.mark.parametrize("key", sorted(TABLE), ids=lambda k: " ".join(k))
def test_each_constraint_refuses_its_bad_values_and_accepts_its_good_ones(tmp_path, key):
    field, _kind, severity = key
    named = DERIVED[key]  # a nested shape's values are whole objects at the outer field, which is named
    case = TABLE[key]
    for value in case.bad:
        result = _validate(tmp_path, _with(named, value))
        assert result.exit_code == (1 if severity == "error" else 0), (value, result.output)
        assert _lines_about(result.output, severity, named), (f"no {severity} naming {named}", value, result.output)
    for value in case.good:
        result = _validate(tmp_path, _with(named, value))
        assert result.exit_code == 0, (value, result.output)
        assert not _lines_about(result.output, severity, named), (value, result.output)


def test_the_example_itself_is_clean():
    """The good values above are changes to this profile, so it must have no errors and no warnings itself."""
    result = CliRunner().invoke(main, ["validate", str(EXAMPLE)], catch_exceptions=False)
    assert result.exit_code == 0 and "no problems found" in result.output


# ------------------------------------------------------------------ the same, as Turtle
# In JSON-LD the JSON-level check (vocab.validate.check_url_strings) refuses a bad link before the
# shapes see it, which would hide a loosened shape; a Turtle file meets the shapes alone.
def _vanishes(field: str, value) -> bool:
    """A value JSON-LD turns into nothing (a relative IRI with no base), so no Turtle can carry it."""
    iri = value.get("@id") if isinstance(value, dict) else value
    return (field.rsplit(".", 1)[-1] in URL_TERMS and isinstance(iri, str)
            and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$", iri))


def _validate_turtle(tmp_path, doc):
    path = tmp_path / "profile.ttl"
    path.write_text(vocab.load(doc).serialize(format="turtle"), encoding="utf-8")
    return CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False, prog_name="hubnet-node")


@pytest.mark.parametrize("key", sorted(k for k in TABLE if k[1] in ("pattern", "nodeKind")), ids=" ".join)
def test_each_pattern_and_node_kind_holds_for_turtle_too(tmp_path, key):
    field, _kind, severity = key
    named = DERIVED[key]
    bad = [v for v in TABLE[key].bad if not _vanishes(named, v)]
    assert bad or key == ("location.address", "nodeKind", "error"), "no bad value a Turtle file can carry"
    for value in bad:
        result = _validate_turtle(tmp_path, _with(named, value))
        assert result.exit_code == 1 and _lines_about(result.output, severity, named), (value, result.output)
    for value in TABLE[key].good:
        result = _validate_turtle(tmp_path, _with(named, value))
        assert result.exit_code == 0, (value, result.output)
