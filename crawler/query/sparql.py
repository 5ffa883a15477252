"""Query safety and result formats, shared by ``hubnet-crawler query`` and the /sparql endpoint.

Oxigraph will happily make outbound requests for ``SERVICE`` and ``LOAD``
(docs/threat-model.md T15). So every query is checked *before* evaluation,
on its tokens: strings, IRIs and comments are skipped, and a ``SERVICE``,
``LOAD`` or update keyword anywhere refuses the query; ``FROM``/``FROM
NAMED`` may name only graphs that are in the store. A lexical check cannot be
fooled by nesting SERVICE inside OPTIONAL, UNION, a subquery or FILTER EXISTS:
the keyword is there or it is not.
"""

from __future__ import annotations

import json
import re

import pyoxigraph as ox

from hubnet.vocab.errors import QueryError

from hubnet.vocab.spreadsheet import safe as spreadsheet_safe

MAX_QUERY_BYTES = 10 * 1024
MAX_NESTING = 64

_UPDATE_WORDS = {"INSERT", "DELETE", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH"}
_FORMS = {"SELECT": "select", "ASK": "boolean", "CONSTRUCT": "graph", "DESCRIBE": "graph"}

# The tokenizer is a hand loop over anchored patterns, each of which commits to what it
# consumed, so every character is read a bounded number of times: linear in the query's
# length. (One regex alternation backtracked: ``a.a.a...`` rescanned the rest of the run
# for a ``:`` at every word, ~0.5 s for 10 KiB, issue 12 finding 7.)
_SPACE = re.compile(r"\s+")
_COMMENT = re.compile(r"#[^\n\r]*")
_LONG_STRING = {q: re.compile(q * 3 + r"(?:[^" + q + r"\\]|\\.|" + q + r"(?!" + q * 2 + r"))*" + q * 3, re.DOTALL)
                for q in "'\""}
_SHORT_STRING = {q: re.compile(q + r"(?:[^" + q + r"\\\n\r]|\\.)*" + q, re.DOTALL) for q in "'\""}
_IRI = re.compile(r"<(?:[^<>\"{}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*>")
_VAR = re.compile(r"[?$][A-Za-z0-9_\u00B7-\uFFFF]+")
_NAME_RUN = re.compile(r"[A-Za-z_][\w.\-]*")          # a prefix's characters, up to where a ':' would be
_PNAME_LOCAL = re.compile(r"(?:[\w.\-:%]|\\[_~.\-!$&'()*+,;=/?#@%])*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPEN, _CLOSE = "{([", "})]"


class Tokens(list):
    """The (kind, value) tokens of a query, comments dropped; ``steps`` counts the characters read."""

    steps = 0


def tokens(text: str) -> Tokens:
    """Tokenize once, in linear time. Raises QueryError on a quote that opens no string.

    Kinds: string, iri, var, pname, word, open, close, other. A quote outside a string is
    a syntax error, so a string that never closes is refused here rather than re-read (a
    ``'''`` that never closes is refused too, even where ``''`` then ``'...'`` might parse).
    """
    out = Tokens()
    steps, pos, n = 0, 0, len(text)
    no_colon_before = 0   # a name run starting before this index is known not to end in ':'

    def scan(pattern, start=None):
        nonlocal steps
        start = pos if start is None else start
        m = pattern.match(text, start)
        steps += (m.end() - start if m else 0) + 1
        return m

    while pos < n:
        c = text[pos]
        steps += 1
        if c.isspace():
            pos = scan(_SPACE).end()
            continue
        if c == "#":
            pos = scan(_COMMENT).end()
            continue
        if c in "'\"":
            # Every string scan either commits or ends the tokenization, so none is read twice.
            m = scan(_LONG_STRING[c] if text.startswith(c * 3, pos) else _SHORT_STRING[c])
            if m is None:
                raise QueryError(f"a string opened at character {pos + 1} is never closed",
                                 code="malformed_query")
            kind, end = "string", m.end()
        elif c == "<":
            m = scan(_IRI)
            kind, end = ("iri", m.end()) if m else ("other", pos + 1)
        elif c in "?$":
            m = scan(_VAR)
            kind, end = ("var", m.end()) if m else ("other", pos + 1)
        elif c == ":" or (c.isascii() and (c.isalpha() or c == "_")):
            colon = pos
            if c != ":" and pos >= no_colon_before:
                run_end = scan(_NAME_RUN).end()
                if text.startswith(":", run_end):
                    colon = run_end
                else:
                    no_colon_before = run_end
            if text.startswith(":", colon):
                kind, end = "pname", scan(_PNAME_LOCAL, colon + 1).end()
            else:
                kind, end = "word", scan(_WORD).end()
        elif c in _OPEN:
            kind, end = "open", pos + 1
        elif c in _CLOSE:
            kind, end = "close", pos + 1
        else:
            kind, end = "other", pos + 1
        out.append((kind, text[pos:end]))
        pos = end
    out.steps = steps
    return out


class Checked:
    """What the endpoint needs to know about a query that passed ``check_query``, from one tokenization."""

    __slots__ = ("tokens", "form", "default_graphs", "named_graphs")

    def __init__(self, toks: Tokens):
        self.tokens = toks
        self.form = next((_FORMS[v.upper()] for k, v in toks if k == "word" and v.upper() in _FORMS), None)
        self.default_graphs, self.named_graphs = _dataset_clause(toks)

    def prefixes(self) -> dict:
        """The ``PREFIX name: <iri>`` declarations, as a dict."""
        toks, out = self.tokens, {}
        for i in range(len(toks) - 2):
            if toks[i][0] == "word" and toks[i][1].upper() == "PREFIX" and toks[i + 1][0] == "pname" \
                    and toks[i + 2][0] == "iri" and toks[i + 1][1].endswith(":"):
                out[toks[i + 1][1][:-1]] = toks[i + 2][1][1:-1]
        return out


def check_query(text: str, graph_exists=None) -> Checked:
    """Refuse a query that could reach outside the store or change it. Raises QueryError."""
    if len(text.encode("utf-8")) > MAX_QUERY_BYTES:
        raise QueryError(f"the query is longer than {MAX_QUERY_BYTES // 1024} KiB", code="query_too_long", status=413)
    depth = 0
    toks = tokens(text)
    for i, (kind, value) in enumerate(toks):
        if kind == "open":
            depth += 1
            if depth > MAX_NESTING:
                raise QueryError(f"the query nests brackets more than {MAX_NESTING} deep", code="too_deep")
        elif kind == "close":
            depth -= 1
        elif kind == "other" and value == "\\":
            # A backslash is only valid inside strings, IRIs (\\u escapes) and prefixed names
            # (PN_LOCAL_ESC), which the tokenizer consumes whole. Anywhere else it is either a
            # syntax error or a sign the tokenizer and the parser disagree, e.g. `ex:p\\#` would
            # otherwise make the rest of the line look like a comment and hide a SERVICE.
            raise QueryError("unexpected backslash outside a string, IRI or prefixed name",
                             code="malformed_query")
        elif kind == "word":
            word = value.upper()
            if word == "SERVICE":
                raise QueryError("SERVICE (federated query) is not allowed: this endpoint never makes "
                                 "requests to other servers", code="service_forbidden")
            if word == "LOAD":
                raise QueryError("LOAD is not allowed: this endpoint is read-only and never fetches data",
                                 code="update_forbidden")
            if word in _UPDATE_WORDS:  # update keywords never appear bare in a query
                raise QueryError(f"{word} is an update; this endpoint is read-only", code="update_forbidden")
            if word == "FROM":
                _check_from(toks, i, graph_exists)
    return Checked(toks)


def _check_from(toks, i, graph_exists) -> None:
    j = i + 1
    if j < len(toks) and toks[j][0] == "word" and toks[j][1].upper() == "NAMED":
        j += 1
    if j >= len(toks) or toks[j][0] != "iri":
        raise QueryError("FROM must name a graph by its full IRI in <angle brackets>", code="unknown_graph")
    iri = toks[j][1][1:-1]
    if graph_exists is not None and not graph_exists(iri):
        raise QueryError(f"FROM names <{iri}>, which is not a graph in this store; this endpoint never "
                         "fetches graphs from elsewhere", code="unknown_graph")


def _dataset_clause(toks) -> tuple[list, list]:
    """The IRIs of the query's ``FROM`` and ``FROM NAMED`` clauses, in order."""
    default, named = [], []
    for i, (kind, value) in enumerate(toks):
        if kind == "word" and value.upper() == "FROM":
            j = i + 1
            is_named = j < len(toks) and toks[j][0] == "word" and toks[j][1].upper() == "NAMED"
            j += is_named
            if j < len(toks) and toks[j][0] == "iri":
                (named if is_named else default).append(toks[j][1][1:-1])
    return default, named


# ---------------------------------------------------------------------- result formats
RESULT_FORMATS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "application/xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
GRAPH_FORMATS = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}


def dataset_options(checked: Checked, default_graphs=None, named_graphs=None) -> dict:
    """pyoxigraph ``query()`` keywords for the dataset a request asks for.

    The protocol's ``default-graph-uri``/``named-graph-uri`` win over the query's own
    ``FROM``/``FROM NAMED`` (SPARQL 1.1 Protocol 2.1.4); with neither, the default graph
    is the union of all graphs. ``use_default_graph_as_union`` must NOT be passed when
    the query has a ``FROM`` clause: pyoxigraph lets it override the clause.
    """
    if default_graphs is not None or named_graphs is not None:
        return {"default_graph": [ox.NamedNode(g) for g in default_graphs or ()],
                "named_graphs": [ox.NamedNode(g) for g in named_graphs or ()]}
    if checked.default_graphs or checked.named_graphs:
        return {}  # the query's own dataset clause, which check_query restricted to in-store graphs
    return {"use_default_graph_as_union": True}


def evaluate(store, text: str, *, row_cap: int = 10_000, **kw):
    """Check and run a query on a crawler ``Store``; returns (kind, rows-or-triples-or-bool, truncated)."""
    checked = check_query(text, lambda iri: _graph_in(store, iri))
    if not kw:
        kw = dataset_options(checked)
    kw.setdefault("use_default_graph_as_union", False)  # stops Store.query forcing the union over FROM
    return execute(store, text, row_cap=row_cap, **kw)


def execute(store, text: str, *, row_cap: int = 10_000, byte_cap: int | None = None, **kw):
    """Run an already checked query on anything with a pyoxigraph-style ``query()``.

    Returns (kind, rows-or-triples-or-bool, truncated). Stops collecting at ``row_cap``
    rows (or triples), or once the terms collected add up to about ``byte_cap`` bytes,
    so a huge answer costs neither memory nor time to serialise.
    """
    try:
        result = store.query(text, **kw)
        if isinstance(result, ox.QueryBoolean):
            return "boolean", bool(result), False
        budget = byte_cap if byte_cap is not None else float("inf")
        if isinstance(result, ox.QueryTriples):
            out = []
            for t in result:
                if len(out) >= row_cap or budget < 0:
                    return "graph", out, True
                if byte_cap is not None:
                    budget -= _term_size(t.subject) + _term_size(t.predicate) + _term_size(t.object)
                out.append(t)
            return "graph", out, False
        variables = [v.value for v in result.variables]
        rows = []
        for sol in result:
            if len(rows) >= row_cap or budget < 0:
                return "select", (variables, rows), True
            row = [sol[v] for v in variables]
            if byte_cap is not None:
                budget -= sum(_term_size(t) for t in row)
            rows.append(row)
        return "select", (variables, rows), False
    except SyntaxError as exc:
        raise QueryError(f"the query is not valid SPARQL: {exc}", code="malformed_query") from None
    except (ValueError, OSError) as exc:
        raise QueryError(f"the query failed: {exc}", code="query_failed") from None


def _term_size(t) -> int:
    """Rough serialised size of a term: its text plus the markup around it in JSON results."""
    if t is None:
        return 0
    if isinstance(t, ox.Literal):
        return len(t.value) + len(t.datatype.value) + 40
    if isinstance(t, ox.Triple):
        return _term_size(t.subject) + _term_size(t.predicate) + _term_size(t.object) + 40
    return len(t.value) + 30


def _graph_in(store, iri: str) -> bool:
    try:
        return store.oxigraph.contains_named_graph(ox.NamedNode(iri))
    except ValueError:
        return False


def serialize_select(variables, rows, fmt: ox.QueryResultsFormat) -> bytes:
    """Rows of terms -> SPARQL results in ``fmt``, written by pyoxigraph's own serialisers.

    CSV and TSV are opened in spreadsheets, so there a literal that would be read as a
    formula is neutralised as /export.csv does (``crawler.spreadsheet``).
    """
    sols = _solutions(variables, rows, spreadsheet=fmt in (ox.QueryResultsFormat.CSV, ox.QueryResultsFormat.TSV))
    return sols.serialize(format=fmt)


def _solutions(variables, rows, spreadsheet: bool = False):
    # Rebuild a QuerySolutions object through pyoxigraph's JSON results parser:
    # the row cap means we hold a list, and this keeps every format pyoxigraph's.

    def term(t):
        if t is None:
            return None
        if isinstance(t, ox.NamedNode):
            return {"type": "uri", "value": t.value}
        if isinstance(t, ox.BlankNode):
            return {"type": "bnode", "value": t.value}
        if isinstance(t, ox.Triple):  # RDF 1.2 triple terms, e.g. from BIND(<<( ?s ?p ?o )>> AS ?t)
            return {"type": "triple", "value": {"subject": term(t.subject), "predicate": term(t.predicate),
                                                "object": term(t.object)}}
        d = {"type": "literal", "value": spreadsheet_safe(t.value) if spreadsheet else t.value}
        if d["value"] != t.value:
            return d   # now text: a datatype (e.g. xsd:integer for "-1") would no longer fit it
        if t.language:
            d["xml:lang"] = t.language
        elif t.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            d["datatype"] = t.datatype.value
        return d

    doc = {"head": {"vars": variables},
           "results": {"bindings": [{v: term(t) for v, t in zip(variables, row) if t is not None} for row in rows]}}
    return ox.parse_query_results(json.dumps(doc).encode("utf-8"), ox.QueryResultsFormat.JSON)


def serialize_boolean(value: bool, fmt: ox.QueryResultsFormat) -> bytes:
    doc = json.dumps({"head": {}, "boolean": value}).encode("utf-8")
    return ox.parse_query_results(doc, ox.QueryResultsFormat.JSON).serialize(format=fmt)


def serialize_triples(triples, fmt: ox.RdfFormat, prefixes: dict | None = None) -> bytes:
    """Triples -> ``fmt``; ``prefixes`` (e.g. the query's own) make Turtle readable."""
    if prefixes and fmt in (ox.RdfFormat.TURTLE, ox.RdfFormat.RDF_XML):
        try:
            return ox.serialize(triples, format=fmt, prefixes=prefixes) or b""
        except ValueError:  # a prefix the serialiser will not write: plain IRIs are still right
            pass
    return ox.serialize(triples, format=fmt) or b""


def format_table(variables, rows) -> str:
    """A plain text table for terminals."""
    cells = [[_short(t) for t in row] for row in rows]
    widths = [max([len(v) + 1] + [len(r[i]) for r in cells]) for i, v in enumerate(variables)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    out = [line(["?" + v for v in variables]), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out) + "\n"


def _short(t) -> str:
    if t is None:
        return ""
    if isinstance(t, ox.Literal):
        return t.value
    return t.value if isinstance(t, ox.NamedNode) else f"_:{t.value}"


def run_query(store, text: str, fmt: str = "table") -> str:
    """For the CLI: evaluate and format as table/json/csv/tsv (CONSTRUCT as N-Triples)."""
    kind, result, truncated = evaluate(store, text, row_cap=1_000_000)
    if kind == "boolean":
        return ("true" if result else "false") + "\n" if fmt == "table" else serialize_boolean(
            result, _CLI_FORMATS[fmt]).decode("utf-8")
    if kind == "graph":
        return serialize_triples(result, ox.RdfFormat.N_TRIPLES).decode("utf-8")
    variables, rows = result
    if fmt == "table":
        return format_table(variables, rows)
    return serialize_select(variables, rows, _CLI_FORMATS[fmt]).decode("utf-8")


_CLI_FORMATS = {"json": ox.QueryResultsFormat.JSON, "csv": ox.QueryResultsFormat.CSV,
                "tsv": ox.QueryResultsFormat.TSV}
