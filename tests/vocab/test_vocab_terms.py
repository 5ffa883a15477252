"""The vocabulary files agree with each other: hubnet.ttl (ontology + SKOS
schemes), context.jsonld, schemaorg-context.jsonld and shapes.ttl."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SH, SKOS

import hubnet
from hubnet import vocab
from hubnet.vocab import CATEGORY, HUBNET, KIND, ORG, SCHEMA
from hubnet.vocab.model import ontology
from hubnet.vocab.validate import shapes

CATEGORY_SLUGS = ["equipment", "food", "funding-advice", "meeting-space", "mentoring",
                  "other", "skills", "training", "transport", "volunteers"]
KIND_SLUGS = ["arts-group", "charity", "civic-network", "community-group", "environmental-group",
              "faith-group", "food-project", "friends-group", "mutual-aid-group", "residents-association",
              "social-enterprise", "sports-club", "tenants-association", "volunteer-centre", "youth-group"]


def _package_json(name: str) -> dict:
    return json.loads(resources.files("vocab").joinpath(name).read_text(encoding="utf-8"))


def _package_turtle(name: str) -> Graph:
    g = Graph()
    g.parse(data=resources.files("vocab").joinpath(name).read_text(encoding="utf-8"), format="turtle")
    return g


# --------------------------------------------------------------------------- SKOS schemes

def test_categories_are_the_ten_in_the_scheme():
    cats = vocab.categories()
    assert [c.slug for c in cats] == CATEGORY_SLUGS
    assert all(c.iri == str(CATEGORY[c.slug]) for c in cats)
    g = ontology()
    assert {str(c) for c in g.subjects(SKOS.inScheme, HUBNET.Categories)} == {c.iri for c in cats}


def test_kinds_are_the_fifteen_in_the_scheme():
    kinds = vocab.kinds()
    assert [k.slug for k in kinds] == KIND_SLUGS
    assert all(k.iri == str(KIND[k.slug]) for k in kinds)
    g = ontology()
    assert {str(c) for c in g.subjects(SKOS.inScheme, HUBNET.GroupKinds)} == {k.iri for k in kinds}


@pytest.mark.parametrize("scheme", [HUBNET.GroupKinds, HUBNET.Categories])
def test_every_concept_has_an_english_label_and_definition(scheme):
    g = ontology()
    assert (scheme, RDF.type, SKOS.ConceptScheme) in g
    concepts = list(g.subjects(SKOS.inScheme, scheme))
    assert concepts
    for c in concepts:
        assert (c, RDF.type, SKOS.Concept) in g
        labels = [l for l in g.objects(c, SKOS.prefLabel) if l.language == "en"]
        definitions = [d for d in g.objects(c, SKOS.definition) if d.language == "en"]
        assert len(labels) == 1 and str(labels[0]).strip(), c
        assert len(definitions) == 1 and len(str(definitions[0])) > 10, c
        assert str(labels[0]) == str(g.value(c, RDFS.label)), c


def test_concept_objects_carry_label_and_definition():
    meeting = next(c for c in vocab.categories() if c.slug == "meeting-space")
    assert meeting.label == "Meeting space"
    assert meeting.definition.startswith("A room, hall or space")
    ra = next(k for k in vocab.kinds() if k.slug == "residents-association")
    assert ra.label == "Residents' association"


def test_slug_of():
    assert vocab.slug_of("https://w3id.org/hubnet/category/meeting-space") == "meeting-space"
    assert vocab.slug_of("https://w3id.org/hubnet/kind/charity") == "charity"
    assert vocab.slug_of("https://example.org/x") == "https://example.org/x"


# --------------------------------------------------------------------------- ontology

def test_vouches_for_is_a_sub_property_of_linked_to():
    g = ontology()
    assert (HUBNET.vouchesFor, RDFS.subPropertyOf, ORG.linkedTo) in g
    assert (HUBNET.vouchesFor, RDF.type, OWL.ObjectProperty) in g
    assert g.value(HUBNET.vouchesFor, RDFS.label) == Literal("vouches for", lang="en")


def test_ontology_declares_category_and_is_an_ontology():
    g = ontology()
    assert (URIRef("https://w3id.org/hubnet/ns"), RDF.type, OWL.Ontology) in g
    assert (HUBNET.category, RDF.type, OWL.ObjectProperty) in g
    assert g.value(URIRef("https://w3id.org/hubnet/ns"), OWL.versionInfo) == Literal(hubnet.__version__)


def test_link_properties_include_the_hubnet_ones():
    assert HUBNET.vouchesFor in vocab.LINK_PROPERTIES
    assert ORG.linkedTo in vocab.LINK_PROPERTIES
    assert SCHEMA.memberOf in vocab.LINK_PROPERTIES


# --------------------------------------------------------------------------- contexts

ALLOWED_NAMESPACES = (str(SCHEMA), str(ORG), str(HUBNET))
PREFIXES = {"schema": str(SCHEMA), "hubnet": str(HUBNET), "org": str(ORG),
            "xsd": "http://www.w3.org/2001/XMLSchema#", "skos": "http://www.w3.org/2004/02/skos/core#"}


def _expand(ctx: dict, value: str) -> str:
    prefix, sep, rest = value.partition(":")
    if sep and prefix in ctx and isinstance(ctx[prefix], str):
        return ctx[prefix] + rest
    return value


def _terms(ctx: dict):
    for term, definition in ctx.items():
        if term.startswith("@") or (isinstance(definition, str) and definition.startswith("@")):
            continue  # keywords and keyword aliases ("id": "@id")
        if term in PREFIXES:
            continue
        iri = definition if isinstance(definition, str) else definition["@id"]
        yield term, _expand(ctx, iri), definition


def test_hubnet_context_prefixes_are_the_expected_namespaces():
    ctx = vocab.hubnet_context()
    assert ctx["@vocab"] == str(SCHEMA)
    for prefix, ns in PREFIXES.items():
        assert ctx[prefix] == ns


def test_every_hubnet_context_term_maps_to_schema_org_org_or_hubnet():
    ctx = vocab.hubnet_context()
    terms = list(_terms(ctx))
    assert len(terms) >= 15
    for term, iri, _definition in terms:
        assert iri.startswith(ALLOWED_NAMESPACES), (term, iri)
        assert iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1] == term, (term, iri)   # the term is the IRI's name


def test_hubnet_context_specific_terms():
    ctx = vocab.hubnet_context()
    assert _expand(ctx, ctx["vouchesFor"]["@id"]) == str(HUBNET.vouchesFor)
    assert _expand(ctx, ctx["linkedTo"]["@id"]) == str(ORG.linkedTo)
    assert ctx["additionalType"]["@context"]["@vocab"] == str(KIND)
    assert ctx["category"]["@context"]["@vocab"] == str(CATEGORY)
    for term in ("url", "sameAs", "logo", "license", "memberOf", "member", "linkedTo", "vouchesFor"):
        assert ctx[term]["@type"] == "@id", term
    for term, datatype in (("latitude", "xsd:double"), ("longitude", "xsd:double"),
                           ("foundingDate", "xsd:date"), ("validThrough", "xsd:date")):
        assert ctx[term]["@type"] == datatype, term


def test_every_schemaorg_context_term_maps_to_schema_org():
    ctx = _package_json("schemaorg-context.jsonld")["@context"]
    assert ctx["@vocab"] == str(SCHEMA)
    assert ctx["id"] == "@id" and ctx["type"] == "@type"
    for term, iri, _definition in _terms(ctx):
        assert iri == str(SCHEMA[term]), (term, iri)


def test_shared_terms_agree_between_the_two_contexts():
    hub = vocab.hubnet_context()
    web = _package_json("schemaorg-context.jsonld")["@context"]
    for term in set(hub) & set(web):
        if term.startswith("@") or term in PREFIXES or term == "additionalType":
            continue   # additionalType: slugs in ours, full IRIs on the web
        assert hub[term] == web[term], term


def test_context_files_are_json_ld_documents():
    for name in ("context.jsonld", "schemaorg-context.jsonld"):
        doc = _package_json(name)
        assert list(doc) == ["@context"], name


def test_pinned_map_points_at_files_in_the_package():
    for iri, name in vocab.PINNED.items():
        assert resources.files("vocab").joinpath(name).is_file(), (iri, name)
    assert vocab.PINNED[vocab.CONTEXT_IRI] == "context.jsonld"
    assert vocab.CONTEXT_IRI == "https://w3id.org/hubnet/context.jsonld"


# --------------------------------------------------------------------------- shapes

def test_shapes_file_parses_and_every_message_is_non_empty():
    g = _package_turtle("shapes.ttl")
    messages = list(g.objects(None, SH.message))
    assert len(messages) >= 40
    for m in messages:
        assert isinstance(m, Literal) and str(m).strip(), m
    node_shapes = set(g.subjects(RDF.type, SH.NodeShape))
    assert len(node_shapes) >= 8


def test_every_property_shape_has_a_message():
    g = _package_turtle("shapes.ttl")
    for prop in g.objects(None, SH.property):
        assert g.value(prop, SH.message) is not None, g.value(prop, SH.path)


def test_group_shapes_target_every_group_type():
    g = shapes()
    for shape in g.subjects(HUBNET.targetsGroups, Literal(True)):
        assert set(g.objects(shape, SH.targetClass)) == set(vocab.GROUP_TYPES), shape


def test_category_choices_are_filled_in_from_the_scheme():
    g = shapes()
    messages = [str(m) for m in g.objects(None, SH.message)]
    assert not any("{choices}" in m for m in messages)
    [choices] = [m for m in messages if m.startswith("is not a known category")]
    assert choices == "is not a known category (use one of: " + ", ".join(CATEGORY_SLUGS) + ")"


def test_scheme_shapes_get_sh_in_with_every_concept():
    g = shapes()
    from rdflib.collection import Collection
    for shape, scheme in g.subject_objects(HUBNET.inScheme):
        members = [str(x) for x in Collection(g, g.value(shape, SH["in"]))]
        expected = [c.iri for c in (vocab.kinds() if scheme == HUBNET.GroupKinds else vocab.categories())]
        assert members == expected, scheme


def test_group_types():
    assert SCHEMA.Organization in vocab.GROUP_TYPES
    assert SCHEMA.NGO in vocab.GROUP_TYPES and SCHEMA.LocalBusiness in vocab.GROUP_TYPES
    assert all(str(t).startswith(str(SCHEMA)) for t in vocab.GROUP_TYPES)
    assert len(set(vocab.GROUP_TYPES)) == len(vocab.GROUP_TYPES)
