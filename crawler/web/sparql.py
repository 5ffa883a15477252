"""``/sparql``: the SPARQL 1.1 Protocol endpoint, read-only and hardened.

The protocol (w3.org/TR/sparql11-protocol): a query by GET ``?query=``, by POST of a
form (``query=``) or by POST of the query itself (``application/sparql-query``), with
optional ``default-graph-uri``/``named-graph-uri``; the answer's format is negotiated
with ``Accept``. Everything that could reach outside the store or change it is refused
before evaluation (docs/threat-model.md T15, G1-G4): updates, ``SERVICE``, ``LOAD``, and graphs
that are not in the store. Evaluation happens in ``crawler.queryservice``: worker
processes with a hard wall-clock kill, a row cap and a concurrency cap (T16, G5-G9).

Errors use the one JSON error shape (``HubnetError.to_dict()``). A browser that opens
``/sparql`` without a query gets a small query page; a client asking for RDF gets the
service description.

Wiring (the app factory owns this)::

    from hubnet.crawler.web import sparql
    sparql.init_app(app, store, timeout=10.0, row_cap=10_000, workers=2)
    app.register_blueprint(sparql.bp)
    ...
    app.extensions["hubnet.queries"].refresh()   # after each crawl batch or ping
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from urllib.parse import unquote_to_bytes

from flask import Blueprint, Response, current_app, render_template, request, url_for
from werkzeug.datastructures import MIMEAccept

from hubnet.crawler.query.workers import DEFAULT_GRAPH_FORMAT, DEFAULT_RESULTS_FORMAT, QueryService
from hubnet.crawler.query.forward import service_class
from hubnet.crawler.query.sparql import MAX_QUERY_BYTES, check_query
from hubnet.vocab.errors import HubnetError, QueryError

_HERE = Path(__file__).resolve().parent
bp = Blueprint("sparql", __name__, template_folder=str(_HERE / "templates"),
               static_folder=str(_HERE / "static"), static_url_path="/sparql/static")

EXTENSION = "hubnet.queries"

# Offered types, in the order we prefer them when the client does not mind (*/*).
SELECT_TYPES = ["application/sparql-results+json", "application/sparql-results+xml", "text/csv",
                "text/tab-separated-values", "application/json", "application/xml"]
ASK_TYPES = ["application/sparql-results+json", "application/sparql-results+xml", "application/json",
             "application/xml"]  # CSV/TSV have no boolean form in the W3C notes
GRAPH_TYPES = ["text/turtle", "application/n-triples", "application/ld+json", "application/rdf+xml"]
_TEXT_TYPES = {"text/csv", "text/tab-separated-values", "text/turtle", "application/n-triples"}

FORM_TYPE = "application/x-www-form-urlencoded"
QUERY_TYPE = "application/sparql-query"
UPDATE_TYPE = "application/sparql-update"

# A form-encoded 10 KiB query can take three times as many bytes; anything bigger is refused unread.
MAX_BODY = 4 * MAX_QUERY_BYTES
MAX_PARAMS = 100

CORS_HEADERS = {
    # A public, read-only, credential-less endpoint: any page may query it.
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Hubnet-Truncated, X-Hubnet-Row-Cap, Server-Timing, Retry-After",
}


def init_app(app, store, *, timeout: float = 10.0, row_cap: int = 10_000, workers: int = 2,
             **options) -> QueryService:
    """Create the query service for ``store`` and keep it as ``app.extensions["hubnet.queries"]``.

    ``options`` go to ``QueryService`` (``workdir``, ``queue_wait``, ``byte_cap``,
    ``memory_limit``, ``start_method``, ``isolate_network``, ``client_concurrency``,
    ``client_seconds``). Registering ``bp`` is the
    app factory's job. Call ``.refresh()`` on the service after the data changed.
    """
    old = app.extensions.get(EXTENSION)
    if old is not None:
        old.close()
    service = service_class(store)(store, options.pop("workdir", None), timeout=timeout, row_cap=row_cap,
                                   workers=workers, **options)
    app.extensions[EXTENSION] = service
    return service


# ---------------------------------------------------------------------- the endpoint
@bp.route("/sparql", methods=["GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"])
def sparql():
    if request.method == "OPTIONS":
        return _preflight()
    try:
        return _handle()
    except HubnetError as exc:
        return error_response(exc)


def _preflight() -> Response:
    resp = Response(status=204)
    resp.headers.update(CORS_HEADERS)
    resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    resp.headers["Access-Control-Allow-Headers"] = "Content-Type, Accept"
    resp.headers["Access-Control-Max-Age"] = "86400"
    resp.headers["Allow"] = "GET, POST, OPTIONS"
    return resp


def _handle() -> Response:
    if request.method not in ("GET", "HEAD", "POST"):
        err = QueryError(f"{request.method} is not allowed: query with GET or POST; this endpoint is "
                         "read-only", code="method_not_allowed", status=405)
        resp = error_response(err)
        resp.headers["Allow"] = "GET, POST, OPTIONS"
        return resp
    params, direct_query = _read_request()
    if "update" in params or direct_query is _UPDATE:
        raise QueryError("SPARQL Update is not available: this endpoint is read-only",
                         code="update_forbidden")
    queries = params.get("query", [])
    if direct_query is not None:
        queries = [*queries, direct_query]
    if len(queries) > 1:
        raise QueryError("the request carries more than one query; send exactly one", code="multiple_queries")
    if not queries:
        return _no_query()
    text = queries[0].lstrip("\ufeff")
    if not text.strip():
        raise QueryError("the query is empty", code="missing_query")

    service: QueryService | None = current_app.extensions.get(EXTENSION)
    if service is None:
        raise QueryError("the SPARQL endpoint is not configured on this server", code="service_unavailable",
                         status=503)
    results_format = _negotiate(SELECT_TYPES, DEFAULT_RESULTS_FORMAT)
    ask_format = _negotiate(ASK_TYPES, DEFAULT_RESULTS_FORMAT)
    graph_format = _negotiate(GRAPH_TYPES, DEFAULT_GRAPH_FORMAT)
    checked = check_query(text, service.graph_exists)  # refused before any worker sees it; tokenized once
    form = checked.form
    if form == "boolean":
        results_format = ask_format
    wanted = {"select": results_format, "boolean": results_format, "graph": graph_format}
    if (form and wanted[form] is None) or (form is None and not (results_format or graph_format)):
        offered = GRAPH_TYPES if form == "graph" else ASK_TYPES if form == "boolean" else SELECT_TYPES
        raise QueryError("none of the types in the Accept header can carry this answer; this endpoint "
                         f"writes {', '.join(offered)}", code="not_acceptable", status=406)

    result = service.execute(text, results_format=results_format, graph_format=graph_format,
                             default_graphs=params.get("default-graph-uri"),
                             named_graphs=params.get("named-graph-uri"), client=client_key(),
                             checked=checked)
    mimetype = result.media_type
    resp = Response(result.body, status=200,
                    content_type=f"{mimetype}; charset=utf-8" if mimetype in _TEXT_TYPES else mimetype)
    resp.headers.update(CORS_HEADERS)
    resp.headers["Vary"] = "Accept"
    resp.headers["Server-Timing"] = f"query;dur={result.seconds * 1000:.1f}"
    if result.truncated:
        resp.headers["X-Hubnet-Truncated"] = "true"
        resp.headers["X-Hubnet-Row-Cap"] = str(service.row_cap)
    return resp


_UPDATE = object()  # marks a body sent as application/sparql-update


def _read_request():
    """(params as name -> [values], query text from a direct POST body or None).

    Parameters are decoded here, strictly as UTF-8, rather than by Werkzeug, which would
    silently replace bad bytes: a query that is not valid UTF-8 gets a 400, not a guess.
    """
    params = _parse_params(request.query_string)
    if request.method != "POST":
        return params, None
    ctype = request.mimetype
    charset = (request.mimetype_params.get("charset") or "utf-8").lower().replace("_", "-")
    if ctype not in (FORM_TYPE, QUERY_TYPE, UPDATE_TYPE):
        raise QueryError(f"a POST must be {FORM_TYPE} (query=...) or {QUERY_TYPE} (the query itself); got "
                         f"{ctype or 'no Content-Type'}", code="unsupported_media_type", status=415)
    if charset not in ("utf-8", "utf8"):
        raise QueryError(f"the body must be UTF-8, not {charset}", code="unsupported_media_type", status=415)
    if ctype == UPDATE_TYPE:
        return params, _UPDATE
    body = _read_body()
    if ctype == FORM_TYPE:
        for name, values in _parse_params(body).items():
            params.setdefault(name, []).extend(values)
        return params, None
    try:
        return params, body.decode("utf-8")
    except UnicodeDecodeError:
        raise QueryError("the query is not valid UTF-8", code="bad_encoding") from None


def _read_body() -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise _too_long()
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise _too_long()
    return body


def _too_long() -> QueryError:
    return QueryError(f"the query is longer than {MAX_QUERY_BYTES // 1024} KiB", code="query_too_long", status=413)


def _parse_params(raw: bytes) -> dict:
    """application/x-www-form-urlencoded bytes -> {name: [values]}, strictly UTF-8.

    Hand-rolled because ``urllib.parse.parse_qsl`` on bytes decodes leniently and then
    fails with a misleading error on anything that is not ASCII.
    """
    fields = [f for f in raw.split(b"&") if f]
    if len(fields) > MAX_PARAMS:
        raise QueryError(f"too many parameters (more than {MAX_PARAMS})", code="bad_request")
    params: dict = {}
    try:
        for field in fields:
            name, _, value = field.partition(b"=")
            name = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
            params.setdefault(name, []).append(unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8"))
    except UnicodeDecodeError:
        raise QueryError("a parameter is not valid UTF-8 once percent-decoded", code="bad_encoding") from None
    return params


def _accept() -> MIMEAccept | None:
    return request.accept_mimetypes if request.headers.get("Accept", "").strip() else None


def _negotiate(offers: list, default: str) -> str | None:
    """The client's best type among ``offers`` (q-values honoured); ``default`` if it sent no Accept."""
    accept = _accept()
    if accept is None:
        return default
    match = accept.best_match(offers)
    return match if match and accept.quality(match) > 0 else None


