"""The aggregator's store on a SPARQL server (Virtuoso, Fuseki, GraphDB, Neptune): ``--store sparql+http://...``.

``RemoteStore`` is a ``Store`` whose data lives behind the W3C SPARQL 1.1 Protocol and Update, so
the crawler, the query layer and the web app run on it unchanged. Its ``oxigraph`` is a
``RemoteDataset``: the few pyoxigraph ``Store`` methods those layers use (``query``,
``quads_for_pattern``, ``contains_named_graph``, ``named_graphs``, ``update``, ``extend``,
``remove``, ``dump``), answered by the server and handed back as pyoxigraph terms.

Writes. A source's graph and its provenance record are replaced by ONE update request (delete the
old record, drop the graph, insert the new graph, then the record, and the change-log entry); new
sources (never held) go ``bulk_batch`` to a request, each inside one operation (``write_staged``). Fuseki
and GraphDB apply a request as one transaction; Virtuoso keeps the operations done before one that
fails, so the operations are ordered to leave nothing that looks whole and is not. The whole
graph is rewritten, not a difference: servers normalise literals (Virtuoso writes ``1.50`` back as
``1.5``), so a difference computed from what they return would not match. Unlike the embedded
store, several processes may write: each holds only its own lock, so two crawlers writing the same
source interleave at the request level (each request whole; the last one wins). Run one crawler.

Changes. Several front ends share the store, so none can learn what changed from a local file:
every write adds, in its own request, an entry to the change-log graph (the names it touched and
when), and each front end's text index asks the store for entries since the last it saw
(``changes_since``), re-reading a margin to cover clocks and requests that committed late.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pyoxigraph as ox
import requests

from hubnet.vocab.errors import StoreError
from hubnet.vocab.model import HUBNET

from hubnet.vocab.authority import owns_graph

from .graph import _DERIVED, _PRED, GRAPH_STATUSES, PROV_GRAPH, XSD, SourceRecord, Store, _record_triples

log = logging.getLogger(__name__)

SCHEMES = ("sparql+http://", "sparql+https://")
HUBNET_GRAPHS = "https://w3id.org/hubnet/graph/"
CHANGES_GRAPH = ox.NamedNode(HUBNET_GRAPHS + "changes")
_CHANGED = ox.NamedNode(HUBNET + "changed")
_CHANGED_AT = ox.NamedNode(HUBNET + "changedAt")
_RESULTS_JSON = "application/sparql-results+json"
_NTRIPLES = "application/n-triples"
_BOOLEAN = XSD + "boolean"
# Graphs that are hubnet's: its own (provenance, block list, geocoded; not the change log) and every
# graph a source record names. A shared server holds others (Virtuoso's system graphs); those are
# never listed, dumped or dropped.
_OURS = (f'FILTER((STRSTARTS(STR(?g), "{HUBNET_GRAPHS}") && ?g != {CHANGES_GRAPH}) || '
         f'EXISTS {{ GRAPH {PROV_GRAPH} {{ ?_src {_PRED["graph"]} ?g }} }})')


def is_remote(spec) -> bool:
    return isinstance(spec, str) and spec.startswith(SCHEMES)


def endpoint_of(spec: str) -> str:
    """``sparql+http://host:port/sparql`` -> ``http://host:port/sparql``."""
    url = spec[len("sparql+"):]
    parts = urlsplit(url)
    if not parts.hostname or parts.username or parts.password:
        raise StoreError(f"--store {spec!r}: give sparql+http://host:port/path, with no credentials in it "
                         "(they go in HUBNET_STORE_USER and HUBNET_STORE_PASSWORD or a password file)",
                         code="bad_parameter")
    return url


class Unsupported(StoreError):
    """The server refused (400) or failed on (500) a request pyoxigraph reads as valid SPARQL:
    beyond its compiler (Virtuoso 7 fails on some of the text index's UNIONs of BINDs with a 400,
    on some OPTIONALs with a 500 SQ074)."""


