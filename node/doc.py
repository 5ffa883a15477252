"""Reading values out of a profile dict as people actually write them.

A hand-written profile may give one value or a list, a plain string or
``{"@value": ...}`` / ``{"@id": ...}``. These helpers flatten those spellings
so the page, the editor and the CLI need not care.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from hubnet.vocab import GROUP_TYPES

_GROUP_TYPE_NAMES = {str(t).rsplit("/", 1)[-1] for t in GROUP_TYPES}
SAFE_SCHEMES = ("http", "https")


def as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def text(value) -> str:
    """The first plain text of a value ("" when there is none)."""
    for item in as_list(value):
        if isinstance(item, dict):
            item = item.get("@value", item.get("name"))
            if isinstance(item, (dict, list)):
                item = text(item)
        if item is not None and not isinstance(item, (dict, list)):
            return str(item)
    return ""


def texts(value) -> list[str]:
    return [t for t in (text(v) for v in as_list(value)) if t]


def iri(value) -> str:
    """The IRI a value names: a string, or the ``@id`` of an object ("" when none)."""
    if isinstance(value, dict):
        value = value.get("@id", "")
    return value if isinstance(value, str) else ""


def iris(value) -> list[str]:
    return [i for i in (iri(v) for v in as_list(value)) if i]


def safe_href(value) -> str | None:
    """``value`` if it is an absolute http(s) URL, else None: the only links a page may render."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() in SAFE_SCHEMES and parts.netloc:
        return value.strip()
    return None


def origin(url: str) -> str | None:
    """``https://example.org:8443/a#b`` -> ``https://example.org:8443`` (None if not http(s))."""
    if not safe_href(url):
        return None
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def is_group(node) -> bool:
    return isinstance(node, dict) and any(t in _GROUP_TYPE_NAMES for t in as_list(node.get("@type")))


def group_node(doc) -> dict:
    """The group a profile describes: the document itself, or the first group in ``@graph``/a list."""
    if isinstance(doc, dict) and "@graph" not in doc:
        return doc
    items = doc.get("@graph", []) if isinstance(doc, dict) else doc
    items = [i for i in as_list(items) if isinstance(i, dict)]
    for item in items:
        if is_group(item):
            return item
    return items[0] if items else {}


def is_simple(doc) -> bool:
    """True for the one-object shape the editor can round-trip without losing anything."""
    return isinstance(doc, dict) and "@graph" not in doc


def dump(doc) -> bytes:
    """How the node writes a profile: readable, UTF-8, stable key order, final newline."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def profile_url(public_url: str | None, doc) -> str | None:
    """Where aggregators fetch this profile: PUBLIC_URL's, else the @id's origin, + /profile.jsonld."""
    if public_url:
        return public_url.rstrip("/") + "/profile.jsonld"
    base = origin(iri(group_node(doc).get("@id")) if doc else "")
    return base + "/profile.jsonld" if base else None


WELL_KNOWN_VERSION = "0.1"


def well_known(doc, profile_url: str) -> dict:
    """The body of /.well-known/hubnet: where a site's profile is, for aggregators that only know the domain."""
    group = group_node(doc)
    return {"hubnet": WELL_KNOWN_VERSION, "profile": profile_url,
            "id": iri(group.get("@id")) or None, "name": text(group.get("name")) or None}