def _no_query() -> Response:
    """No query: the query page for browsers, the service description for RDF clients, else 400."""
    accept = _accept()
    if request.method != "POST" and accept is not None:
        # Only a client that names the type gets it: curl's "*/*" gets the 400 that explains.
        explicit = {value for value, q in accept if q > 0}
        if "text/html" in explicit and accept.best_match(["text/html", *GRAPH_TYPES]) == "text/html":
            return _query_page()
        if explicit & set(GRAPH_TYPES):
            return _service_description(accept.best_match(GRAPH_TYPES))
    raise QueryError("no query: send one as ?query=..., a form field query=..., or a POST body of type "
                     f"{QUERY_TYPE}", code="missing_query")


def error_response(exc: HubnetError) -> Response:
    resp = Response(json.dumps(exc.to_dict()), status=exc.status, mimetype="application/json")
    resp.headers.update(CORS_HEADERS)
    if getattr(exc, "retry_after", None):   # ServiceBusy (503), TooManyQueries (429)
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


def client_key() -> str:
    """Whom a query is charged to: the client's address (from the trusted proxy, if any), an IPv6 /64."""
    addr = request.remote_addr or "unknown"
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return addr
    if ip.version == 6:
        return str(ip.ipv4_mapped or ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# ---------------------------------------------------------------------- service description
def _service_description(mimetype: str) -> Response:
    import pyoxigraph as ox

    from hubnet.crawler.query.sparql import GRAPH_FORMATS

    from .render import public_url

    sd = "http://www.w3.org/ns/sparql-service-description#"
    fmt = "http://www.w3.org/ns/formats/"
    endpoint = ox.NamedNode(public_url(url_for("sparql.sparql")))
    node = ox.BlankNode("service")
    a = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    triples = [ox.Triple(node, a, ox.NamedNode(sd + "Service")),
               ox.Triple(node, ox.NamedNode(sd + "endpoint"), endpoint),
               ox.Triple(node, ox.NamedNode(sd + "supportedLanguage"), ox.NamedNode(sd + "SPARQL11Query")),
               ox.Triple(node, ox.NamedNode(sd + "feature"), ox.NamedNode(sd + "UnionDefaultGraph"))]
    for name in ("SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV",
                 "Turtle", "N-Triples", "JSON-LD", "RDF_XML"):
        triples.append(ox.Triple(node, ox.NamedNode(sd + "resultFormat"), ox.NamedNode(fmt + name)))
    body = ox.serialize(triples, format=GRAPH_FORMATS[mimetype], prefixes={"sd": sd, "formats": fmt}) \
        if mimetype in ("text/turtle", "application/rdf+xml") else ox.serialize(triples, format=GRAPH_FORMATS[mimetype])
    resp = Response(body, content_type=f"{mimetype}; charset=utf-8" if mimetype in _TEXT_TYPES else mimetype)
    resp.headers.update(CORS_HEADERS)
    resp.headers["Vary"] = "Accept"
    return resp


# ---------------------------------------------------------------------- the query page
# The repository's examples/queries, installed as package data beside this module (pyproject.toml).
EXAMPLES_DIR = _HERE / "queries" if (_HERE / "queries").is_dir() else _HERE.parents[1] / "examples" / "queries"
# The page offers a few questions, not the whole folder (which also holds the brokering
# and hub queries): one per kind of question people ask first. The first is the page's default:
# it lists the groups (typed organisations only, never a need or an offer that has a name too).
PAGE_EXAMPLES = ("groups", "groups-near-a-point", "umbrella-members", "offers-and-needs-by-category",
                 "mutual-links", "sources-with-errors")


def load_examples(directory: Path = EXAMPLES_DIR, names=PAGE_EXAMPLES) -> list:
    """The example queries: ``{"name", "title", "description", "query"}`` from ``<name>.rq`` files.

    A file's leading ``#`` comment lines say what it answers: the question up to the first
    "?" is the title, the rest the description. A missing file (e.g. an installed package without the
    repository's examples/) is skipped.
    """
    out = []
    for name in names:
        path = directory / f"{name}.rq"
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        comments = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            comments.append(line.lstrip("#").strip())
        prose = " ".join(c for c in comments if c)
        question = re.match(r"(.+?\?)\s*(.*)", prose)  # the files start with the question they answer
        title, description = (question.group(1), question.group(2)) if question else (path.stem, prose)
        out.append({"name": path.stem, "title": title, "description": description, "query": text})
    return out


_PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
             "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def _query_page() -> Response:
    service: QueryService | None = current_app.extensions.get(EXTENSION)
    examples = load_examples()
    first = examples[0]["query"] if examples else _DEFAULT_QUERY
    from .render import public_url

    html = render_template("sparql.html", layout=_layout(), examples=examples, first_query=first,
                           endpoint=public_url(url_for("sparql.sparql")),
                           timeout=service.timeout if service else None,
                           row_cap=service.row_cap if service else None,
                           max_kib=MAX_QUERY_BYTES // 1024)
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = _PAGE_CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Vary"] = "Accept"
    return resp


_STANDALONE_LAYOUT = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{% block title %}{% endblock %} · hubnet</title>
  {% block head %}{% endblock %}
</head>
<body><main id="main">{% block main %}{% endblock %}</main></body>
</html>
"""


def _layout():
    """The site's base.html when the aggregator's pages are there (its nav links to them), else a bare one."""
    if "directory" in current_app.blueprints and "base.html" in current_app.jinja_env.list_templates():
        return "base.html"
    return current_app.jinja_env.from_string(_STANDALONE_LAYOUT)


_DEFAULT_QUERY = re.sub(r"\n +", "\n", """PREFIX schema: <http://schema.org/>
    SELECT ?group ?name WHERE {
      ?group a schema:Organization ; schema:name ?name .
    } ORDER BY ?name LIMIT 50
    """)