class SparqlClient:
    """The protocol's two requests, with a timeout and retries of failed connections and of 502, 503
    and 504 answers (a 500 is the server failing on this request: asking again fails again).

    Retrying an update is safe: every hubnet update deletes what it replaces before inserting, so
    applying it twice leaves what applying it once does (plus one more change-log entry)."""

    def __init__(self, query_url: str, update_url: str, *, auth=None, timeout: float = 30.0, retries: int = 2,
                 max_answer_bytes: int = 256 * 1024 * 1024):
        self.query_url, self.update_url = query_url, update_url
        self.timeout, self.retries, self.max_answer_bytes = timeout, retries, max_answer_bytes
        self.session = requests.Session()
        self.session.trust_env = False   # never through a proxy from the environment
        self.session.auth = auth

    def post(self, url: str, data: list, accept: str, timeout: float | None = None) -> tuple[str, bytes]:
        """(content type, body) of a successful answer; ``StoreError`` (or ``TimeoutError``) otherwise."""
        timeout = self.timeout if timeout is None else timeout
        for attempt in range(self.retries + 1):
            deadline = time.monotonic() + timeout
            try:
                with self.session.post(url, data=data, headers={"Accept": accept}, timeout=timeout,
                                       stream=True) as resp:
                    if resp.status_code in (502, 503, 504) and attempt < self.retries:
                        time.sleep(0.2 * 2 ** attempt)
                        continue
                    body = self._read(resp, deadline)
            except requests.Timeout:   # not retried: the server may still be working on it
                raise TimeoutError(f"the store at {url} did not answer within {timeout:g} s") from None
            except requests.ConnectionError as exc:
                if attempt < self.retries:
                    time.sleep(0.2 * 2 ** attempt)
                    continue
                raise StoreError(f"cannot reach the store at {url}: {exc}", code="store_error") from None
            if resp.status_code >= 400:
                text = body[:500].decode("utf-8", "replace").strip()
                raise (Unsupported if resp.status_code in (400, 500) else StoreError)(f"the store at {url} answered {resp.status_code}: {text}", code="store_error")
            return resp.headers.get("Content-Type", "").split(";")[0].strip().lower(), body
        raise AssertionError("unreachable")

    def _read(self, resp, deadline: float) -> bytes:
        chunks, size = [], 0
        for chunk in resp.iter_content(64 * 1024):
            size += len(chunk)
            if size > self.max_answer_bytes:
                raise StoreError(f"the store's answer is larger than {self.max_answer_bytes} bytes "
                                 "(store_max_answer_bytes); ask for less (a LIMIT)", code="store_error")
            if time.monotonic() > deadline:
                raise requests.Timeout()
            chunks.append(chunk)
        return b"".join(chunks)


# ---------------------------------------------------------------------- answers as pyoxigraph terms
def _term(t: dict) -> dict:
    """One binding of the server's JSON results in the standard form pyoxigraph reads.

    Virtuoso writes ``typed-literal`` (the 2008 draft's name), blank nodes as ``nodeID://b1``
    and ``xsd:boolean`` values as 1 and 0."""
    kind = t.get("type")
    if kind == "bnode":
        return {"type": "bnode", "value": re.sub(r"[^A-Za-z0-9_]", "_", t["value"].removeprefix("nodeID://"))}
    if kind in ("literal", "typed-literal"):
        out = {"type": "literal", "value": t["value"]}
        if t.get("xml:lang") or t.get("lang"):
            out["xml:lang"] = t.get("xml:lang") or t["lang"]
        elif t.get("datatype"):
            out["datatype"] = t["datatype"]
            if t["datatype"] == _BOOLEAN and t["value"] in ("0", "1"):
                out["value"] = "true" if t["value"] == "1" else "false"
        return out
    return t


