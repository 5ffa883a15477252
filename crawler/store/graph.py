"""The aggregator's store: Oxigraph on disk, one named graph per source.

Layout (docs/query.md tells users the same):

- ``GRAPH <final URL of the source>``: the statements the source made about
  its own origin, blank nodes skolemised.
- ``GRAPH <https://w3id.org/hubnet/graph/provenance>``: one record per source
  (keyed by the URL we fetch), in PROV-O plus hubnet terms: where the graph
  came from, when, its ETag/Last-Modified/hash, status and last error.
  Tombstones of deleted sources stay here.
- Queries see the union of all graphs as the default graph.

Replacing a source's graph together with its provenance record is one SPARQL
update, which Oxigraph applies as one transaction: a crash leaves the old
version or the new one, never half.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path

import pyoxigraph as ox

from hubnet import __version__
from hubnet.vocab.errors import StoreError
from hubnet.vocab.model import HUBNET, PROV

from hubnet.vocab.authority import owns_graph
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
PROV_GRAPH = ox.NamedNode("https://w3id.org/hubnet/graph/provenance")

DEFAULT_PATH = "hubnet-data"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class SourceStatus(str, Enum):
    """Status of a source, as shown to people; the value is what the provenance graph and the API hold."""

    OK = "ok"             # the last fetch gave the stored graph
    STALE = "stale"       # the last fetch failed; the last good graph is kept
    FAILED = "failed"     # never fetched successfully: no graph
    MISSING = "missing"   # 404 fewer than misses_before_delete times in a row; graph kept
    GONE = "gone"         # withdrawn (410, or 404 too often): graph removed, record kept

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __hash__(self) -> int:  # as its value: "ok" read back from the store is found in a set of statuses
        return hash(self.value)


OK, STALE, FAILED, MISSING, GONE = (SourceStatus.OK, SourceStatus.STALE, SourceStatus.FAILED, SourceStatus.MISSING,
                                    SourceStatus.GONE)
# The statuses of a source whose named graph is in the store (when it has one).
GRAPH_STATUSES = frozenset({OK, STALE, MISSING})


@dataclass
class SourceRecord:
    """What the aggregator knows about one source (one fetched URL)."""

    url: str                        # the URL we fetch: the source's key
    graph: str | None = None        # final URL after redirects = graph name (None until first success)
    status: str = FAILED
    found_via: str = "seed"         # "seed", "link", "ping", "load"
    found_from: str | None = None   # the source that linked here
    depth: int = 0
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    triples: int = 0
    dropped_foreign: int = 0
    first_seen: str | None = None
    generated_at: str | None = None   # when the current graph was written (prov:generatedAtTime)
    last_success: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_at: str | None = None
    misses: int = 0                 # consecutive 404s
    failed_attempts: int = 0        # failed fetches in a row of a source never read successfully
    removed_at: str | None = None
    # The groups a withdrawn source described (space-separated IRIs), kept on its tombstone so that
    # the group published again, at whatever address, comes back as this source (first_seen kept).
    about: str | None = None
    # The editor's rules broken by the stored profile (JSON text, crawl/checks.py); None: none.
    problems: str | None = None
    # Why the group is not on the map although it gives a postcode (crawl/geocode.py); None: nothing to say.
    geocode_note: str | None = None
    crawler_version: str = __version__

    @property
    def has_graph(self) -> bool:
        """The source's statements are in the store (as its named graph ``self.graph``)."""
        return bool(self.graph) and self.status in GRAPH_STATUSES

    def to_dict(self) -> dict:
        out = asdict(self)
        try:
            out["problems"] = json.loads(self.problems) if isinstance(self.problems, str) else self.problems or []
        except ValueError:
            out["problems"] = []
        return out


