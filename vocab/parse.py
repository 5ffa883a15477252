"""Read a profile document into RDF without ever touching the network.

One path for everything hubnet reads, the node's own profile and the
crawler's hostile input alike:

1. ``read_json`` / ``extract_html_jsonld``: bytes -> JSON, with the depth and
   size checks done before any JSON-LD processing (docs/threat-model.md T7, C6, C12).
2. ``contexts.inline_contexts_in_place``: every ``@context`` reference replaced
   by its pinned local copy, or the document refused (T4, T5).
3. ``pyoxigraph.parse``: the fast JSON-LD parser, with named graphs refused
   (T8: a document must not choose graph names).
4. ``https://schema.org/`` IRIs normalised to ``http://schema.org/`` so both
   spellings of the web meet in one vocabulary.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from html.parser import HTMLParser
from itertools import repeat

import pyoxigraph as ox

from .contexts import inline_contexts_in_place, inline_contexts_in_place_importing, shared_context_json
from .errors import DocumentError
from .model import SCHEMA

_HTTPS_SCHEMA = "https://schema.org/"

JSON_TYPES = ("application/ld+json", "application/json")
HTML_TYPES = ("text/html", "application/xhtml+xml")
TURTLE_TYPES = ("text/turtle",)


@dataclass(frozen=True)
class Limits:
    """Caps on what one document may cost (docs/threat-model.md T7)."""

    max_json_depth: int = 64
    max_json_nodes: int = 10_000
    max_triples: int = 5_000
    max_literal: int = 64 * 1024
    max_iri: int = 2083


DEFAULT_LIMITS = Limits()


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


# json.loads(text, parse_constant=...) makes a new decoder for every call; this one is made once.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _loads(text):
    """``json.loads(text, parse_constant=_reject_constant)``, with the one decoder for a str."""
    if not isinstance(text, str):
        return json.loads(text, parse_constant=_reject_constant)
    if text.startswith("\ufeff"):   # as json.loads refuses a str that starts with a byte-order mark
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def read_json(data, limits: Limits = DEFAULT_LIMITS):
    """Decode JSON text (bytes or str) and check its shape; never raises anything but DocumentError."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"the document is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                code="bad_encoding") from None
    try:
        value = _loads(data)
    except RecursionError:
        raise DocumentError("the JSON is nested too deeply", code="too_deep") from None
    except (ValueError, MemoryError) as exc:
        raise DocumentError(f"the document is not valid JSON: {exc}", code="invalid_document") from None
    check_shape(value, limits)
    return value


def check_shape(value, limits: Limits = DEFAULT_LIMITS) -> None:
    """Iteratively check nesting depth, node count and numbers of a decoded JSON value."""
    if not isinstance(value, (dict, list)):
        raise DocumentError("the document must be a JSON object (or a list of objects), "
                            f"not {type(value).__name__}", code="invalid_document")
    if isinstance(value, list) and (not value or not all(isinstance(v, dict) for v in value)):
        raise DocumentError("the document must be a JSON object (or a list of objects), "
                            "not an empty list or a list of other values", code="invalid_document")
    # Depth-first, in the same order as ever (which limit a hostile document hits first
    # decides its error code); zip/repeat builds the (child, depth) pairs in C.
    max_depth, max_nodes = limits.max_json_depth, limits.max_json_nodes
    stack = [(value, 1)]
    pop, push = stack.pop, stack.extend
    nodes = 0
    while stack:
        item, depth = pop()
        nodes += 1
        if depth > max_depth:
            raise DocumentError(f"the JSON is nested more than {max_depth} levels deep", code="too_deep")
        if nodes > max_nodes:
            raise DocumentError(f"the JSON has more than {max_nodes} values", code="too_large")
        if type(item) is str:
            continue  # most values: nothing more to check
        if isinstance(item, dict):
            push(zip(item.values(), repeat(depth + 1)))
        elif isinstance(item, list):
            push(zip(item, repeat(depth + 1)))
        elif isinstance(item, float) and not math.isfinite(item):
            raise DocumentError("the JSON holds a number too large to represent", code="invalid_document")


class _ScriptExtractor(HTMLParser):
    """Collects the text of every <script type="application/ld+json"> element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            kind = (dict(attrs).get("type") or "").split(";")[0].strip().lower()
            if kind == "application/ld+json":
                self._current = []

    def handle_endtag(self, tag):
        if tag == "script" and self._current is not None:
            self.blocks.append("".join(self._current))
            self._current = None

    def handle_data(self, data):
        if self._current is not None:
            self._current.append(data)


def extract_html_jsonld(data, limits: Limits = DEFAULT_LIMITS):
    """The JSON-LD embedded in an HTML page, as one JSON value (a list when there are several blocks).

    Websites often carry one broken block beside good ones; broken blocks are
    skipped as long as one block reads. A page with none is an error that says so.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    parser = _ScriptExtractor()
    parser.feed(data)
    parser.close()
    if not parser.blocks:
        raise DocumentError('the page has no <script type="application/ld+json"> block', code="no_jsonld")
    values, last_error = [], None
    for block in parser.blocks:
        try:
            values.append(read_json(block, limits))
        except DocumentError as exc:
            last_error = exc
    if not values:
        raise last_error
    if len(values) == 1:
        return values[0]
    flat = []
    for v in values:
        flat.extend(_top_level_nodes(v))
    check_shape(flat, limits)
    return flat


