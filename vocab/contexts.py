"""Pinned JSON-LD contexts: the only contexts hubnet ever uses, read from this package.

A JSON-LD ``@context`` given as a URL is, to a naive processor, an instruction
to fetch that URL (threats.md T4/T5: SSRF, local-file reads, amplification).
hubnet never fetches one. ``inline_contexts`` replaces every pinned context
reference anywhere in a document with the local copy and refuses any other
reference with ``DocumentError(code="unsupported_context")`` — before any
parser sees the document. The parsers are then given a document with no
remote references at all, so no code path can fetch a context.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources

from .errors import DocumentError

CONTEXT_IRI = "https://w3id.org/hubnet/context.jsonld"

_SCHEMA_ORG_IRIS = [
    f"{scheme}://schema.org{suffix}"
    for scheme in ("http", "https")
    for suffix in ("", "/", "/docs/jsonldcontext.json", "/docs/jsonldcontext.jsonld")
]

# IRI -> file in this package. Written by us, not copied from the web.
PINNED = {CONTEXT_IRI: "context.jsonld", **{iri: "schemaorg-context.jsonld" for iri in _SCHEMA_ORG_IRIS}}


@lru_cache(maxsize=None)
def _load_file(name: str) -> dict:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)["@context"]


def pinned_context(iri: str) -> dict:
    """The local copy of a pinned context (a fresh copy: callers may mutate it)."""
    try:
        name = PINNED[_normalise(iri)]
    except KeyError:
        raise DocumentError(_refusal(iri), code="unsupported_context") from None
    return copy.deepcopy(_load_file(name))


def hubnet_context() -> dict:
    return pinned_context(CONTEXT_IRI)


def is_pinned(iri: str) -> bool:
    return isinstance(iri, str) and _normalise(iri) in PINNED


def _normalise(iri: str) -> str:
    return iri.strip()


def _refusal(ref) -> str:
    shown = ref if isinstance(ref, str) else json.dumps(ref)[:80]
    return (
        f"@context {shown!r} is not one hubnet knows. Only these contexts are accepted "
        f"(read from local copies, never fetched): {CONTEXT_IRI} and https://schema.org. "
        "Use one of them, or write the context inline."
    )


def inline_contexts(document):
    """Return a copy of ``document`` whose every context reference is inlined.

    Walks the whole document, including contexts nested in node objects and
    scoped contexts inside term definitions, and ``@import``. Raises
    ``DocumentError(code="unsupported_context")`` on any reference that is not
    pinned (``http://127.0.0.1/…``, ``file:///etc/passwd``, a relative path...).
    Iterative, so hostile nesting cannot exhaust the Python stack.
    """
    root = copy.deepcopy(document)
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "@context" in item:
                item["@context"] = _resolve_context_value(item["@context"])
            if "@import" in item:  # inside a context definition (JSON-LD 1.1)
                ref = item.pop("@import")
                if not isinstance(ref, str):
                    raise DocumentError("@import must name a context", code="unsupported_context")
                imported = pinned_context(ref)
                for key, value in imported.items():
                    item.setdefault(key, value)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return root


def _resolve_context_value(value):
    if value is None or isinstance(value, dict):
        return value  # dicts are walked by the caller (they may nest scoped contexts)
    if isinstance(value, str):
        return pinned_context(value)
    if isinstance(value, list):
        return [_resolve_context_value(v) for v in value]
    raise DocumentError(f"@context must be a URL, an object or a list, not {type(value).__name__}",
                        code="invalid_document")
