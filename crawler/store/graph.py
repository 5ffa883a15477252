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

Sources the store has never held (a first crawl, a load) can instead be staged and
written in batches by Oxigraph's bulk loader, several times faster but not transactional
(issue 18). The promise is kept by a note: the batch's sources and graph names are written
to ``bulk-pending.json`` beside the database (fsynced), then their graphs and provenance
records are bulk-written, then the note is removed: that removal is the batch's commit. A store opened with the note still there undoes everything the note names
(``Store._recover``); as those sources were never held before, all of it is the batch's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
import threading
import weakref
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path

import pyoxigraph as ox

from hubnet import __version__
from hubnet.vocab.errors import StoreError
from hubnet.vocab.model import HUBNET, PROV

from hubnet.vocab.authority import owns_graph
from hubnet.crawler.settings import DEFAULT_STORE
from hubnet.crawler.store.shipped import NTriples

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
PROV_GRAPH = ox.NamedNode("https://w3id.org/hubnet/graph/provenance")

DEFAULT_PATH = DEFAULT_STORE
BULK_NOTE = "bulk-pending.json"   # the sources of a bulk batch not committed yet
# Names of the graphs and sources each write touches, for the text index. It lives inside the
# database directory (RocksDB leaves files it does not know alone), so a database restored from
# a backup comes without it and the index then compares everything.
JOURNAL = "oxigraph/hubnet-changes.journal"
# A journal larger than this is started afresh when the store opens; readers of the old one
# (the text index) then compare everything once.
JOURNAL_MAX_BYTES = 16 * 1024 * 1024


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def days_between(earlier: str | None, later: str) -> float:
    """Days from one record date (as ``now()`` writes them) to another; infinite if ``earlier`` is unknown."""
    if not earlier:
        return float("inf")
    try:
        a, b = (dt.datetime.fromisoformat(x.replace("Z", "+00:00")) for x in (earlier, later))
    except ValueError:
        return float("inf")
    return (b - a).total_seconds() / 86400


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
    found_via: str = "seed"         # "seed", "link", "ping", "load", "import"
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
    last_checked: str | None = None   # the last fetch, whatever its result (rewritten at most daily when unchanged)
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
    # A second-hand source (hubnet-crawler import; store/secondhand.py): where the file came from (its
    # --from address or file name) and its format (openreferral, murmurations). None for crawled ones.
    imported_from: str | None = None
    import_format: str | None = None
    # A tombstone of a group that moved (error_code "moved"): the document it now lives in (store/identity.py).
    moved_to: str | None = None
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
_DATE_FIELDS = {"first_seen", "generated_at", "last_success", "last_checked", "error_at", "removed_at"}
_IRI_FIELDS = {"graph", "found_from", "moved_to"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


_PRED = {f.name: ox.NamedNode(HUBNET + _camel(f.name)) for f in fields(SourceRecord) if f.name != "url"}
_PRED["generated_at"] = ox.NamedNode(PROV + "generatedAtTime")
_BY_PRED = {p.value: name for name, p in _PRED.items()}
_DERIVED = ox.NamedNode(PROV + "wasDerivedFrom")
_DERIVED_NT, _PROV_NT = str(_DERIVED), str(PROV_GRAPH)


_SOURCE = ox.NamedNode(HUBNET + "Source")
_ENTITY = ox.NamedNode(PROV + "Entity")
_XSD_INTEGER, _XSD_DATETIME = ox.NamedNode(XSD + "integer"), ox.NamedNode(XSD + "dateTime")
# (field, predicate, its N-Triples form, kind) in record order, worked out once.
_FIELDS = [(name, pred, str(pred), "iri" if name in _IRI_FIELDS else "int" if name in _INT_FIELDS
            else "date" if name in _DATE_FIELDS else "text") for name, pred in _PRED.items()]
_TYPES = [(RDF_TYPE, str(RDF_TYPE), _SOURCE), (RDF_TYPE, str(RDF_TYPE), _ENTITY)]


def _record_objects(rec: SourceRecord) -> list:
    """(predicate, its N-Triples form, object) of each statement about the record's URL.

    A count that is 0 is left out and read back as 0: most records have no dropped statements,
    misses or failed attempts, and every statement costs the store six index entries (~360
    bytes on disk) and its share of the bulk loader's time."""
    out = list(_TYPES)
    for name, pred, pred_nt, kind in _FIELDS:
        value = getattr(rec, name)
        if value is None:
            continue
        if kind == "iri":
            obj = ox.NamedNode(value)
        elif kind == "int":
            if not int(value):
                continue
            obj = ox.Literal(str(int(value)), datatype=_XSD_INTEGER)
        elif kind == "date":
            obj = ox.Literal(value, datatype=_XSD_DATETIME)
        else:
            obj = ox.Literal(str(value))
        out.append((pred, pred_nt, obj))
    return out


def _derives(rec: SourceRecord) -> bool:
    """Does the record's graph say ``prov:wasDerivedFrom`` it (a live graph on its own site)?"""
    return rec.has_graph and owns_graph(rec.url, rec.graph)


def _record_triples(rec: SourceRecord) -> list:
    s = ox.NamedNode(rec.url)
    out = [(s, p, o) for p, _, o in _record_objects(rec)]
    if _derives(rec):
        out.append((ox.NamedNode(rec.graph), _DERIVED, s))
    return out


def _bulk_parts(batch) -> list:
    """What the bulk loader writes for a batch of (record, statements): the graphs, then the records.

    As TriG, one block per graph and one for the records: pyoxigraph serialises a source's
    statements as N-Triples in one call (on staging, or in a parser process), which are TriG
    statements as they are, and the loader reads them back in Rust: about half the cost of making
    a Python ``Quad`` per statement for ``bulk_extend`` (three term reads and a new quad), and no
    Python pass over the text to name the graph on each line (N-Quads). The loader renames blank
    nodes, so a batch holding any (a loaded file: crawled profiles have none, extract.py names them)
    or a triple term goes as quads."""
    parts = []
    for rec, triples in batch:
        text = triples.text if isinstance(triples, NTriples) else b"_:"   # not N-Triples: see _shipped
        # A brace would end the graph's block: honest N-Triples holds one only inside a literal, but
        # the text may come from a parser process, whose answer is untrusted (threat model T7), and
        # "} <another graph> {" in it would write there. Such text goes the slower way, read as
        # strict N-Triples (one graph: this source's). So do blank nodes and triple terms.
        if b"_:" in text or b"<<" in text or b"{" in text or b"}" in text:
            return ([q for rec, triples in batch for q in _in_graph(triples, ox.NamedNode(rec.graph))]
                    + [ox.Quad(s, p, o, PROV_GRAPH) for rec, _ in batch for s, p, o in _record_triples(rec)])
        parts.append(b"%s {\n%s}\n" % (_iri(rec.graph).encode(), text))
    records = "".join(_record_nt(rec) for rec, _ in batch)
    return parts + [f"{_PROV_NT} {{\n{records}}}\n".encode()]


def _shipped(triples):
    """Statements to stage: as N-Triples text (``NTriples``: the loader's input, and a tenth of the
    memory of the terms), or, if they cannot be (a statement in a named graph), a list of them."""
    if isinstance(triples, NTriples):
        return triples
    if not isinstance(triples, (list, tuple)):
        triples = list(triples)
    try:
        return NTriples(ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b"", len(triples))
    except ValueError:   # a statement in a named graph: _bulk_parts puts it in this one, as a quad
        return list(triples)


def _record_nt(rec: SourceRecord) -> str:
    """``_record_triples`` as N-Triples lines, written as text: making a pyoxigraph term per field
    only to print it cost as much again (issue 18)."""
    s = _iri(rec.url)
    lines = [_TYPES_NT.format(s=s)]
    for name, _, pred_nt, kind in _FIELDS:
        value = getattr(rec, name)
        if value is None:
            continue
        if kind == "iri":
            obj = _iri(value)
        elif kind == "int":
            if not int(value):
                continue
            obj = f'"{int(value)}"^^<{XSD}integer>'
        elif kind == "date":
            obj = f"{_string_nt(value)}^^<{XSD}dateTime>"
        else:
            obj = _string_nt(str(value))
        lines.append(f"{s} {pred_nt} {obj} .\n")
    if _derives(rec):
        lines.append(f"{_iri(rec.graph)} {_DERIVED_NT} {s} .\n")
    return "".join(lines)


_TYPES_NT = "".join(f"{{s}} {p_nt} {o} .\n" for _, p_nt, o in _TYPES)


def _string_nt(value: str) -> str:
    """A string literal in N-Triples: only a quote, a backslash and the two line breaks must be
    escaped (STRING_LITERAL_QUOTE); every other character stands for itself."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def _in_graph(triples, graph: ox.NamedNode) -> list:
    """The statements as quads of ``graph``, its node made once (making it costs more than the quad)."""
    quad = ox.Quad
    return [quad(t.subject, t.predicate, t.object, graph) for t in triples]


def _term_nt(term) -> str:
    """N-Triples form of a term, which SPARQL's INSERT DATA accepts as is."""
    return str(term)


def _iri(value: str) -> str:
    # NamedNode() validates the IRI, so nothing odd can reach the update text.
    return str(ox.NamedNode(value))


class _Raw:
    """``Store.oxigraph``: the pyoxigraph store, whose writes first tell the ``Store`` it no longer
    knows every name held (``Store._forget_held``); reads go straight through."""

    _WRITES = frozenset({"add", "add_graph", "bulk_extend", "bulk_load", "clear", "clear_graph", "extend", "load",
                         "remove", "remove_graph", "update"})

    def __init__(self, store: ox.Store, on_write):
        # A weak reference: the Store keeps this handle, and a cycle would keep the database (and
        # its lock) open after the last reference to the Store went, until a garbage collection.
        self._store, self._on_write = store, weakref.WeakMethod(on_write)
        self.quads_for_pattern, self.query = store.quads_for_pattern, store.query   # the hot reads, unwrapped

    def __getattr__(self, name):
        if name in self._WRITES and (forget := self._on_write()) is not None:
            forget()
        return getattr(self._store, name)

    def __len__(self) -> int:
        return len(self._store)

    def __iter__(self):
        return iter(self._store)

    def __contains__(self, quad) -> bool:
        return quad in self._store

    def __bool__(self) -> bool:
        return bool(self._store)


# What a bulk batch's steps raise when the store or the batch's text fails them.
_BATCH_ERRORS = (OSError, RuntimeError, SyntaxError, ValueError, StoreError)


class Store:
    """A thin, transactional wrapper over ``pyoxigraph.Store``. ``path=None`` keeps it in memory.

    On disk, ``path`` is a directory holding ``oxigraph/`` (the database) and
    whatever else lives beside the graph (the text index, query checkpoints).
    """

    # Keep the names held in memory (``_never_held``); a store on a SPARQL server asks per batch instead.
    KEEPS_NAMES = True
    # ``stage_new_source(behind=True)`` loads a full batch on a thread of its own (see there).
    WRITES_BEHIND = True
    # New sources per bulk load unless ``Settings.bulk_batch`` says otherwise. Each load adds files
    # to every index that RocksDB then merges with what it holds: a first crawl of 10,000 spent
    # ~0.6 ms of CPU per source merging in batches of 500, ~0.25 ms in batches of 2,000 (issue 18).
    BULK_BATCH = 2000
    # A batch is also written once its sources hold this many statements, however few they are: what
    # waits for the loader in memory is then at most two batches (one staged, one loading) of ~150
    # bytes a statement, ~60 MB, even if every source ships ``max_triples`` (a hostile seed's sites).
    BULK_BATCH_STATEMENTS = 200_000

    @classmethod
    def bulk_batch(cls, settings) -> int:
        """Sources per bulk batch: ``settings.bulk_batch``, or this kind of store's own if that is None."""
        return cls.BULK_BATCH if settings.bulk_batch is None else settings.bulk_batch

    _behind: threading.Thread | None = None
    _held: set | None = None
    _filling: set | None = None
    _raw: _Raw | None = None

    def __init__(self, path: str | os.PathLike | None = DEFAULT_PATH, *, on_write=None):
        self.path = None if path is None else Path(path)
        # Re-entrant: the block list (blocklist.py) holds it across its own write and the removals, and
        # a transactional write first writes the staged batch it conflicts with.
        self._write_lock = threading.RLock()
        self._blocked: dict | None = None   # url -> block-list entry, read once (blocklist.py)
        # Fault injection (tests/test_store_failpoints.py): called with the operations of each
        # write, returns the operations run as its one transaction (for a bulk batch, the steps
        # run in order; see write_staged).
        self.on_write = on_write
        self._staged: dict = {}           # url -> (record, triples): new sources waiting for the bulk loader
        self._staged_graphs: set = set()
        self._staged_statements = 0
        self._broken: str | None = None   # why no write is allowed (a bulk batch could not be undone)
        # The batch being loaded behind the caller (at most one), the names it holds, and the errors of
        # batches that failed there, until ``take_failed_batches``.
        self._behind, self._behind_names, self._behind_failed = None, frozenset(), []
        # Every name the store holds anything under (see _never_held), or None: look each source up;
        # and the set ``sources`` is filling (a write meanwhile goes in too).
        self._held = self._filling = None
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
        self._journal_id, self._journal = self._open_journal()
        self._recover()
        if next(iter(self._store.named_graphs()), None) is None:
            self._held = set()   # an empty store (a first crawl, a load): nothing held, nothing to read

    @property
    def oxigraph(self) -> "_Raw":
        """The Oxigraph store, with every staged source written (a reader sees what was handed in).
        Writing through it makes the store look each new source up again (``_never_held``)."""
        self.write_staged()
        raw = self._raw
        if raw is None or raw._store is not self._store:
            raw = self._raw = _Raw(self._store, self._forget_held)
        return raw

    # ------------------------------------------------------------------ the names held
    def _note_held(self, names) -> None:
        """Under the write lock, before a write: ``names`` (sources, graphs) are held from now on."""
        names = [n for n in names if n]
        for held in (self._held, self._filling):
            if held is not None:
                held.update(names)

    def _forget_held(self) -> None:
        """Somebody may write behind our back (or the crawl is over): look sources up again."""
        with self._write_lock:
            self._held = self._filling = None

    # ------------------------------------------------------------------ the change journal
    def _open_journal(self):
        """(id, file) of the journal each write appends to, before it writes, the names it touches.

        In memory (``path=None``) the journal is a list. A missing, foreign or oversized journal
        is replaced by a new one with a new id, which tells its readers to compare everything."""
        if self.path is None:
            return uuid.uuid4().hex, []
        path = self.path / JOURNAL
        try:
            with open(path, "rb") as fh:
                head = fh.readline()
            if head.startswith(b"hubnet-journal ") and path.stat().st_size <= JOURNAL_MAX_BYTES:
                fh = open(path, "ab+")
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")   # a line cut short by a crash must not swallow the next name
                return head.split()[1].decode(), fh
        except (OSError, IndexError, UnicodeDecodeError):
            pass
        jid = uuid.uuid4().hex
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(f"hubnet-journal {jid}\n".encode())
        os.replace(tmp, path)
        return jid, open(path, "ab+")

    def _log_changes(self, names) -> None:
        """Append ``names`` before they are written: a write that then fails costs its reader only
        a needless look at them; a write never goes unseen."""
        names = [n for n in dict.fromkeys(names) if n]   # a source's URL often names its graph too
        if isinstance(self._journal, list):
            self._journal.extend(names)
            return
        self._journal.write("".join(n + "\n" for n in names).encode())
        self._journal.flush()

    def changes_since(self, journal_id: str | None, offset: int):
        """(names written since ``offset`` of journal ``journal_id``, or None if that journal is not
        this store's current one: compare everything; the current id; the offset to ask from next)."""
        if isinstance(self._journal, list):
            end = len(self._journal)
            names = self._journal[offset:end] if journal_id == self._journal_id else None
            return (sorted(set(names)) if names is not None else None), self._journal_id, end
        with self._write_lock:   # a whole line: writers append under this lock
            self.write_staged()
            end = self._journal.tell()
        if journal_id != self._journal_id:
            return None, self._journal_id, end
        with open(self.path / JOURNAL, "rb") as fh:
            fh.seek(offset)
            data = fh.read(end - offset)
        return sorted({n.decode() for n in data.splitlines() if n}), self._journal_id, end

    # ------------------------------------------------------------------ reading
    def sources(self) -> dict:
        """Every source record (tombstones included), keyed by URL.

        Reading them all, it also keeps the names the store holds anything under, so that a crawl
        (which starts here) tells a new source from a held one without a look-up (``_never_held``)."""
        self.write_staged()
        names = set() if self.KEEPS_NAMES else None
        with self._write_lock:
            self._filling = names   # a write from now on adds its names, whether the scan sees it or not
        recs: dict = {}
        for q in self._store.quads_for_pattern(None, None, None, PROV_GRAPH):
            name = _BY_PRED.get(q.predicate.value)
            if name is None:
                if names is not None:   # a graph's wasDerivedFrom: that graph's name is held
                    names.add(q.subject.value)
                continue
            rec = recs.get(q.subject.value)
            if rec is None:
                rec = recs[q.subject.value] = SourceRecord(url=q.subject.value)
            value = q.object.value
            if name in _INT_FIELDS:
                value = int(value)
            setattr(rec, name, value)
        if names is not None:
            names.update(recs)
            names.update(rec.graph for rec in recs.values() if rec.graph)
            names.update(g.value for g in self._store.named_graphs())
            with self._write_lock:
                if self._filling is names:   # not forgotten meanwhile
                    self._held, self._filling = names, None
        return recs

    def source(self, url: str) -> SourceRecord | None:
        self.write_staged()
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
        self.write_staged()
        return list(self._store.quads_for_pattern(None, None, None, ox.NamedNode(graph)))

    def query(self, sparql: str, **kw):
        kw.setdefault("use_default_graph_as_union", True)
        self.write_staged()
        return self._store.query(sparql, **kw)

    def named_graphs(self) -> list:
        self.write_staged()
        return [g.value for g in self._store.named_graphs() if isinstance(g, ox.NamedNode)]

    # ------------------------------------------------------------------ writing
    def _current(self, graph: ox.NamedNode, subject=None) -> set:
        return {(q.subject, q.predicate, q.object) for q in self._store.quads_for_pattern(subject, None, None, graph)}

    def _live_owners(self, graph: str, but: str = "") -> set:
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
            self._check_usable()
            if keep_record:
                self._refuse_blocked(record)   # under the lock: a crawl's write cannot slip past a forget
            involved = {*drop_graphs, *([insert_graph] if insert_graph else [])}
            if record.url in self._behind_names or involved & self._behind_names:
                self._wait_behind()   # in order: the batch being loaded first, then this change to it
            if record.url in self._staged or involved & self._staged_graphs:
                self.write_staged()   # in order: the staged version first, then this change to it
            old_record = self._current(PROV_GRAPH, ox.NamedNode(record.url))
            # Graphs whose attribution is recomputed: those written, and any the record claimed before.
            involved |= {o.value for _, p, o in old_record if p == _PRED["graph"]}
            self._log_changes([record.url, *sorted(involved)])
            self._note_held([record.url, record.graph, *involved])
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

    # ------------------------------------------------------------------ bulk writes of new sources
    def stage_new_source(self, record: SourceRecord, triples, *, batch: int, behind: bool = False) -> bool:
        """Hand in a source for the bulk loader if the store has never held it (no record, no graph,
        nothing claiming its graph); the batch is written once ``batch`` sources wait, on any read,
        on a change that involves one of them, and on ``flush``. Otherwise (or ``batch`` < 1) the
        source is written at once by ``replace_source``. True if staged.

        A write of a staged batch that fails raises ``StoreError`` whose ``lost`` lists the
        records of the batch, none of which is then in the store.

        ``behind``: a full batch is loaded on a thread of its own while the caller goes on staging
        the next (a crawl: the load of 500 sources took ~0.25 s, in which the crawl's pipeline, and
        with it every worker, stood still; issue 18). Its note is written before this returns, so a
        crash leaves it undone as before. One batch at a time: the next full batch, a read, a flush
        and a change involving one of its sources wait for it. Its failure is not raised here but
        kept for ``take_failed_batches``."""
        if record.graph and not owns_graph(record.url, record.graph):
            raise StoreError(f"{record.url} may not keep its statements in {record.graph}: a source owns "
                             "only a graph on its own site", code="cross_origin_graph")
        with self._write_lock:
            self._check_usable()
            self._refuse_blocked(record)   # a forgotten source is not staged either
            staged = batch > 0 and record.has_graph and self._never_held(record)
            if staged:
                shipped = _shipped(triples)
                self._staged[record.url] = (record, shipped)
                self._staged_graphs.add(record.graph)
                self._staged_statements += len(shipped)
                if len(self._staged) >= batch or self._staged_statements >= self.BULK_BATCH_STATEMENTS:
                    if behind and self.WRITES_BEHIND:
                        self._write_behind()
                    else:
                        self.write_staged()
        if not staged:
            self.replace_source(record, triples)
        return staged

    def _never_held(self, record: SourceRecord) -> bool:
        """Nothing in the provenance graph about the URL (its record, or a live graph of that name
        pointing at its owner: a rolled-back batch removes all of that), no graph of that name, no
        record claiming it. Known from the names held when the store keeps them (after ``sources``,
        or for an empty store): a name counts there whichever role it had, so a source counts as
        held at least as often as by the look-ups. Otherwise the graph is a point lookup (a graph
        that ever held a statement is named until dropped, so an emptied one only sends its source
        down the transactional path): an iterator costs ~3x as much, and more as a bulk-loaded store
        gathers files."""
        if record.url in self._staged or record.graph in self._staged_graphs:
            return False
        if record.url in self._behind_names or record.graph in self._behind_names:
            return False
        if self._held is not None:   # what sources() read, kept by every write since
            return record.url not in self._held and record.graph not in self._held
        url, graph = ox.NamedNode(record.url), ox.NamedNode(record.graph)
        return not (self._store.contains_named_graph(graph) or any(
            next(it, None) is not None for it in (
                self._store.quads_for_pattern(url, None, None, PROV_GRAPH),
                self._store.quads_for_pattern(None, _PRED["graph"], graph, PROV_GRAPH))))

    def write_staged(self) -> None:
        """Write the staged sources: note them, bulk-load their graphs and records, then remove
        the note, which is the commit. ``on_write`` sees (and may change) these steps. A batch
        being loaded behind is waited for first (its failure is kept, not raised here)."""
        if not self._staged and self._behind is None:
            return
        with self._write_lock:
            self._wait_behind()
            if not self._staged:
                return
            self._check_usable()
            batch, note, steps = self._begin_batch()
            self._load_batch(batch, note, steps)

    def _write_behind(self) -> None:
        """Under the write lock: note the staged batch now, load it on a thread of its own."""
        self._wait_behind()
        batch, note, steps = self._begin_batch()
        # The steps up to the note run here, in order with the other writers (the note appends to
        # the journal, which they share); the load and the commit behind.
        cut = next((i + 1 for i, step in enumerate(steps) if isinstance(step, tuple) and step[0] == "note"), 0)
        try:
            for step in steps[:cut]:
                self._run_step(step)
        except _BATCH_ERRORS as exc:
            raise self._failed_batch(batch, note, exc, committed=False) from None
        self._behind_names = frozenset(note["graphs"] + note["sources"])
        self._behind = threading.Thread(target=self._load_behind, args=(batch, note, steps[cut:]),
                                        name="hubnet-bulk-load")
        self._behind.start()

    def _load_behind(self, batch, note, steps) -> None:
        """The loading thread: an error of any kind fails the batch (undone unless it committed) and
        is kept for ``take_failed_batches``; nobody waits on this thread for an answer."""
        try:
            self._load_batch(batch, note, steps, errors=Exception)
        except StoreError as err:
            self._behind_failed.append(err)

    def _wait_behind(self) -> None:
        """Under the write lock: wait for the batch being loaded behind, if any."""
        if self._behind is not None:
            self._behind.join()
            self._behind, self._behind_names = None, frozenset()

    def take_failed_batches(self) -> list:
        """The ``StoreError`` of each batch loaded behind that failed since the last call (its
        ``lost`` lists its records, none of which is in the store)."""
        failed = []
        while self._behind_failed:
            failed.append(self._behind_failed.pop(0))
        return failed

    def _begin_batch(self):
        """Take the staged sources as a batch: (batch, its note, the steps that write it)."""
        batch = self._take_staged()
        note = {"graphs": [rec.graph for rec, _ in batch], "sources": [rec.url for rec, _ in batch]}
        self._note_held(note["graphs"] + note["sources"])
        # Graphs and records in one bulk load (each load writes new files for every index): their
        # order does not matter, as nothing of the batch counts before the commit.
        try:
            # Reading a batch's text the slower way (see _bulk_parts) may refuse it: the batch is lost.
            steps = [("note", note), ("quads", _bulk_parts(batch)), ("commit", None)]
        except (SyntaxError, ValueError) as exc:
            raise self._failed_batch(batch, note, exc, committed=False) from None
        if self.on_write is not None:
            steps = self.on_write(list(steps))
        return batch, note, steps

    def _take_staged(self) -> list:
        """The staged sources, as a batch of (record, statements); none is staged any more."""
        batch = list(self._staged.values())
        self._staged, self._staged_graphs, self._staged_statements = {}, set(), 0
        return batch

    def _load_batch(self, batch, note, steps, errors=None) -> None:
        """Run a batch's steps; on one of ``errors`` (the store's own by default), undo the batch
        unless it committed and raise ``StoreError`` whose ``lost`` lists its records."""
        committed = False
        try:
            for step in steps:
                self._run_step(step)
                committed = committed or (isinstance(step, tuple) and step[0] == "commit")
        except errors or _BATCH_ERRORS as exc:
            raise self._failed_batch(batch, note, exc, committed) from None

    def _failed_batch(self, batch, note, exc, committed: bool) -> StoreError:
        """The error of a failed batch, after undoing it if it did not commit."""
        err = StoreError(f"writing to the store failed: {exc}", code="store_error")
        err.lost = []
        if not committed:
            err.lost = [rec for rec, _ in batch]
            try:
                self._roll_back(note)
            except (OSError, RuntimeError) as again:
                # The note stays and the next open rolls the batch back; until then no write
                # may touch these sources, so none is allowed.
                self._broken = f"undoing an unfinished bulk write failed ({again}); reopen the store"
        return err

    def _run_step(self, step) -> None:
        if isinstance(step, str):   # a SPARQL update (the fault-injection tests insert failing ones)
            self._store.update(step)
            return
        kind, payload = step
        if kind == "note":
            self._log_changes(payload["sources"] + payload["graphs"])
            self._write_note(payload)
        elif kind == "quads":
            if payload and isinstance(payload[0], bytes):
                # lenient: each IRI was checked when its term was made (a record's NamedNode here, a
                # parsed statement in a parser process) and the text is pyoxigraph's serialisation or
                # ``_record_nt``; checking each again cost ~10 % of the load (issue 18). A parser's text
                # is untrusted (threat model T7): a malformed IRI in it could only land in its own
                # source's graph, as a brace sends its text the strict way (``_bulk_parts``).
                self._store.bulk_load(b"".join(payload), format=ox.RdfFormat.TRIG, lenient=True)
            else:
                self._store.bulk_extend(payload)
        elif kind == "commit" and self.path is not None:
            self._note_path().unlink()

    def _check_usable(self) -> None:
        if self._broken:
            raise StoreError(f"the store cannot be written: {self._broken}", code="store_error")

    def _note_path(self) -> Path:
        return self.path / BULK_NOTE

    def _write_note(self, note: dict) -> None:
        """The batch's graphs and sources, on disk before any of them is written."""
        if self.path is None:
            return
        tmp = self._note_path().with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump(note, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._note_path())
        fd = os.open(self.path, os.O_RDONLY)   # the rename itself on disk
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _roll_back(self, note: dict) -> None:
        """Remove everything an uncommitted batch may have written (its sources were never held
        before it, so all their records and graphs are the batch's), then the note."""
        for url in note["sources"]:
            node = ox.NamedNode(url)
            for q in [*self._store.quads_for_pattern(node, None, None, PROV_GRAPH),
                      *self._store.quads_for_pattern(None, _DERIVED, node, PROV_GRAPH)]:
                self._store.remove(q)
        for g in note["graphs"]:
            self._store.remove_graph(ox.NamedNode(g))
        if self.path is not None:
            self._store.flush()
            self._note_path().unlink(missing_ok=True)

    def _recover(self) -> None:
        """At open: a bulk batch whose note is still there never committed; undo what it wrote."""
        if self.path is None or not self._note_path().exists():
            return
        try:
            note = json.loads(self._note_path().read_text())
        except ValueError:
            note = None
        if not (isinstance(note, dict) and all(isinstance(note.get(k), list) and all(isinstance(v, str)
                                                                                      for v in note[k])
                                                for k in ("graphs", "sources"))):
            raise StoreError(f"{self._note_path()} is damaged: it names the sources of an unfinished bulk write. "
                             "Restore the store from a backup.", code="store_error")
        self._roll_back(note)
    def write_own_graph(self, removes, adds) -> None:
        """Change the aggregator's own statements (crawl/geocode.py's derived graph), under the write lock.

        Not one transaction: that graph is recomputed from the sources after every crawl.
        """
        adds = list(adds)
        with self._write_lock:
            self._wait_behind()
            self._note_held(q.graph_name.value for q in adds if not isinstance(q.graph_name, ox.DefaultGraph))
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
        self.write_staged()
        self._store.flush()
        self._store.backup(str(target))

    def flush(self) -> None:
        """Write the staged sources, then Oxigraph's buffers to disk. The names held are dropped
        (the end of a crawl: a serving hub does not keep them between crawls)."""
        self.write_staged()
        self._forget_held()
        if self.path is not None:
            self._store.flush()

    def close(self) -> None:
        # pyoxigraph closes on garbage collection; drop our reference so the lock is released.
        self.flush()
        if not isinstance(self._journal, list):
            self._journal.close()
        self._store = self._raw = None


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
    store.stage_new_source(rec, triples, batch=1)   # a graph never held goes through the bulk loader
    return len(triples)


def export_store(store: Store, out, fmt: str = "nquads") -> None:
    rdf_format = {"nquads": ox.RdfFormat.N_QUADS, "trig": ox.RdfFormat.TRIG}[fmt]
    store.oxigraph.dump(out, format=rdf_format)