def _top_level_nodes(block) -> list:
    """One script block's top-level nodes, so that several blocks can share one array.

    ``{"@context": c, "@graph": [...]}`` on its own is the default graph (what
    Yoast SEO and most plugins write), but inside an array it would be a node
    with a named graph. Its nodes are lifted out, each keeping the block's context.
    """
    if isinstance(block, list):
        return block
    if "@graph" not in block or not set(block) <= {"@context", "@graph"}:
        return [block]
    graph = block["@graph"] if isinstance(block["@graph"], list) else [block["@graph"]]
    nodes = [n for n in graph if isinstance(n, dict)]
    if "@context" not in block:
        return nodes
    outer = block["@context"] if isinstance(block["@context"], list) else [block["@context"]]
    lifted = []
    for node in nodes:
        if "@context" in node:
            inner = node["@context"] if isinstance(node["@context"], list) else [node["@context"]]
            node = {**node, "@context": outer + inner}
        else:
            node = {"@context": block["@context"], **node}
        lifted.append(node)
    return lifted


def read_document(data, media_type: str = "application/ld+json", limits: Limits = DEFAULT_LIMITS):
    """Bytes of a JSON-LD or HTML document -> its JSON-LD value (not yet RDF)."""
    media_type = (media_type or "").split(";")[0].strip().lower()
    if media_type in HTML_TYPES:
        return extract_html_jsonld(data, limits)
    return read_json(data, limits)


def _normalise_iri(term):
    if isinstance(term, ox.NamedNode) and term.value.startswith(_HTTPS_SCHEMA):
        return ox.NamedNode(SCHEMA + term.value[len(_HTTPS_SCHEMA):])
    return term


def jsonld_to_triples(document, base_iri: str | None, limits: Limits = DEFAULT_LIMITS) -> list:
    """A decoded JSON-LD value -> pyoxigraph triples (as Quads in the default graph)."""
    return _quads(_parse_rows(_jsonld_payload(document, owned=False), ox.RdfFormat.JSON_LD, base_iri, limits))


def turtle_to_triples(data, base_iri: str | None, limits: Limits = DEFAULT_LIMITS) -> list:
    return _quads(_parse_rows(data, ox.RdfFormat.TURTLE, base_iri, limits))


def document_to_triples(data, media_type: str, base_iri: str | None, limits: Limits = DEFAULT_LIMITS) -> list:
    """Bytes as served (JSON-LD, JSON, HTML with embedded JSON-LD, Turtle) -> triples."""
    return _quads(document_rows(data, media_type, base_iri, limits))


def document_rows(data, media_type: str, base_iri: str | None, limits: Limits = DEFAULT_LIMITS) -> list:
    """``document_to_triples``, each triple with the terms this module already read from it.

    One tuple per triple: ``(quad, subject, predicate, object, subject IRI,
    predicate IRI, object value)``; the subject IRI is None unless the subject
    is a NamedNode, the object value None unless the object is a NamedNode,
    Literal or BlankNode. Reading a term or its value from pyoxigraph makes a
    new Python object each time, so a caller that looks at every triple (the
    crawler) gets them here rather than reading them all again. The answer is
    a ``Rows`` list: it also carries the decoded JSON (see there).
    """
    kind = (media_type or "").split(";")[0].strip().lower()
    if kind in TURTLE_TYPES:
        rows = Rows(_parse_rows(data, ox.RdfFormat.TURTLE, base_iri, limits))
        rows.document = None
        return rows
    document = read_document(data, kind, limits)
    safe, imported = inline_contexts_in_place_importing(document)
    rows = Rows(_parse_rows(_payload(safe), ox.RdfFormat.JSON_LD, base_iri, limits))
    rows.document = None if imported else document
    return rows


class Rows(list):
    """``document_rows``' rows, and as ``document`` the JSON they were read from, for the checks made
    on the JSON itself (``vocab.validate.check_url_strings``) without decoding the body again: the
    value ``read_document`` gives, but with every ``@context`` member replaced by the pinned context
    it names (a shared object: never modify it). None for Turtle, and when the document holds an
    ``@import`` (inlining it adds the imported context's entries to a dict): read it again then."""

    __slots__ = ("document",)


