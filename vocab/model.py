"""Names the rest of hubnet uses: namespaces, the types that make a node a group,
the link properties, and the two SKOS schemes (read from ``hubnet.ttl``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import RDF, SKOS

SCHEMA = Namespace("http://schema.org/")
HUBNET = Namespace("https://w3id.org/hubnet/ns#")
ORG = Namespace("http://www.w3.org/ns/org#")
PROV = Namespace("http://www.w3.org/ns/prov#")
KIND = Namespace("https://w3id.org/hubnet/kind/")
CATEGORY = Namespace("https://w3id.org/hubnet/category/")

# schema:Organization and the subclasses groups and websites actually use.
# A node of any of these types is a group.
GROUP_TYPES = tuple(
    SCHEMA[t]
    for t in (
        "Organization", "NGO", "LocalBusiness", "Corporation", "GovernmentOrganization",
        "EducationalOrganization", "SportsOrganization", "SportsTeam", "PerformingGroup",
        "MedicalOrganization", "NewsMediaOrganization", "Project", "FundingScheme",
        "Consortium", "ResearchOrganization", "WorkersUnion", "LibrarySystem",
        "PoliticalParty", "OnlineBusiness", "CommunityHealth", "Library",
        "PlaceOfWorship", "Church", "Mosque", "Synagogue", "HinduTemple", "BuddhistTemple",
        "CafeOrCoffeeShop", "Store", "Restaurant", "FoodEstablishment", "SportsClub", "ChildCare",
    )
)

# Properties that link one group to another. The crawler follows them; the
# directory draws them. vouchesFor is a sub-property of org:linkedTo.
LINK_PROPERTIES = (
    SCHEMA.memberOf, SCHEMA.member, SCHEMA.parentOrganization, SCHEMA.subOrganization,
    ORG.linkedTo, HUBNET.vouchesFor,
)


@dataclass(frozen=True)
class Concept:
    iri: str
    slug: str
    label: str
    definition: str


@lru_cache(maxsize=1)
def ontology() -> Graph:
    g = Graph()
    g.parse(data=resources.files(__package__).joinpath("hubnet.ttl").read_text(encoding="utf-8"),
            format="turtle")
    return g


@lru_cache(maxsize=None)
def concepts(scheme: URIRef) -> tuple[Concept, ...]:
    """The concepts of a SKOS scheme in hubnet.ttl, in file order of their slugs."""
    g = ontology()
    out = []
    for c in g.subjects(SKOS.inScheme, scheme):
        iri = str(c)
        out.append(Concept(iri, iri.rstrip("/").rsplit("/", 1)[-1],
                           str(g.value(c, SKOS.prefLabel) or ""), str(g.value(c, SKOS.definition) or "")))
    return tuple(sorted(out, key=lambda c: c.slug))


def kinds() -> tuple[Concept, ...]:
    """Kinds of group (use with ``additionalType``)."""
    return concepts(HUBNET.GroupKinds)


def categories() -> tuple[Concept, ...]:
    """Categories of offers and needs (use with ``category``)."""
    return concepts(HUBNET.Categories)


def slug_of(iri: str) -> str:
    """``https://w3id.org/hubnet/category/meeting-space`` -> ``meeting-space``; other IRIs unchanged."""
    for ns in (str(KIND), str(CATEGORY)):
        if iri.startswith(ns):
            return iri[len(ns):]
    return iri


def find_groups(graph: Graph) -> list:
    """Subjects typed as a group, IRIs first then blank nodes, each once."""
    seen = []
    for t in GROUP_TYPES:
        for s in graph.subjects(RDF.type, t):
            if s not in seen:
                seen.append(s)
    return sorted(seen, key=lambda s: (not isinstance(s, URIRef), str(s)))


__all__ = [
    "SCHEMA", "HUBNET", "ORG", "PROV", "KIND", "CATEGORY", "RDF", "GROUP_TYPES", "LINK_PROPERTIES",
    "Concept", "kinds", "categories", "slug_of", "find_groups", "ontology",
]