def _solutions(doc: dict):
    """pyoxigraph ``QuerySolutions`` or ``QueryBoolean`` from a JSON results document.

    Virtuoso answers ASK as a one-column SELECT (``__ASK_RETVAL``: 1, or no row for false)."""
    if "boolean" in doc:
        return ox.parse_query_results(json.dumps({"head": {}, "boolean": bool(doc["boolean"])}).encode(),
                                      ox.QueryResultsFormat.JSON)
    variables = doc.get("head", {}).get("vars", [])
    bindings = doc.get("results", {}).get("bindings", [])
    if variables == ["__ASK_RETVAL"]:
        value = bool(bindings) and bindings[0].get("__ASK_RETVAL", {}).get("value") not in ("0", "false")
        return _solutions({"boolean": value})
    doc = {"head": {"vars": variables},
           "results": {"bindings": [{k: _term(v) for k, v in row.items() if k in variables} for row in bindings]}}
    return ox.parse_query_results(json.dumps(doc).encode("utf-8"), ox.QueryResultsFormat.JSON)


def _triples(body: bytes):
    """pyoxigraph ``QueryTriples`` from an N-Triples answer (through an in-memory store, the one
    way to make that type, so code that checks for it works unchanged)."""
    mem = ox.Store()
    mem.bulk_extend(ox.Quad(t.subject, t.predicate, t.object) for t in ox.parse(body, format=ox.RdfFormat.N_TRIPLES))
    return mem.query("CONSTRUCT WHERE { ?s ?p ?o }")


@functools.lru_cache(maxsize=256)
def _is_graph_query(text: str) -> bool:
    """CONSTRUCT or DESCRIBE (asked for as N-Triples), told by pyoxigraph's own parser on an empty
    store (the answer is not read, so nothing is evaluated): servers answer in different shapes when
    left to choose (Virtuoso: a SELECT). Invalid SPARQL raises pyoxigraph's ``SyntaxError`` here,
    before anything is sent, with the same message as on the embedded store."""
    return isinstance(ox.Store().query(text), ox.QueryTriples)


def _with_substitutions(text: str, substitutions: dict) -> str:
    """pyoxigraph's ``substitutions`` as a VALUES block at the top of the first WHERE group (the
    internal queries that use them have one)."""
    names = " ".join(str(v) for v in substitutions)
    block = f" VALUES ({names}) {{ ({' '.join(str(t) for t in substitutions.values())}) }} "
    match = re.search(r"\bWHERE\s*\{", text, re.IGNORECASE)
    if match is None:
        raise StoreError("a query with substitutions needs a WHERE clause on a remote store", code="store_error")
    return text[:match.end()] + block + text[match.end():]


def _nt(triples) -> str:
    return "".join(f"{s} {p} {o} .\n" for s, p, o in triples)


def _has_blank(triples) -> bool:
    return any(isinstance(x, ox.BlankNode) for t in triples for x in (t[0], t[2]))