def _quads(rows) -> list:
    return [row[0] for row in rows]


def _jsonld_payload(document, owned: bool) -> bytes:
    """The document with its contexts inlined, as the JSON text pyoxigraph reads.

    ``owned``: ``document`` was decoded by us for this call only, so contexts
    are inlined into it rather than into a deep copy.
    """
    return _payload(inline_contexts_in_place(document if owned else copy.deepcopy(document)))


def _payload(safe) -> bytes:
    """A document whose contexts are inlined as the JSON text pyoxigraph reads. The pinned contexts put
    in are shared, read-only objects, and when the document is an object whose first member is a
    pinned ``@context`` (nearly every profile) that member's text is the cached serialisation: the
    same bytes ``json.dumps`` would write for the whole object, without serialising the context
    every time."""
    if type(safe) is dict and safe and next(iter(safe)) == "@context":
        text = shared_context_json(safe["@context"])
        if text is not None:
            rest = dict(safe)
            del rest["@context"]
            if not rest:
                return ('{"@context": ' + text + "}").encode("utf-8")
            # json.dumps writes an object as "{" + members joined by ", " + "}".
            return ('{"@context": ' + text + ", " + json.dumps(rest)[1:]).encode("utf-8")
    return json.dumps(safe).encode("utf-8")


def _parse_rows(payload, fmt, base_iri, limits: Limits) -> list:
    try:
        return _checked_rows(ox.parse(payload, format=fmt, base_iri=base_iri, without_named_graphs=True), limits)
    except DocumentError:
        raise
    except SyntaxError as exc:
        msg = str(exc)
        if "named graph" in msg.lower():
            raise DocumentError("the document defines named graphs (an @graph with an @id); "
                                "a profile may only describe its own subjects", code="named_graph_forbidden") from None
        raise DocumentError(f"the document could not be read as RDF: {msg}", code="invalid_document") from None
    except RecursionError:
        raise DocumentError("the document is nested too deeply", code="too_deep") from None
    except (ValueError, TypeError, MemoryError, OSError) as exc:
        raise DocumentError(f"the document could not be read as RDF: {exc}", code="invalid_document") from None


def _checked_rows(quads, limits: Limits) -> list:
    """Parser output -> rows (see ``document_rows``): default graph, schema.org IRIs normalised, sizes checked.

    The hot loop of every parse: it reads each term once, makes no per-term
    function calls, and keeps the parser's own Quad unless a term changes
    (building an ``ox.Quad`` costs microseconds: pyoxigraph tries each term
    type in turn). Checks, in order: subject IRI, predicate IRI, then object
    (IRI or literal) length, each after https://schema.org/ normalisation.
    """
    named_node, blank_node, literal, default_graph = ox.NamedNode, ox.BlankNode, ox.Literal, ox.DefaultGraph
    max_triples, max_literal, max_iri = limits.max_triples, limits.max_literal, limits.max_iri
    out = []
    append = out.append
    for q in quads:
        if len(out) >= max_triples:
            raise DocumentError(f"the document holds more than {max_triples} statements", code="too_many_triples")
        s, p, o = q.subject, q.predicate, q.object
        changed = type(q.graph_name) is not default_graph  # cannot happen (without_named_graphs); never trust it
        sv = ov = None
        if type(s) is named_node:
            sv = s.value
            if sv.startswith(_HTTPS_SCHEMA):
                s, changed = _normalise_iri(s), True
                sv = s.value
            if len(sv) > max_iri:
                raise DocumentError(f"an IRI is longer than {max_iri} characters", code="iri_too_long")
        pv = p.value  # a predicate is always an IRI
        if pv.startswith(_HTTPS_SCHEMA):
            p, changed = _normalise_iri(p), True
            pv = p.value
        if len(pv) > max_iri:
            raise DocumentError(f"an IRI is longer than {max_iri} characters", code="iri_too_long")
        t = type(o)
        if t is literal:
            ov = o.value
            if len(ov) > max_literal:
                raise DocumentError(f"a text value is longer than {max_literal} characters", code="literal_too_long")
        elif t is named_node:
            ov = o.value
            if ov.startswith(_HTTPS_SCHEMA):
                o, changed = _normalise_iri(o), True
                ov = o.value
            if len(ov) > max_iri:
                raise DocumentError(f"an IRI is longer than {max_iri} characters", code="iri_too_long")
        elif t is blank_node:
            ov = o.value
        else:  # an RDF 1.2 triple term (Turtle's <<( )>>, or the reifier a << >> or {| |} stands for)
            raise DocumentError("the document holds a statement about a statement (an RDF 1.2 triple term); "
                                "a profile states plain facts only", code="triple_term_forbidden")
        # Quad() without a graph is in the default graph
        append((ox.Quad(s, p, o) if changed else q, s, p, o, sv, pv, ov))
    return out
