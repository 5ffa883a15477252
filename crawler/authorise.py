"""Authority: a document speaks only for subjects on its own origin.

The origin is that of the document's *final* URL, after redirects (a redirect
from evil.test to victim.test gives evil.test nothing). A subject is on the
origin when host and port match and the scheme is the same, or the subject is
``http`` and the document came over ``https`` (a site that moved to https
keeps its old identity IRIs). The reverse is refused: a document fetched over
plain http could have been altered in transit, so it may not speak for an
https identity. Triples about any other subject are dropped and counted.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pyoxigraph as ox

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme]


def speaks_for(document_url: str, subject_iri: str) -> bool:
    """May a document fetched from ``document_url`` make statements about ``subject_iri``?"""
    doc, sub = origin(document_url), origin(subject_iri)
    if doc is None or sub is None:
        return False
    d_scheme, d_host, d_port = doc
    s_scheme, s_host, s_port = sub
    if d_host != s_host:
        return False
    if s_scheme == d_scheme:
        return s_port == d_port
    # http identity in an https document: same host, both on their default port.
    return s_scheme == "http" and d_scheme == "https" and s_port == 80 and d_port == 443


def authorise(triples, document_url: str) -> tuple[list, int]:
    """Keep the triples whose subject the document may speak for; return (kept, dropped count)."""
    kept, dropped, cache = [], 0, {}
    for t in triples:
        s = t.subject
        if isinstance(s, ox.NamedNode):
            ok = cache.get(s.value)
            if ok is None:
                ok = cache[s.value] = speaks_for(document_url, s.value)
        else:
            ok = False  # blank nodes are skolemised before this stage; anything else is refused
        if ok:
            kept.append(t)
        else:
            dropped += 1
    return kept, dropped