class RemoteDataset:
    """The pyoxigraph ``Store`` methods hubnet uses, over a SPARQL server."""

    def __init__(self, client: SparqlClient):
        self.client = client
        self.pending_changes: list = []   # names the next update logs in the change-log graph

    # ------------------------------------------------------------------ reading
    def query(self, text: str, *, use_default_graph_as_union: bool = True, default_graph=None, named_graphs=None,
              prefixes=None, substitutions=None, timeout: float | None = None):
        """The server's default graph is taken to be the union of its graphs (Virtuoso's is; Fuseki
        and GraphDB need their union-default-graph option, docs/scaling.md)."""
        if substitutions:
            text = _with_substitutions(text, substitutions)
        if prefixes:
            text = "".join(f"PREFIX {k}: <{v}>\n" for k, v in prefixes.items()) + text
        data = [("query", text)]
        data += [("default-graph-uri", g.value if hasattr(g, "value") else str(g))
                 for g in (default_graph if isinstance(default_graph, list) else [default_graph] if default_graph
                           else [])]
        data += [("named-graph-uri", g.value if hasattr(g, "value") else str(g)) for g in named_graphs or ()]
        graph = _is_graph_query(text)
        kind, body = self.client.post(self.client.query_url, data, _NTRIPLES if graph else _RESULTS_JSON, timeout)
        if graph:
            try:
                return _triples(body)
            except SyntaxError as exc:
                raise StoreError(f"the store answered {kind or 'something'} that is not N-Triples: {exc}",
                                 code="store_error") from None
        try:
            doc = json.loads(body)
        except ValueError:
            raise StoreError(f"the store answered {kind or 'something'} that is not SPARQL JSON results",
                             code="store_error") from None
        return _solutions(doc)

    def quads_for_pattern(self, subject, predicate, obj, graph_name):
        terms = {"s": subject, "p": predicate, "o": obj, "g": graph_name}
        if any(isinstance(t, ox.BlankNode) for t in terms.values()):
            raise StoreError("a blank node cannot be looked up on a remote store", code="store_error")
        pattern = {k: (str(t) if t is not None else f"?{k}") for k, t in terms.items()}
        where = f"GRAPH {pattern['g']} {{ {pattern['s']} {pattern['p']} {pattern['o']} }}"
        if graph_name is None:
            where += " " + _OURS
        for sol in self.query(f"SELECT * WHERE {{ {where} }}"):
            yield ox.Quad(*(t if t is not None else sol[k] for k, t in terms.items()))

    def contains_named_graph(self, graph) -> bool:
        """Only hubnet's graphs: the server's own (Virtuoso's system graphs) are not in the store."""
        return bool(self.query(f"ASK {{ GRAPH ?g {{ ?s ?p ?o }} VALUES ?g {{ {graph} }} {_OURS} }}"))

    def named_graphs(self):
        return [sol["g"] for sol in self.query(f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?s ?p ?o }} {_OURS} }}")]

    def dump(self, output, format=ox.RdfFormat.N_QUADS, **_):
        return ox.serialize(self.quads_for_pattern(None, None, None, None), output, format=format)

    # ------------------------------------------------------------------ writing
    def update(self, text: str) -> None:
        """One request; the change-log entry for ``pending_changes`` goes in it."""
        names, self.pending_changes = self.pending_changes, []
        if names:
            text = text + " ;\n" + _change_entry(names)
        self.client.post(self.client.update_url, [("update", text)], _RESULTS_JSON)

    def extend(self, quads) -> None:
        quads = list(quads)
        if quads:
            self.update(_data("INSERT", quads))

    def remove(self, quad) -> None:
        self.update(_data("DELETE", [quad]))

    def flush(self) -> None:
        pass


def _data(verb: str, quads) -> str:
    """INSERT DATA / DELETE DATA of ``quads`` grouped by graph; blank nodes (which a DATA block may
    not hold on Virtuoso) go through INSERT {...} WHERE {}."""
    by_graph: dict = {}
    for q in quads:
        by_graph.setdefault(str(q.graph_name), []).append((q.subject, q.predicate, q.object))
    blank = _has_blank(t for ts in by_graph.values() for t in ts)
    if blank and verb == "DELETE":
        raise StoreError("a statement with a blank node cannot be deleted on its own from a remote store",
                         code="store_error")
    body = "".join(f"GRAPH {g} {{\n{_nt(ts)}}}\n" for g, ts in by_graph.items())
    return f"INSERT {{\n{body}}} WHERE {{}}" if blank else f"{verb} DATA {{\n{body}}}"


def _change_entry(names) -> str:
    entry = ox.NamedNode(f"urn:uuid:{uuid.uuid4()}")
    at = ox.Literal(f"{time.time():.6f}", datatype=ox.NamedNode(XSD + "decimal"))
    triples = [(entry, _CHANGED_AT, at)] + [(entry, _CHANGED, ox.NamedNode(n)) for n in names]
    return f"INSERT DATA {{ GRAPH {CHANGES_GRAPH} {{\n{_nt(triples)}}} }}"


