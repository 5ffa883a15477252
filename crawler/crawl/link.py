"""Links and groups read back from a STORED graph: for a 304 (the body was not fetched again, so
extract.py did not run) and for the groups already known when a crawl starts."""

from __future__ import annotations

from urllib.parse import urldefrag

import pyoxigraph as ox

from hubnet.vocab.model import GROUP_TYPES, LINK_PROPERTIES

LINK_PREDICATES = frozenset(str(p) for p in LINK_PROPERTIES)
GROUP_TYPE_IRIS = frozenset(str(t) for t in GROUP_TYPES)
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def group_subjects(triples) -> list[str]:
    """IRIs typed as a group, in order of appearance."""
    out = []
    for t in triples:
        if t.predicate.value == RDF_TYPE and t.object.value in GROUP_TYPE_IRIS and t.subject.value not in out:
            out.append(t.subject.value)
    return out


def links(triples, limit: int) -> list[str]:
    """Groups this source links to: link-property targets (http/https IRIs), each once, at most ``limit``."""
    out: list[str] = []
    seen = set()
    for t in triples:
        if t.predicate.value not in LINK_PREDICATES or not isinstance(t.object, ox.NamedNode):
            continue
        target = t.object.value
        if not target.startswith(("http://", "https://")) or target in seen:
            continue
        seen.add(target)
        out.append(target)
        if len(out) >= limit:
            break
    return out


def stored_links_and_groups(store, graph: str, limit: int) -> tuple[list[str], list[str]]:
    """``links`` and ``group_subjects`` of a stored graph, reading only the statements they look at.

    An unchanged source (a 304) still passes its links on; its whole graph is ~50 statements,
    of which a handful are links and types.
    """
    g = ox.NamedNode(graph)
    quads = [q for p in (*sorted(LINK_PREDICATES), RDF_TYPE)
             for q in store.oxigraph.quads_for_pattern(None, ox.NamedNode(p), None, g)]
    return links(quads, limit), group_subjects(quads)


def document_of(iri: str) -> str:
    """The document to fetch for a group IRI: the IRI without its fragment."""
    return urldefrag(iri)[0]


def known_groups(store) -> dict:
    """{group IRI: graph describing it} for every group in the store: no need to fetch their IRIs again."""
    out = {}
    for q in store.oxigraph.quads_for_pattern(None, ox.NamedNode(RDF_TYPE), None, None):
        if q.object.value in GROUP_TYPE_IRIS and isinstance(q.subject, ox.NamedNode):
            out.setdefault(q.subject.value, q.graph_name.value)
    return out
