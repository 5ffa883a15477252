"""Read a profile document into RDF without ever touching the network.

One path for everything hubnet reads, the node's own profile and the
crawler's hostile input alike:

1. ``read_json`` / ``extract_html_jsonld``: bytes -> JSON, with the depth and
   size checks done before any JSON-LD processing (threats.md T7, C6, C12).
2. ``contexts.inline_contexts``: every ``@context`` reference replaced by its
   pinned local copy, or the document refused (T4, T5).
3. ``pyoxigraph.parse``: the fast JSON-LD parser, with named graphs refused
   (T8: a document must not choose graph names).
4. ``https://schema.org/`` IRIs normalised to ``http://schema.org/`` so both
   spellings of the web meet in one vocabulary.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from html.parser import HTMLParser

import pyoxigraph as ox

from .contexts import inline_contexts
from .errors import DocumentError

SCHEMA = "http://schema.org/"
_HTTPS_SCHEMA = "https://schema.org/"

JSON_TYPES = ("application/ld+json", "application/json")
HTML_TYPES = ("text/html", "application/xhtml+xml")
TURTLE_TYPES = ("text/turtle",)


@dataclass(frozen=True)
class Limits:
    """Caps on what one document may cost (threats.md §4)."""

    max_json_depth: int = 64
    max_json_nodes: int = 10_000
    max_triples: int = 5_000
    max_literal: int = 64 * 1024
    max_iri: int = 2083


DEFAULT_LIMITS = Limits()


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def read_json(data, limits: Limits = DEFAULT_LIMITS):
    """Decode JSON text (bytes or str) and check its shape; never raises anything but DocumentError."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"the document is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                code="bad_encoding") from None
    try:
        value = json.loads(data, parse_constant=_reject_constant)
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
    stack = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if depth > limits.max_json_depth:
            raise DocumentError(f"the JSON is nested more than {limits.max_json_depth} levels deep",
                                code="too_deep")
        if nodes > limits.max_json_nodes:
            raise DocumentError(f"the JSON has more than {limits.max_json_nodes} values", code="too_large")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
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
    safe = inline_contexts(document)
    payload = json.dumps(safe).encode("utf-8")
    return _parse(payload, ox.RdfFormat.JSON_LD, base_iri, limits)


def turtle_to_triples(data, base_iri: str | None, limits: Limits = DEFAULT_LIMITS) -> list:
    return _parse(data, ox.RdfFormat.TURTLE, base_iri, limits)


def document_to_triples(data, media_type: str, base_iri: str | None, limits: Limits = DEFAULT_LIMITS) -> list:
    """Bytes as served (JSON-LD, JSON, HTML with embedded JSON-LD, Turtle) -> triples."""
    kind = (media_type or "").split(";")[0].strip().lower()
    if kind in TURTLE_TYPES:
        return turtle_to_triples(data, base_iri, limits)
    return jsonld_to_triples(read_document(data, kind, limits), base_iri, limits)


def _parse(payload, fmt, base_iri, limits: Limits) -> list:
    try:
        quads = ox.parse(payload, format=fmt, base_iri=base_iri, without_named_graphs=True)
        out = []
        for q in quads:
            if len(out) >= limits.max_triples:
                raise DocumentError(f"the document holds more than {limits.max_triples} statements",
                                    code="too_many_triples")
            s, p, o = _normalise_iri(q.subject), _normalise_iri(q.predicate), _normalise_iri(q.object)
            _check_term_sizes((s, p, o), limits)
            out.append(ox.Quad(s, p, o, ox.DefaultGraph()))
        return out
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


def _check_term_sizes(terms, limits: Limits) -> None:
    for t in terms:
        if isinstance(t, ox.Literal):
            if len(t.value) > limits.max_literal:
                raise DocumentError(f"a text value is longer than {limits.max_literal} characters",
                                    code="literal_too_long")
        elif isinstance(t, ox.NamedNode) and len(t.value) > limits.max_iri:
            raise DocumentError(f"an IRI is longer than {limits.max_iri} characters", code="iri_too_long")