class RemoteStore(Store):
    """A ``Store`` on a SPARQL server. ``path`` is a local directory for what each front end derives
    for itself (the text index, the operator's area files, the control socket)."""

    remote = True
    KEEPS_NAMES = False   # whether the server holds a batch's sources is asked per batch (``_held``)
    WRITES_BEHIND = False   # a batch is one request, sent by the writer itself (``write_staged``)
    # Sources per update request: ~8 s at Virtuoso's ~60 a second (docs/scaling.md; store_timeout is
    # 30 s), and at most this many statements, whatever their number of sources.
    BULK_BATCH = 500
    BULK_BATCH_STATEMENTS = 50_000

    def __init__(self, spec: str, settings=None, *, local_dir=None):
        from hubnet.crawler.settings import load as load_settings

        self.settings = settings = settings or load_settings()
        query_url = endpoint_of(spec)
        auth = _auth(settings)
        self.client = SparqlClient(query_url, settings.store_update_endpoint or query_url, auth=auth,
                                   timeout=settings.store_timeout, retries=settings.store_retries,
                                   max_answer_bytes=settings.store_max_answer_bytes)
        self.spec = spec
        self.path = Path(local_dir or settings.store_local_dir)
        self.path.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.RLock()
        self._blocked = None
        self.on_write = None
        self._staged, self._staged_graphs, self._staged_statements, self._broken = {}, set(), 0, None
        self._behind, self._behind_names, self._behind_failed = None, frozenset(), []
        self._store = RemoteDataset(self.client)
        self._local_shapes: set = set()   # hubnet's queries the server could not run (``query``)
        self._journal_id = "remote " + query_url
        try:
            self._store.query("ASK { ?s ?p ?o }")
        except (StoreError, TimeoutError) as exc:
            raise StoreError(f"cannot use the store at {query_url}: {exc}", code="store_error") from None
        self._prune_changes()

    @property
    def oxigraph(self) -> RemoteDataset:
        """The server's dataset, with every staged source written (a reader sees what was handed in)."""
        self.write_staged()
        return self._store

    def query(self, sparql: str, **kw):
        """hubnet's own queries: on the server, or, if it cannot run one (``Unsupported``), here on
        a copy of the graphs the query names (every graph if it names them by a variable). Never
        for the /sparql endpoint's queries, which go to ``oxigraph.query`` and fail as they fail."""
        self.write_staged()
        options = {k: v for k, v in kw.items() if k != "use_default_graph_as_union"}
        shape = re.sub(r"<[^>]*>", "<>", sparql)   # the same query about another graph fails alike
        if shape not in self._local_shapes:
            try:
                return self._store.query(sparql, **options)
            except Unsupported:
                self._local_shapes.add(shape)
        named = re.findall(r"GRAPH\s*<([^>]+)>", sparql)
        if options.get("named_graphs"):   # the query's dataset is these graphs: copy only them
            named = [g.value for g in options["named_graphs"]]
        elif re.search(r"GRAPH\s*\?", sparql):
            named = []
        copy = ox.Store()
        for g in (named or [None]):
            copy.bulk_extend(self._store.quads_for_pattern(None, None, None, g and ox.NamedNode(g)))
        return copy.query(sparql, use_default_graph_as_union=True, **options)

    # ------------------------------------------------------------------ the change log, in the store
    def _log_changes(self, names) -> None:
        self._store.pending_changes = [n for n in dict.fromkeys(names) if n]

    def changes_since(self, journal_id, offset):
        """(names changed since ``offset`` (seconds since the epoch, as the writer's clock said),
        or None: compare everything; this store's id; the offset to ask from next). Entries within
        ``store_change_margin`` seconds before ``offset`` are read again."""
        self.write_staged()
        margin, keep = self.settings.store_change_margin, self.settings.store_change_keep_days * 86400
        since = float(offset or 0)
        if journal_id != self._journal_id or since < time.time() - keep + margin:
            return None, self._journal_id, time.time()   # what the index compares now needs no log
        rows = list(self._store.query(
            f"SELECT ?name ?at WHERE {{ GRAPH {CHANGES_GRAPH} {{ ?e {_CHANGED_AT} ?at ; {_CHANGED} ?name }} "
            f"FILTER(?at > {since - margin:.6f}) }}"))
        end = max([since, *(float(r["at"].value) for r in rows)])
        return sorted({r["name"].value for r in rows}), self._journal_id, end

    def change_mark(self) -> tuple:
        """(entries, latest time) of the change log: a new value means someone wrote (an entry that
        committed late, with an earlier time, still changes the count)."""
        row = next(iter(self._store.query(f"SELECT (COUNT(?at) AS ?n) (MAX(?at) AS ?m) WHERE {{ GRAPH "
                                          f"{CHANGES_GRAPH} {{ ?e {_CHANGED_AT} ?at }} }}")), None)
        return tuple(t.value if t is not None else None for t in (row["n"], row["m"])) if row else (None, None)

    def _prune_changes(self) -> None:
        cutoff = time.time() - self.settings.store_change_keep_days * 86400
        self._store.update(f"DELETE {{ GRAPH {CHANGES_GRAPH} {{ ?e ?p ?o }} }} WHERE {{ GRAPH {CHANGES_GRAPH} "
                           f"{{ ?e {_CHANGED_AT} ?at ; ?p ?o }} FILTER(?at < {cutoff:.6f}) }}")

    # ------------------------------------------------------------------ writing: one request per write
    def _apply(self, drop_graphs, insert_graph, triples, record: SourceRecord, *, keep_record: bool = True):
        """The source's record and graph replaced, and the attribution of every graph involved
        recomputed, in one update request. Another live owner's graph is never dropped."""
        with self._write_lock:
            if keep_record:
                self._refuse_blocked(record)
            involved = {*drop_graphs, *([insert_graph] if insert_graph else [])}
            if record.url in self._staged or involved & self._staged_graphs:
                self.write_staged()   # in order: the staged version first, then this change to it
            url = ox.NamedNode(record.url)
            claimed, others = self._claims(record.url, involved)
            involved |= claimed
            self._log_changes([record.url, *sorted(involved)])
            parts = [f"DELETE WHERE {{ GRAPH {PROV_GRAPH} {{ {url} ?p ?o }} }}"]
            parts += [f"DELETE WHERE {{ GRAPH {PROV_GRAPH} {{ {ox.NamedNode(g)} {_DERIVED} ?o }} }}"
                      for g in sorted(involved)]
            parts += [f"DROP SILENT GRAPH {ox.NamedNode(g)}" for g in sorted(drop_graphs)
                      if g and g != insert_graph and not others[g]]
            prov = list(_record_triples(record)) if keep_record else []
            prov += [(ox.NamedNode(g), _DERIVED, ox.NamedNode(o)) for g in sorted(involved) for o in others[g]]
            graph = []
            if insert_graph:
                parts.append(f"DROP SILENT GRAPH {ox.NamedNode(insert_graph)}")
                g = ox.NamedNode(insert_graph)
                graph = [ox.Quad(t.subject, t.predicate, t.object, g) for t in triples]
            # The record last: a request the server fails part-way (it keeps the operations done
            # before the failing one) leaves no record over a half-written graph (docs/scaling.md).
            parts += self._inserts(graph) + self._inserts([ox.Quad(s, p, o, PROV_GRAPH) for s, p, o in prov])
            try:
                self._store.update(" ;\n".join(parts))
            except TimeoutError as exc:
                raise StoreError(f"writing to the store failed: {exc}", code="store_error") from None

    def _claims(self, url: str, graphs) -> tuple:
        """(the graphs ``url``'s record claims now, {graph: its live owners other than ``url``} for
        those and ``graphs``), in one query: each read is a round trip to the server."""
        values = " ".join(str(ox.NamedNode(g)) for g in sorted(graphs))
        claims = (f"GRAPH {PROV_GRAPH} {{ {ox.NamedNode(url)} {_PRED['graph']} ?g }}")
        where = f"{{ VALUES ?g {{ {values} }} }} UNION {{ {claims} }}" if values else claims
        rows = self._store.query(f"SELECT ?src ?g ?status WHERE {{ {where} GRAPH {PROV_GRAPH} "
                                 f"{{ ?src {_PRED['graph']} ?g ; {_PRED['status']} ?status }} }}")
        claimed, others = set(), {g: set() for g in graphs}
        for row in rows:
            src, g = row["src"].value, row["g"].value
            others.setdefault(g, set())
            if src == url:
                claimed.add(g)
            elif owns_graph(src, g) and row["status"].value in GRAPH_STATUSES:
                others[g].add(src)
        return claimed, others

    def _inserts(self, quads) -> list:
        """INSERT operations for ``quads``: ``store_insert_chunk`` statements each (Virtuoso's parser
        runs out of stack past ~5,000), those with blank nodes in one of their own."""
        plain = [q for q in quads if not _has_blank([(q.subject, q.predicate, q.object)])]
        step = self.settings.store_insert_chunk
        parts = [_data("INSERT", plain[i:i + step]) for i in range(0, len(plain), step)]
        if len(plain) < len(quads):
            parts.append(_data("INSERT", [q for q in quads if q not in plain]))
        return parts

    # ------------------------------------------------------------------ new sources: a batch per request
    def _never_held(self, record: SourceRecord) -> bool:
        """Not staged already. Whether the server holds anything of it is asked for the whole batch
        at once when the batch is written (``_held``): a read per source is a round trip, and the
        crawler hands in only sources it does not know."""
        return record.url not in self._staged and record.graph not in self._staged_graphs

    def _held(self, batch) -> set:
        """URLs of the sources of ``batch`` the server holds something of (a record, a claim on the
        graph, a statement in it), in one query; a name matching either way counts (written as a change)."""
        urls = " ".join(str(ox.NamedNode(rec.url)) for rec in batch)
        graphs = " ".join(str(ox.NamedNode(rec.graph)) for rec in batch)
        found = {row["x"].value for row in self._store.query(
            f"SELECT DISTINCT ?x WHERE {{ {{ VALUES ?x {{ {urls} }} GRAPH {PROV_GRAPH} {{ ?x ?p ?o }} }} UNION "
            f"{{ VALUES ?x {{ {graphs} }} GRAPH {PROV_GRAPH} {{ ?s {_PRED['graph']} ?x }} }} UNION "
            f"{{ VALUES ?x {{ {graphs} }} GRAPH ?x {{ ?s ?p ?o }} }} }}")}
        return {rec.url for rec in batch if rec.url in found or rec.graph in found}

    def write_staged(self) -> None:
        """The staged new sources (``stage_new_source``; ``bulk_batch`` of them) in ONE update
        request. Each source lies inside one operation (graph and record together; whole sources
        packed up to ``store_insert_chunk`` statements, as Virtuoso pays per operation; one larger
        than that is several, its record last), because Virtuoso keeps the operations of a request
        done before one that fails: a source is whole or absent either way. Their graphs
        are asked to be empty and unclaimed first (one query), so nothing is deleted, except a graph
        with blank nodes (a retried request must not add them twice); a source the server holds after
        all is written as a change, in its own request.

        A failed request raises ``StoreError`` whose ``lost`` lists the sources of the batch the
        store does not hold; their graphs are dropped (never held before, so nobody else's)."""
        if not self._staged:
            return
        with self._write_lock:
            if not self._staged:
                return
            batch = self._take_staged()
            try:
                held = self._held([rec for rec, _ in batch])
            except (StoreError, TimeoutError) as exc:
                err = StoreError(f"writing to the store failed: {exc}", code="store_error")
                err.lost = [rec for rec, _ in batch]
                raise err from None
            changes = [(rec, triples) for rec, triples in batch if rec.url in held]
            batch = [(rec, triples) for rec, triples in batch if rec.url not in held]
            if batch:
                try:
                    self._write_batch(batch)
                except StoreError as exc:
                    exc.lost += [rec for rec, _ in changes]
                    raise
            for i, (rec, triples) in enumerate(changes):   # held after all: each a change, its own request
                try:
                    self.replace_source(rec, triples)
                except StoreError as exc:
                    exc.lost = [r for r, _ in changes[i:]]
                    raise

    def _write_batch(self, batch) -> None:
        """Never-held sources in one request, each inside one operation (``write_staged``)."""
        with self._write_lock:
            self._log_changes([n for rec, _ in batch for n in (rec.url, rec.graph)])
            parts, group, step = [], [], self.settings.store_insert_chunk
            for rec, triples in batch:
                g = ox.NamedNode(rec.graph)
                graph = [ox.Quad(t.subject, t.predicate, t.object, g) for t in triples]
                record = [ox.Quad(s, p, o, PROV_GRAPH) for s, p, o in _record_triples(rec)]
                if _has_blank((q.subject, q.predicate, q.object) for q in graph):
                    parts.append(f"DROP SILENT GRAPH {g}")
                if len(group) + len(graph) + len(record) > step and group:
                    parts.append(_data("INSERT", group))   # whole sources only in one operation
                    group = []
                if len(graph) + len(record) <= step:
                    group += graph + record
                else:
                    parts += self._inserts(graph) + self._inserts(record)
            if group:
                parts.append(_data("INSERT", group))
            try:
                self._store.update(" ;\n".join(parts))
            except (StoreError, TimeoutError) as exc:
                err = StoreError(f"writing to the store failed: {exc}", code="store_error")
                # A request timed out may still commit: nothing is undone, all counts as lost (the
                # next crawl reads whatever the server kept as held).
                batch = [rec for rec, _ in batch]
                err.lost = batch if isinstance(exc, TimeoutError) else self._undo_unrecorded(batch)
                raise err from None

    def _undo_unrecorded(self, batch) -> list:
        """The sources of a failed batch the store holds no record of (all, if it cannot be asked),
        their graphs dropped: whatever part of them got written is the batch's."""
        values = " ".join(str(ox.NamedNode(rec.url)) for rec in batch)
        try:
            held = {row["s"].value for row in self._store.query(
                f"SELECT DISTINCT ?s WHERE {{ GRAPH {PROV_GRAPH} {{ ?s {_PRED['status']} ?o }} VALUES ?s {{ {values} }} }}")}
            lost = [rec for rec in batch if rec.url not in held]
            if lost:
                self._store.update(" ;\n".join(f"DROP SILENT GRAPH {ox.NamedNode(rec.graph)}" for rec in lost))
        except (StoreError, TimeoutError) as exc:
            log.warning("cannot tell which sources of a failed batch the store holds: %s", exc)
            return list(batch)
        return lost

    def backup(self, target) -> None:
        raise StoreError("a remote store is backed up by its server (Virtuoso: backup_online; Fuseki: "
                         "/$/backup), not by hubnet; `hubnet-crawler export` writes its graphs as N-Quads",
                         code="store_error")

    def flush(self) -> None:
        self.write_staged()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.client.session.close()


