"""Parse stage: a fetched body -> the authorised, skolemised statements of one source.

Runs off the event loop (see crawl.py). Everything hostile about the body is
handled by ``vocab.parse`` (pinned contexts only, depth/size caps, named
graphs refused); this stage adds what is per-source: stable names for blank
nodes, the authority rule, and the checks that the source is a group profile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import urldefrag

import pyoxigraph as ox

from vocab.errors import DocumentError
from vocab.parse import Limits, document_to_triples

from .authorise import authorise, speaks_for
from .link import GROUP_TYPE_IRIS, RDF_TYPE, group_subjects, links
from .settings import Settings


@dataclass
class Parsed:
    triples: list
    groups: list
    dropped_foreign: int
    links: list
    content_hash: str
    notes: list = field(default_factory=list)


def limits_from(settings: Settings) -> Limits:
    return Limits(max_json_depth=settings.max_json_depth, max_json_nodes=settings.max_json_nodes,
                  max_triples=settings.max_triples, max_literal=settings.max_literal, max_iri=settings.max_iri)


def skolemise(triples, document_url: str) -> list:
    """Give blank nodes stable IRIs under the document's URL.

    A blank-node group (an Organization with no ``@id``, common on websites)
    becomes ``<url>#group``; other blank nodes ``<url>#_b1``, ``#_b2``... in
    order of first appearance, so the same document always gives the same
    statements (and the same hash).
    """
    base = urldefrag(document_url)[0]
    groups = {t.subject for t in triples
              if isinstance(t.subject, ox.BlankNode) and t.predicate.value == RDF_TYPE
              and t.object.value in GROUP_TYPE_IRIS}
    names: dict = {}
    n_group = 0

    def name(b):
        nonlocal n_group
        iri = names.get(b)
        if iri is None:
            if b in groups:
                n_group += 1
                iri = ox.NamedNode(f"{base}#group" + ("" if n_group == 1 else str(n_group)))
            else:
                iri = ox.NamedNode(f"{base}#_b{len(names) - n_group + 1}")
            names[b] = iri
        return iri

    out = []
    for t in triples:
        s = name(t.subject) if isinstance(t.subject, ox.BlankNode) else t.subject
        o = name(t.object) if isinstance(t.object, ox.BlankNode) else t.object
        out.append(ox.Quad(s, t.predicate, o, ox.DefaultGraph()) if (s is not t.subject or o is not t.object) else t)
    return out


def content_hash(triples) -> str:
    """Hash of the statements, order-independent: unchanged data means an unchanged hash."""
    lines = sorted(f"{t.subject} {t.predicate} {t.object}" for t in triples)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def parse_source(body: bytes, media_type: str, document_url: str, settings: Settings) -> Parsed:
    """Body as fetched -> Parsed. Raises DocumentError with a reason code on anything unusable."""
    try:
        raw = document_to_triples(body, media_type, document_url, limits_from(settings))
    except (RecursionError, MemoryError):
        raise DocumentError("the document is too complex to read", code="too_deep") from None
    named = skolemise(raw, document_url)
    kept, dropped = authorise(named, document_url)
    groups = group_subjects(kept)
    if not groups:
        foreign = [g for g in group_subjects(named) if not speaks_for(document_url, g)]
        if foreign:
            raise DocumentError(
                f"the profile describes {foreign[0]}, which is not on the site it was fetched from "
                f"({document_url}); a document may only describe groups on its own website",
                code="id_mismatch")
        raise DocumentError("no group found: the document must describe an Organization "
                            "(or a kind of it, such as NGO)", code="no_group")
    return Parsed(triples=kept, groups=groups, dropped_foreign=dropped,
                  links=links(kept, settings.max_outlinks), content_hash=content_hash(kept))