# field name -> (predicate, kind) for the provenance graph.
_INT_FIELDS = {"depth", "triples", "dropped_foreign", "misses", "failed_attempts"}
_DATE_FIELDS = {"first_seen", "generated_at", "last_success", "error_at", "removed_at"}
_IRI_FIELDS = {"graph", "found_from"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


_PRED = {f.name: ox.NamedNode(HUBNET + _camel(f.name)) for f in fields(SourceRecord) if f.name != "url"}
_PRED["generated_at"] = ox.NamedNode(PROV + "generatedAtTime")
_BY_PRED = {p.value: name for name, p in _PRED.items()}
_DERIVED = ox.NamedNode(PROV + "wasDerivedFrom")


def _record_triples(rec: SourceRecord) -> list:
    s = ox.NamedNode(rec.url)
    out = [(s, RDF_TYPE, ox.NamedNode(HUBNET + "Source")), (s, RDF_TYPE, ox.NamedNode(PROV + "Entity"))]
    for name, pred in _PRED.items():
        value = getattr(rec, name)
        if value is None:
            continue
        if name in _IRI_FIELDS:
            obj = ox.NamedNode(value)
        elif name in _INT_FIELDS:
            obj = ox.Literal(str(int(value)), datatype=ox.NamedNode(XSD + "integer"))
        elif name in _DATE_FIELDS:
            obj = ox.Literal(value, datatype=ox.NamedNode(XSD + "dateTime"))
        else:
            obj = ox.Literal(str(value))
        out.append((s, pred, obj))
    if rec.has_graph and owns_graph(rec.url, rec.graph):
        out.append((ox.NamedNode(rec.graph), _DERIVED, s))
    return out


def _term_nt(term) -> str:
    """N-Triples form of a term, which SPARQL's INSERT DATA accepts as is."""
    return str(term)


def _iri(value: str) -> str:
    # NamedNode() validates the IRI, so nothing odd can reach the update text.
    return str(ox.NamedNode(value))


class Store:
    """A thin, transactional wrapper over ``pyoxigraph.Store``. ``path=None`` keeps it in memory.

    On disk, ``path`` is a directory holding ``oxigraph/`` (the database) and
    whatever else lives beside the graph (the text index, query checkpoints).
    """

    def __init__(self, path: str | os.PathLike | None = DEFAULT_PATH, *, on_write=None):
        self.path = None if path is None else Path(path)
        # Re-entrant: the block list (blocklist.py) holds it across its own write and the removals.
        self._write_lock = threading.RLock()
        self._blocked: dict | None = None   # url -> block-list entry, read once (blocklist.py)
        # Fault injection (tests/test_store_failpoints.py): called with the operations of each
        # write, returns the operations run as its one transaction.
        self.on_write = on_write
        try:
            if self.path is None:
                self._store = ox.Store()
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self._store = ox.Store(str(self.path / "oxigraph"))
        except OSError as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise StoreError(
                    f"the store at {self.path} is in use by another process (a running "
                    "`hubnet-crawler serve` or another crawl). Stop it first, or let the server do the work: "
                    "`hubnet-crawler serve --recrawl-interval 1h`, or POST a URL to its /ping.",
                    code="store_in_use") from None
            raise StoreError(f"cannot open the store at {self.path}: {text}", code="store_error") from None

    @property
    def oxigraph(self) -> ox.Store:
        return self._store

    # ------------------------------------------------------------------ reading
    def sources(self) -> dict:
        """Every source record (tombstones included), keyed by URL."""
        recs: dict = {}
        for q in self._store.quads_for_pattern(None, None, None, PROV_GRAPH):
            name = _BY_PRED.get(q.predicate.value)
            if name is None:
                continue
            rec = recs.get(q.subject.value)
            if rec is None:
                rec = recs[q.subject.value] = SourceRecord(url=q.subject.value)
            value = q.object.value
            if name in _INT_FIELDS:
                value = int(value)
            setattr(rec, name, value)
        return recs

    def source(self, url: str) -> SourceRecord | None:
        s = ox.NamedNode(url)
        rec = None
        for q in self._store.quads_for_pattern(s, None, None, PROV_GRAPH):
            name = _BY_PRED.get(q.predicate.value)
            if name is None:
                continue
            rec = rec or SourceRecord(url=url)
            value = q.object.value
            setattr(rec, name, int(value) if name in _INT_FIELDS else value)
        return rec

    def graph_triples(self, graph: str) -> list:
        return list(self._store.quads_for_pattern(None, None, None, ox.NamedNode(graph)))

    def query(self, sparql: str, **kw):
        kw.setdefault("use_default_graph_as_union", True)
        return self._store.query(sparql, **kw)

    def named_graphs(self) -> list:
        return [g.value for g in self._store.named_graphs() if isinstance(g, ox.NamedNode)]

    # ------------------------------------------------------------------ writing
    def _current(self, graph: ox.NamedNode, subject=None) -> set:
        return {(q.subject, q.predicate, q.object) for q in self._store.quads_for_pattern(subject, None, None, graph)}

    def _live_owners(self, graph: str, but: str) -> set:
        """URLs of the live records other than ``but`` that own ``graph`` (it is on their own site)."""
        owners = set()
        for q in self._store.quads_for_pattern(None, _PRED["graph"], ox.NamedNode(graph), PROV_GRAPH):
            url = q.subject.value
            if url == but or not owns_graph(url, graph):
                continue
            status = next(self._store.quads_for_pattern(q.subject, _PRED["status"], None, PROV_GRAPH), None)
            if status is not None and status.object.value in GRAPH_STATUSES:
                owners.add(url)
        return owners

    def _apply(self, drop_graphs, insert_graph, triples, record: SourceRecord, *, keep_record: bool = True):
        """Bring the source's graph and provenance record to their new state in one SPARQL update.

        Only the difference is written: every quad costs several index writes in RocksDB
        (~20 us each here), and a changed profile or a refreshed record usually differs from
        the stored one in a handful of statements. Reading the current state and writing the
        difference happen under one lock, so two writers in this process cannot interleave;
        other processes cannot open the store at all.

        A graph that another live record owns is never dropped, and its ``prov:wasDerivedFrom``
        always names exactly its live owners: one source cannot take or remove another's graph.
        """
        with self._write_lock:
            if keep_record:
                self._refuse_blocked(record)   # under the lock: a crawl's write cannot slip past a forget
            involved = {*drop_graphs, *([insert_graph] if insert_graph else [])}
            old_record = self._current(PROV_GRAPH, ox.NamedNode(record.url))
            # Graphs whose attribution is recomputed: those written, and any the record claimed before.
            involved |= {o.value for _, p, o in old_record if p == _PRED["graph"]}
            others = {g: self._live_owners(g, record.url) for g in involved}
            parts = [f"DROP SILENT GRAPH {_iri(g)}" for g in drop_graphs if g != insert_graph and not others[g]]
            removed, added = [], []
            if insert_graph:
                g = ox.NamedNode(insert_graph)
                old = self._current(g)
                new = {(t.subject, t.predicate, t.object) for t in triples}
                if any(isinstance(x, ox.BlankNode) for ts in (old, new) for t in ts for x in (t[0], t[2])):
                    # Blank nodes cannot be matched across two parses (nor named in DELETE DATA).
                    if old:
                        parts.append(f"DROP SILENT GRAPH {_iri(insert_graph)}")
                    added.append((g, new))
                else:
                    removed.append((g, old - new))
                    added.append((g, new - old))
            # The record, and every "graph wasDerivedFrom source" pointing at the graphs involved.
            old = set(old_record)
            new = set(_record_triples(record)) if keep_record else set()
            for name in involved:
                old |= {(q.subject, q.predicate, q.object) for q in
                        self._store.quads_for_pattern(ox.NamedNode(name), _DERIVED, None, PROV_GRAPH)}
                new |= {(ox.NamedNode(name), _DERIVED, ox.NamedNode(o)) for o in others[name]}
            removed.append((PROV_GRAPH, old - new))
            added.append((PROV_GRAPH, new - old))
            for verb, changes in (("DELETE DATA", removed), ("INSERT DATA", added)):
                body = [f"GRAPH {_term_nt(g)} {{\n" + "".join(f"{s} {p} {o} .\n" for s, p, o in ts) + "}\n"
                        for g, ts in changes if ts]
                if body:
                    parts.append(f"{verb} {{\n" + "".join(body) + "}")
            if not parts:
                return
            if self.on_write is not None:
                parts = self.on_write(list(parts))
            try:
                self._store.update(" ;\n".join(parts))
            except (OSError, RuntimeError) as exc:
                raise StoreError(f"writing to the store failed: {exc}", code="store_error") from None

    @property
    def blocked(self) -> dict:
        """The hub's block list (``hubnet-crawler forget``): {url: entry}, kept in step by blocklist.py."""
        if self._blocked is None:
            from .blocklist import read_entries
            self._blocked = read_entries(self)
        return self._blocked

    def _refuse_blocked(self, record: SourceRecord) -> None:
        """A write for a forgotten source (a crawl that fetched it just before ``forget``) is refused."""
        for url in (record.url, record.graph):
            if url and url in self.blocked:
                raise StoreError(f"{url} was forgotten by this hub: it is not fetched or stored",
                                 code="forgotten")

    def replace_source(self, record: SourceRecord, triples, *, previous_graph: str | None = None) -> None:
        """Replace a source's graph and its provenance record in one transaction.

        The graph must be on the source's own site: a redirect to another site gives the
        redirecting source nothing there (``authorise.owns_graph``).
        """
        if record.graph and not owns_graph(record.url, record.graph):
            raise StoreError(f"{record.url} may not keep its statements in {record.graph}: a source owns "
                             "only a graph on its own site", code="cross_origin_graph")
        drops = {g for g in (previous_graph, record.graph) if g}
        self._apply(drops, record.graph, triples, record)

    def write_own_graph(self, removes, adds) -> None:
        """Change the aggregator's own statements (crawl/geocode.py's derived graph), under the write lock.

        Not one transaction: that graph is recomputed from the sources after every crawl.
        """
        with self._write_lock:
            for quad in removes:
                self._store.remove(quad)
            self._store.extend(adds)

    def update_record(self, record: SourceRecord) -> None:
        """Write only the provenance record (status, errors); the graph is untouched."""
        self._apply((), None, (), record)

    def remove_source(self, record: SourceRecord) -> None:
        """Drop a source's graph and keep a tombstone, in one transaction."""
        drops = {record.graph} if record.graph else set()
        self._apply(drops, None, (), record)

    def forget_source(self, record: SourceRecord) -> None:
        """Delete the record of a source that owns no graph (one never read successfully)."""
        self._apply((), None, (), record, keep_record=False)

    def drop_source(self, record: SourceRecord) -> None:
        """Drop a source's graph (unless another live source owns it) and its record: ``forget``."""
        self._apply({record.graph} if record.graph else set(), None, (), record, keep_record=False)

    def backup(self, target: str | os.PathLike) -> None:
        self._store.flush()
        self._store.backup(str(target))

    def flush(self) -> None:
        if self.path is not None:
            self._store.flush()

    def close(self) -> None:
        # pyoxigraph closes on garbage collection; drop our reference so the lock is released.
        self.flush()
        self._store = None


# ---------------------------------------------------------------------- import / export
_LOAD_FORMATS = {"turtle": "text/turtle", "ttl": "text/turtle", "jsonld": "application/ld+json",
                 "json": "application/ld+json", "html": "text/html", "htm": "text/html",
                 "ntriples": "application/n-triples", "nt": "application/n-triples"}


def load_file(store: Store, path: Path, graph: str, fmt: str = "auto") -> int:
    """Import a local RDF file into ``GRAPH <graph>`` (replacing it) through the safe parser."""
    from hubnet.vocab.parse import Limits, document_to_triples

    kind = _LOAD_FORMATS.get(path.suffix.lstrip(".").lower() if fmt == "auto" else fmt)
    if kind is None:
        raise StoreError(f"cannot tell the format of {path.name}; pass --format", code="unknown_format")
    try:
        ox.NamedNode(graph)
    except ValueError as exc:
        raise StoreError(f"--graph {graph!r} is not an IRI ({exc}); give one such as "
                         "https://council.example.gov.uk/groups", code="bad_parameter") from None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}", code="unreadable") from None
    # A loaded file is the operator's own data: allow more than one crawled profile may hold.
    limits = Limits(max_json_nodes=10_000_000, max_triples=50_000_000)
    if kind == "application/n-triples":
        try:
            triples = [ox.Quad(t.subject, t.predicate, t.object) for t in
                       ox.parse(data, format=ox.RdfFormat.N_TRIPLES, without_named_graphs=True)]
        except (SyntaxError, ValueError) as exc:   # pyoxigraph reports a bad line as a SyntaxError
            raise StoreError(f"{path.name} is not valid N-Triples: {exc}", code="invalid_document") from None
    else:
        triples = document_to_triples(data, kind, graph, limits)
    stamp = now()
    rec = SourceRecord(url=graph, graph=graph, status=OK, found_via="load", first_seen=stamp,
                       generated_at=stamp, last_success=stamp, triples=len(triples))
    store.replace_source(rec, triples)
    return len(triples)


def export_store(store: Store, out, fmt: str = "nquads") -> None:
    rdf_format = {"nquads": ox.RdfFormat.N_QUADS, "trig": ox.RdfFormat.TRIG}[fmt]
    store.oxigraph.dump(out, format=rdf_format)