def _auth(settings):
    """Credentials from the settings' environment or file layers (never the command line), or none."""
    user, password = settings.store_user, settings.store_password
    if settings.store_password_file:
        try:
            password = Path(settings.store_password_file).read_text().strip()
        except OSError as exc:
            raise StoreError(f"cannot read store_password_file {settings.store_password_file}: "
                             f"{exc.strerror or exc}", code="store_error") from None
    if not user:
        return None
    if settings.store_auth == "basic":
        return requests.auth.HTTPBasicAuth(user, password)
    return requests.auth.HTTPDigestAuth(user, password)


class ChangePoller:
    """Looks at the store's change log every ``interval`` seconds and calls ``refresh`` when someone
    wrote, so a front end's text index learns what other front ends (or a crawler elsewhere) wrote
    to the shared store; an idle store costs one small query per interval."""

    def __init__(self, store: RemoteStore, interval: float, refresh):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(store, interval, refresh),
                                        name="hubnet-store-poll", daemon=True)
        self._thread.start()

    def _run(self, store, interval, refresh) -> None:
        seen = None
        while not self._stop.wait(interval):
            try:
                mark = store.change_mark()
            except (StoreError, TimeoutError) as exc:
                log.warning("cannot read the store's change log: %s", exc)
                continue
            if mark != seen:
                seen = mark
                refresh()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def open_store(spec, settings=None) -> Store:
    """The store ``spec`` names: ``sparql+http(s)://...`` a remote one, anything else a directory."""
    if is_remote(spec):
        return RemoteStore(spec, settings)
    return Store(spec)
