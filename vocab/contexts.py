"""Pinned JSON-LD contexts: the only contexts hubnet ever uses, read from this package.

A JSON-LD ``@context`` given as a URL is, to a naive processor, an instruction
to fetch that URL (docs/threat-model.md T4/T5: SSRF, local-file reads, amplification).
hubnet never fetches one. ``inline_contexts`` replaces every pinned context
reference anywhere in a document with the local copy and refuses any other
reference with ``DocumentError(code="unsupported_context")`` — before any
parser sees the document. The parsers are then given a document with no
remote references at all, so no code path can fetch a context.

The parse path uses ``inline_contexts_in_place``, which puts in one shared,
read-only copy of each context (loaded once) rather than a deep copy per
document; ``pinned_context`` and ``inline_contexts`` still hand out copies.
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
    """The parsed file, shared: never mutate it (``pinned_context`` hands out copies)."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    context = json.loads(text)["@context"]
    # Shared copies are inlined without being walked (see ``_inline``), which is
    # only sound while our own files hold no references to resolve.
    if "@import" in text or any(isinstance(v, (str, list)) for v in _nested_contexts(context)):
        raise RuntimeError(f"pinned context {name} must be self-contained")
    _SHARED[id(context)] = context
    return context


def _nested_contexts(context: dict):
    stack = [context]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "@context" in item:
                yield item["@context"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# id -> the shared, read-only context object. Holding the object here keeps the id from
# ever being reused by another dict (lru_cache may load a file twice under threads).
_SHARED: dict = {}
_SHARED_JSON: dict = {}  # id -> json.dumps() of that shared context


def shared_context_json(value) -> str | None:
    """``json.dumps(value)``, cached, if ``value`` is a shared pinned context; else None."""
    key = id(value)
    if key not in _SHARED:
        return None
    text = _SHARED_JSON.get(key)
    if text is None:
        text = _SHARED_JSON[key] = json.dumps(value)
    return text


def _shared_context(iri: str) -> dict:
    """The cached copy of a pinned context, for callers that only read it (no deepcopy per document)."""
    try:
        name = PINNED[_normalise(iri)]
    except KeyError:
        raise DocumentError(_refusal(iri), code="unsupported_context") from None
    return _load_file(name)


def pinned_context(iri: str) -> dict:
    """The local copy of a pinned context (a fresh copy: callers may mutate it)."""
    return copy.deepcopy(_shared_context(iri))


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
    return _inline(copy.deepcopy(document), shared=False)[0]


def inline_contexts_in_place(document):
    """``inline_contexts`` for a caller that owns ``document`` and only reads the result.

    Edits ``document`` itself (no copy), and inlines the shared cached pinned
    contexts rather than copies: the parser serialises the result once, so a
    deepcopy of the document and of each context per document was pure cost.
    Never mutate the result. On error ``document`` is left half-done.
    """
    return _inline(document, shared=True)[0]


def inline_contexts_in_place_importing(document) -> tuple:
    """``inline_contexts_in_place``, and whether an ``@import`` was met: the only edit of a dict it makes
    besides replacing ``@context`` values (it adds the imported context's entries to that dict). Without
    one, the result differs from ``document`` as decoded only in its ``@context`` members."""
    return _inline(document, shared=True)


def _inline(root, shared: bool) -> tuple:
    """Inline every context reference in ``root``, in place; ``shared``: use (and never walk) the cached copies.
    Returns ``root`` and whether an ``@import`` was inlined."""
    skip = _SHARED if shared else ()
    resolve = _shared_context if shared else pinned_context
    imported_any = False
    stack = [root]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        if type(item) is str:
            continue  # most values
        if isinstance(item, dict):
            if id(item) in skip:
                continue  # one of our own pinned contexts: already inline, and must stay unmodified
            if "@context" in item:
                item["@context"] = _resolve_context_value(item["@context"], resolve)
            if "@import" in item:  # inside a context definition (JSON-LD 1.1)
                ref = item.pop("@import")
                if not isinstance(ref, str):
                    raise DocumentError("@import must name a context", code="unsupported_context")
                imported = pinned_context(ref)  # a copy: its entries join (and are walked with) this dict
                imported_any = True
                for key, value in imported.items():
                    item.setdefault(key, value)
            push(item.values())
        elif isinstance(item, list):
            push(item)
    return root, imported_any


def _resolve_context_value(value, resolve):
    if value is None or isinstance(value, dict):
        return value  # dicts are walked by the caller (they may nest scoped contexts)
    if isinstance(value, str):
        return resolve(value)
    if isinstance(value, list):
        return [_resolve_context_value(v, resolve) for v in value]
    raise DocumentError(f"@context must be a URL, an object or a list, not {type(value).__name__}",
                        code="invalid_document")
