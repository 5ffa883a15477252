"""Authority: a document speaks only for subjects on its own origin.

The origin is that of the document's *final* URL, after redirects (a redirect
from evil.test to victim.test gives evil.test nothing). A subject is on the
origin when host and port match and the scheme is the same, or the subject is
``http`` and the document came over ``https`` (a site that moved to https
keeps its old identity IRIs). The reverse is refused: a document fetched over
plain http could have been altered in transit, so it may not speak for an
https identity. Triples about any other subject are dropped and counted.

The rule lives in ``vocab`` so that the aggregator (which applies it to what it
crawls) and the group's own tools (``hubnet-node validate URL``, ``export
--base-url``, ``serve``) refuse the same profiles with the same words.

On a shared host (issue 17): a node hosting many groups by path (``https://hub.example.org/<slug>/``)
says so in its ``/.well-known/hubnet`` (``{"hosting": "path"}``, read by ``hosting_rule``). There a
document speaks only for subjects in its own group's path (``scope``), so one hosted group cannot
make statements about another on the same host. The crawl fetches that document and passes the
answer in (``by_path``); nothing here does I/O, and it imports nothing of hubnet but its errors.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from .errors import DocumentError

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) IRI; None for anything else, and for an IRI with
    userinfo: ``http://victim.test@evil.test/`` reads as victim.test to a person, so it is
    nobody's identity (issue 12)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        # userinfo (https://victim.example@evil.example/) shows one site and names another: no origin
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme]


def scope(url: str) -> str | None:
    """The group path a URL lies in on a host that hosts groups by path: ``/<slug>/`` for
    ``/<slug>/...``, ``/`` for the host's own top-level pages. None for a path that could name
    another group's path in disguise (dot segments, encoded slashes or dots, backslashes)."""
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        return None
    segments = path.split("/")
    if "\\" in path or _DISGUISED.search(path) or any(seg in (".", "..") for seg in segments):
        return None
    return f"/{segments[1]}/" if len(segments) > 2 and segments[1] else "/"


def hosting_rule(body: bytes) -> str:
    """``"path"`` if a ``/.well-known/hubnet`` body declares hosting groups by path, else ``"origin"``."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "origin"
    return "path" if isinstance(doc, dict) and doc.get("hosting") == "path" else "origin"


def speaks_for(document_url: str, subject_iri: str, by_path: bool = False) -> bool:
    """May a document fetched from ``document_url`` make statements about ``subject_iri``?

    ``by_path``: the document's host hosts groups by path, so the subject must also be in the
    document's own group path."""
    if by_path:
        own = scope(document_url)
        if own is None or scope(subject_iri) != own:
            return False
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


def foreign_group(group_iris, document_url: str, by_path: bool = False) -> str | None:
    """The group an aggregator would refuse the document for (``id_mismatch``), else None.

    ``group_iris`` are the document's groups, None for a group without an ``@id``
    (a blank node, which the aggregator names under the document's own URL). The
    document is refused when it has groups and it speaks for none of them.
    """
    groups = list(group_iris)
    if any(g is None or speaks_for(document_url, g, by_path) for g in groups):
        return None
    return groups[0] if groups else None


def id_mismatch(group_iri: str, document_url: str, by_path: bool = False) -> DocumentError:
    """The aggregator's refusal of a profile whose group is on another site (or, on a host that hosts
    groups by path, outside the document's own group path), with how to fix it."""
    parts = urlsplit(document_url)
    here = f"{parts.scheme}://{parts.netloc}{(scope(document_url) or '/') if by_path else '/'}"
    where = "in its own group's path on a host that hosts groups by path" if by_path else "on its own website"
    return DocumentError(
        f"the profile describes {group_iri}, which is not on the site it was fetched from "
        f"({document_url}); a document may only describe groups {where}. To fix it, publish "
        f"the profile on the group's own site, or give the group an address on {here} "
        f"(an @id such as {here}#group)", code="id_mismatch")


def has_userinfo(iri: str) -> bool:
    """Does ``iri`` carry a user name or password (``scheme://user@host/``)?"""
    try:
        return "@" in urlsplit(iri).netloc
    except ValueError:
        return False


def owns_graph(source_url: str, graph_url: str) -> bool:
    """May the source fetched at ``source_url`` keep its statements in the graph ``graph_url``?

    Only when the graph is on the source's own origin (the final URL of a same-site
    redirect, http -> https included): a redirect to another site gives the redirecting
    source nothing there; the target is a source of its own (docs/crawler.md).
    """
    return source_url == graph_url or speaks_for(graph_url, source_url)


def authority(document_url: str, by_path: bool = False):
    """``speaks_for(document_url, ·, by_path)`` as a function of the subject IRI, for many subjects of one document.

    Most subjects of a profile start with the document's own ``scheme://host/``,
    and for those the answer is known without parsing: such an IRI splits to
    exactly that scheme and host on the default port (or the port written in
    the prefix). That shortcut is only taken for plain lowercase DNS/IPv4 hosts
    (no IPv6 brackets, userinfo or odd characters that ``urlsplit`` might read
    differently); every other IRI goes through ``speaks_for``, once per IRI.
    """
    cache: dict = {}
    doc = origin(document_url)
    prefixes: tuple = ()
    if doc is not None and _PLAIN_HOST.fullmatch(doc[1]) and not by_path:
        scheme, host, port = doc
        if port == _DEFAULT_PORTS[scheme]:
            prefixes = (f"{scheme}://{host}/",) + ((f"http://{host}/",) if scheme == "https" else ())
        else:
            prefixes = (f"{scheme}://{host}:{port}/",)

    def speaks(subject_iri: str) -> bool:
        if subject_iri.startswith(prefixes):
            return True
        ok = cache.get(subject_iri)
        if ok is None:
            ok = cache[subject_iri] = speaks_for(document_url, subject_iri, by_path)
        return ok

    return speaks


_PLAIN_HOST = re.compile(r"[a-z0-9.-]+")
_DISGUISED = re.compile(r"%(2f|2e|5c)", re.I)   # an encoded "/", "." or "\\" in a path
