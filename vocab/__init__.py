"""hubnet's shared vocabulary: the JSON-LD context, ontology, SHACL shapes and
the helpers to load and validate profiles. Nothing here touches the network.

    >>> import vocab
    >>> graph = vocab.load({"@context": "https://schema.org", "@type": "NGO", "name": "X"})
    >>> report = hubnet.vocab.validate(profile_dict)      # Report: .conforms, .errors, .warnings
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef

from . import authority, postcodes
from .contexts import CONTEXT_IRI, PINNED, hubnet_context, inline_contexts, is_pinned, pinned_context
from .errors import DocumentError, FetchError, HubnetError, NotFound, ProfileInvalid, QueryError, StoreError
from .model import (CATEGORY, GROUP_TYPES, HUBNET, KIND, LINK_PROPERTIES, ORG, SCHEMA, categories,
                    find_groups, kinds, slug_of)
from .parse import DEFAULT_LIMITS, TURTLE_TYPES, Limits, document_rows, document_to_triples, read_document
from .shacl_subset import Data
from .validate import Issue, Report, check_published_at, check_url_strings, validate_data

# rdflib logs a traceback for every ill-typed literal it meets ("soon"^^xsd:date);
# validation reports those as plain-English errors, so the tracebacks are noise.
logging.getLogger("rdflib.term").setLevel(logging.ERROR)

_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def _to_rdflib(term):
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    dt = term.datatype.value
    return Literal(term.value, datatype=None if dt in (_XSD_STRING, _RDF_LANGSTRING) else URIRef(dt))


def triples(document, *, base_iri: str | None = None, media_type: str = "application/ld+json",
            limits: Limits = DEFAULT_LIMITS) -> list:
    """A document -> pyoxigraph triples (Quads in the default graph). See ``load`` for inputs."""
    if isinstance(document, (dict, list)):
        from .parse import check_shape, jsonld_to_triples
        check_shape(document, limits)
        return jsonld_to_triples(document, base_iri, limits)
    if isinstance(document, os.PathLike):
        document, media_type = _read_path(document, media_type)
    return document_to_triples(document, media_type, base_iri, limits)


def _read_path(path, media_type: str) -> tuple[bytes, str]:
    """A file's bytes and media type (by its suffix, unless the caller said otherwise)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror}", code="unreadable") from None
    if media_type == "application/ld+json" and path.suffix in (".html", ".htm"):
        media_type = "text/html"
    elif media_type == "application/ld+json" and path.suffix == ".ttl":
        media_type = "text/turtle"
    return data, media_type


def load(document, *, base_iri: str | None = None, media_type: str = "application/ld+json",
         limits: Limits = DEFAULT_LIMITS) -> Graph:
    """Read a profile into an rdflib Graph, with no network access ever.

    ``document`` is a decoded JSON value (dict/list), JSON-LD/HTML/Turtle text
    (str or bytes, per ``media_type``), or a ``pathlib.Path``. Contexts must
    be pinned (hubnet's or schema.org's, any spelling) or inline; any other
    raises ``DocumentError(code="unsupported_context")`` before parsing.
    """
    g = Graph()
    g.bind("schema", str(SCHEMA), replace=True)  # rdflib pre-binds schema: to https://schema.org/
    g.bind("hubnet", str(HUBNET))
    g.bind("org", str(ORG))
    for q in triples(document, base_iri=base_iri, media_type=media_type, limits=limits):
        g.add((_to_rdflib(q.subject), _to_rdflib(q.predicate), _to_rdflib(q.object)))
    return g


def validate(document_or_graph, *, base_iri: str | None = None, media_type: str = "application/ld+json",
             published_at: str | None = None) -> Report:
    """Validate a profile (anything ``load`` takes, or a Graph). Unreadable input raises DocumentError.

    ``published_at``: the URL the profile is (or will be) read from. The
    aggregator's authority rule is then checked too: a group that is not on
    that site is an ``@id`` error with the aggregator's code, ``id_mismatch``.

    JSON-LD (a file, bytes, an HTML page's script blocks or a decoded value) is
    decoded first and checked as JSON too, so every door (the CLI on a file or
    URL, the editor, export) applies the same rules: a link written as words
    would otherwise become a relative IRI that vanishes, or resolves against
    the page's address, before the shapes ever see it.
    """
    if isinstance(document_or_graph, Graph):
        return _checked(Data.from_graph(document_or_graph), None, published_at)
    document = document_or_graph
    if isinstance(document, os.PathLike):
        document, media_type = _read_path(document, media_type)
    if isinstance(document, (bytes, str)):   # read once as RDF; JSON-LD decoded once more for its JSON checks
        rows = document_rows(document, media_type, base_iri)
        turtle = (media_type or "").split(";")[0].strip().lower() in TURTLE_TYPES
        return validate_rows(rows, None if turtle else read_document(document, media_type),
                             published_at=published_at)
    return _checked(Data.from_quads(triples(document, base_iri=base_iri)), document, published_at)


def validate_rows(rows, document=None, *, published_at: str | None = None) -> Report:
    """``validate`` for a document already read by ``vocab.parse.document_rows`` (as the crawler's
    parse_source reads every profile): its statements are not parsed again. ``document`` is its
    decoded JSON (``read_document``) for the checks made on the JSON itself; None for Turtle."""
    return _checked(Data.from_rows(rows), document, published_at)


def _checked(data: Data, document, published_at: str | None) -> Report:
    report = validate_data(data)
    if isinstance(document, (dict, list)):
        known = {i.field for i in report.errors}  # the RDF check already spoke about these fields
        extra = [i for i in check_url_strings(document) if i.field not in known]
        report.issues = sorted(report.issues + extra, key=lambda i: (i.severity != "violation", i.field))
    if published_at:
        report.issues = check_published_at(data, published_at) + report.issues
    return report


__all__ = [
    "load", "triples", "validate", "validate_rows", "read_document", "Report", "Issue", "Limits",
    "CONTEXT_IRI", "PINNED", "hubnet_context", "pinned_context", "inline_contexts", "is_pinned",
    "SCHEMA", "HUBNET", "ORG", "KIND", "CATEGORY", "GROUP_TYPES", "LINK_PROPERTIES",
    "kinds", "categories", "slug_of", "find_groups",
    "HubnetError", "DocumentError", "ProfileInvalid", "FetchError", "QueryError", "NotFound", "StoreError",
]
