"""The directory's text index: one SQLite FTS5 row per group, beside the store.

Why a second structure: people search by words, topic, kind, area and
distance, with facet counts, over up to ~100k groups. SPARQL ``regex`` and
``GROUP BY`` over the graph cannot answer that in milliseconds; SQLite's FTS5
(in the standard library) can. The index is derived data only: deleting
``<store>/index.sqlite`` loses nothing, the next ``sync`` rebuilds it.

``sync(store)`` reconciles the index with the provenance records. Each source
graph is indexed together with the content hash its record carries; a graph
is re-extracted (one SPARQL query) only when that hash changed, and dropped
when its source is gone. So a sync after an idle re-crawl costs one small
query over the provenance graph, and a crawl run by the CLI while the server
was down is picked up at the next server start.

A sync extracts and commits ``batch`` sources at a time (one query restricted to
those graphs per batch), so its memory is bounded by the batch, not by the
store, readers see each committed batch at once (WAL), and a sync killed
mid-way leaves a consistent index that the next sync completes: each source's
row in ``sources`` commits with its groups. An index created empty (a new file,
or one of another layout) is ``complete`` only once a sync has compared every
source; until then ``status()`` says it is being built, and how far.

Layout: ``groups`` (one row per group and source; if two sources describe the
same group, one row is primary and the other is kept with ``dup = 1`` so that
removing either source stays correct), ``groups_fts`` (external-content FTS5
over name, description, topics, kinds, areas, kept in step by triggers),
``facets`` (gid, facet, value) for filters and counts, ``sources`` (graph ->
indexed version), ``meta``; ``tombstones`` (the groups of removed sources, so their pages answer
410 Gone, not 404) and ``moves`` (old IRI -> new group IRI, ``identity.moves``), both kept in step
by the same sync.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyoxigraph as ox

from hubnet.vocab.authority import owns_graph, speaks_for
from hubnet.crawler.budget import UNLIMITED, Budget, OverBudget
from hubnet.crawler.geo import haversine_km, haversine_sql
from hubnet.crawler.settings import SEARCH_RANK_WINDOW, SERVER_DEFAULTS
from hubnet.crawler.store.graph import GRAPH_STATUSES, HUBNET, PROV, PROV_GRAPH, now
from hubnet.crawler.store import areas as _areas
from hubnet.crawler.store import identity
from hubnet.crawler.store import profiles as P

log = logging.getLogger(__name__)

INDEX_FILE = "index.sqlite"
SCHEMA_VERSION = 5    # bump when the layout or group keys change: an index of another version is rebuilt
FACETS = ("topic", "kind", "area")
MAX_LIMIT = 1000
# Filters whose total and facet counts are kept (per index generation); each entry is a few KB.
COUNTS_CACHE_SIZE = 512
# A search with words lists the groups of a filter that selects at most this many first and looks
# each match up among them; a broader filter is tested on each match instead. Only the speed differs.
LIST_FILTER_BELOW = 10_000

_DDL = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS sources (graph TEXT PRIMARY KEY, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    iri TEXT NOT NULL,
    source TEXT NOT NULL,
    source_hash TEXT,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    url TEXT,
    topics TEXT NOT NULL DEFAULT '',
    kinds TEXT NOT NULL DEFAULT '',
    areas TEXT NOT NULL DEFAULT '',
    lat REAL,
    lon REAL,
    authority INTEGER NOT NULL DEFAULT 1,
    dup INTEGER NOT NULL DEFAULT 0,
    UNIQUE (source, iri)
);
CREATE INDEX IF NOT EXISTS groups_key ON groups (key, dup);
CREATE INDEX IF NOT EXISTS groups_iri ON groups (iri);
CREATE INDEX IF NOT EXISTS groups_name ON groups (name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS groups_dups ON groups (id) WHERE dup = 1;
CREATE INDEX IF NOT EXISTS groups_lat ON groups (lat) WHERE lat IS NOT NULL;
CREATE TABLE IF NOT EXISTS facets (
    gid INTEGER NOT NULL,
    facet TEXT NOT NULL,
    value TEXT NOT NULL COLLATE NOCASE
);
CREATE INDEX IF NOT EXISTS facets_value ON facets (facet, value, gid);
CREATE INDEX IF NOT EXISTS facets_gid ON facets (gid);
CREATE VIRTUAL TABLE IF NOT EXISTS groups_fts USING fts5(
    name, description, topics, kinds, areas,
    content='groups', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3'
);
CREATE TABLE IF NOT EXISTS tombstones (
    key TEXT NOT NULL,
    iri TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT,
    first_seen TEXT,
    removed_at TEXT,
    PRIMARY KEY (source, iri)
);
CREATE INDEX IF NOT EXISTS tombstones_key ON tombstones (key);
CREATE INDEX IF NOT EXISTS tombstones_iri ON tombstones (iri);
CREATE TABLE IF NOT EXISTS moves (old TEXT PRIMARY KEY, new TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS moves_new ON moves (new);
CREATE TRIGGER IF NOT EXISTS groups_ai AFTER INSERT ON groups BEGIN
    INSERT INTO groups_fts (rowid, name, description, topics, kinds, areas)
    VALUES (new.id, new.name, new.description, new.topics, new.kinds, new.areas);
END;
CREATE TRIGGER IF NOT EXISTS groups_ad AFTER DELETE ON groups BEGIN
    INSERT INTO groups_fts (groups_fts, rowid, name, description, topics, kinds, areas)
    VALUES ('delete', old.id, old.name, old.description, old.topics, old.kinds, old.areas);
    DELETE FROM facets WHERE gid = old.id;
END;
"""

# name, description, topics, kinds, areas: a word in a name counts most.
_BM25 = "bm25(groups_fts, 10.0, 2.0, 5.0, 3.0, 3.0)"


# --------------------------------------------------------------------------- keys and values
def group_key(iri: str) -> str:
    """A stable, URL-safe key: the whole host name (less ``www.``) plus 64 bits of the IRI's hash.

    The hash tells groups apart (16 hex digits: no collision by chance or by search), the
    host shows whose group it is; neither is cut short, so a long host cannot pass for another.
    """
    digest = hashlib.sha256(iri.encode("utf-8")).hexdigest()[:16]
    try:
        host = (urlsplit(iri).hostname or "").lower()
    except ValueError:
        host = ""
    host = re.sub(r"[^a-z0-9.-]+", "-", host.removeprefix("www.")).strip("-.")
    return f"{host or 'group'}-{digest}"


def _clean(text) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def fts_query(text: str) -> str | None:
    """User words -> an FTS5 query: every word a quoted prefix term, all required.

    Only runs of letters and digits survive, each wrapped in double quotes, so
    no user input can reach FTS5's syntax (NEAR, column filters, ``*``, ``^``).
    """
    words = re.findall(r"\w+", text or "", flags=re.UNICODE)[:16]
    if not words:
        return None
    return " ".join(f'"{w}"*' for w in words)


# --------------------------------------------------------------------------- extraction
def _extract_query(graph_iri: str | None) -> str:
    """Long-format (group, field, value) rows: linear in the graph's size, no cross products.

    Which predicates mean what, and where coordinates come from, is ``store/profiles.py``'s;
    whether a subject is a group is its FILTER EXISTS, not a join (issue 12, finding 2).
    """
    g = f"<{graph_iri}>" if graph_iri else "?src"
    return f"""
SELECT DISTINCT ?src ?g ?f ?v ?place WHERE {{
  GRAPH {g} {{
    {{ ?g <{P.NAME}> ?v BIND("name" AS ?f) }}
    UNION {{ ?g <{P.DESCRIPTION}> ?v BIND("description" AS ?f) }}
    UNION {{ ?g <{P.URL}> ?v BIND("url" AS ?f) }}
    UNION {{ ?g <{P.KINDS}> ?v BIND("kind" AS ?f) }}
    UNION {{ ?g <{P.TOPICS}> ?t . OPTIONAL {{ ?t <{P.NAME}> ?tn }}
             BIND(IF(isLiteral(?t), ?t, ?tn) AS ?v) BIND("topic" AS ?f) }}
    UNION {{ ?g <{P.AREAS}> ?a . OPTIONAL {{ ?a <{P.NAME}> ?an }}
             BIND(IF(isLiteral(?a), ?a, ?an) AS ?v) BIND("area" AS ?f) }}
    UNION {{ ?g <{P.AREAS}> ?a . ?a <{P.IDENTIFIER}>|<{P.SAME_AS}> ?c
             BIND(CONCAT(STR(?c), "\t", STR(?a)) AS ?v) BIND("areacode" AS ?f) }}
    UNION {{ ?g <{P.AREAS}> ?a . ?a <{P.NAME}> ?an
             BIND(CONCAT(STR(?a), "\t", STR(?an)) AS ?v) BIND("areanode" AS ?f) }}
    UNION {{ ?g <{P.AREAS}> ?c FILTER(isIRI(?c)) BIND(CONCAT(STR(?c), "\t") AS ?v) BIND("areacode" AS ?f) }}
    UNION {{ ?g <{P.LOCATION}>/<{P.ADDRESS}>?/<{P.LOCALITY}> ?v BIND("locality" AS ?f) }}
    UNION {P.coordinate_branches("?g", "?place")}
    {P.is_group("?g")}
  }}
  {"BIND(" + g + " AS ?src)" if graph_iri else ""}
}}"""


@dataclass
class Extracted:
    iri: str
    name: str = ""
    description: str = ""
    url: str | None = None
    topics: tuple = ()
    kinds: tuple = ()
    areas: tuple = ()
    area_codes: tuple = ()             # ((GSS code, the name the profile gives it), ...)
    lat: float | None = None
    lon: float | None = None


def _assemble(rows) -> dict:
    """(src, group, field, value, place) rows -> {src: {iri: Extracted}}."""
    raw: dict = {}
    places: dict = {}  # (src, group) -> {place: (latitudes, longitudes)}
    for src, g, f, v, place in rows:
        if v is None:
            continue
        if f in ("lat", "lon"):
            found = places.setdefault((src, g), {}).setdefault(place, ([], []))
            found[f == "lon"].append(v[0])
        raw.setdefault(src, {}).setdefault(g, {}).setdefault(f, []).append(v)
    out: dict = {}
    for src, groups in raw.items():
        for iri, fields in groups.items():
            def first(name, _f=fields):
                vals = sorted(_f.get(name, ()), key=lambda v: (v[1] not in ("", "en"), v[0]))
                return vals[0][0] if vals else None

            def many(name, _f=fields):
                seen, res = set(), []
                for v, _lang in _f.get(name, ()):
                    c = _clean(v)
                    if c and c.lower() not in seen:
                        seen.add(c.lower())
                        res.append(c)
                return tuple(sorted(res, key=str.lower)[:50])

            kinds = tuple(P.kind_slugs(v for v, _ in fields.get("kind", ())))
            areas = many("area") or many("locality")[:1]
            area_codes = _area_codes(fields.get("areacode", ()), fields.get("areanode", ()))
            lat, lon = P.coordinates(places.get((src, iri), {})) or (None, None)
            url = first("url")
            out.setdefault(src, {})[iri] = Extracted(
                iri=iri, name=_clean(first("name") or "")[:500], description=(first("description") or "").strip()[:5000],
                url=url, topics=many("topic"), kinds=kinds, areas=areas,
                area_codes=area_codes, lat=lat, lon=lon)
    return out


def _area_codes(values, node_names=()) -> tuple:
    """"code-or-IRI<TAB>area node" values and "area node<TAB>name" values -> ((code, name), ...): valid GSS
    codes only (invalid ones are the profile's validation errors, not areas), one name per code. Codes
    and names come in rows of their own and are paired here (a query joining them would multiply them)."""
    names: dict = {}
    for v, _lang in node_names:
        node, _, name = v.partition("\t")
        if name and (node not in names or _clean(name) < names[node]):
            names[node] = _clean(name)
    out: dict = {}
    for v, _lang in values:
        raw, _, node = v.partition("\t")
        name = names.get(node, "") if node else ""
        code = _areas.code_of(raw)
        if code and (code not in out or (name and (not out[code] or _clean(name) < out[code]))):
            out[code] = _clean(name)[:_areas.MAX_NAME]
    return tuple(sorted(out.items()))[:50]


def _term_rows(solutions, graph_iri=None):
    for sol in solutions:
        v, place = sol["v"], sol["place"]
        src = graph_iri or sol["src"].value
        place = place.value if place is not None else None
        if v is None:
            yield src, sol["g"].value, sol["f"].value, None, place
        else:
            yield src, sol["g"].value, sol["f"].value, (v.value, getattr(v, "language", None) or ""), place


# --------------------------------------------------------------------------- search parameters
@dataclass
class Search:
    q: str = ""
    topic: str | None = None
    kind: str | None = None
    area: str | None = None
    near: tuple | None = None          # (lat, lon)
    within_km: float | None = None
    located: bool = False              # only groups with coordinates (the map)
    limit: int = 20
    offset: int = 0
    facet_limit: int = 20
    counts: bool = True                # False: no total and no facets (an export pages through the rows)


class TextIndex:
    """The index file. Reads may come from any thread; writes (``sync``) are serialised."""

    def __init__(self, path: str | Path | None, *, batch: int = SERVER_DEFAULTS["INDEX_SYNC_BATCH"],
                 pause: float = 0.0):
        if path is None:  # a throwaway in-memory index shared by this process's threads
            self._uri = f"file:hubnet-index-{id(self)}?mode=memory&cache=shared"
        else:
            self._uri = Path(path).resolve().as_uri()
        self._local = threading.local()
        self._all: list = []
        self._write_lock = threading.Lock()
        self._facet_cache: tuple = (None, None)
        # Work done by syncs in this process (tests count it): sources compared, sources (re)written.
        self.looked_at = self.writes = 0
        self._counts_cache: OrderedDict = OrderedDict()   # ((generation, epoch), filter) -> (total, facets)
        self._counts_lock = threading.Lock()
        self.facet_computations = 0   # filters counted (cache misses), for tests
        self._sql_math = False
        self.rank_window = SEARCH_RANK_WINDOW   # matches ranked by relevance at most (search)
        self.areas = _areas.Areas(self)
        self.batch = max(1, int(batch))   # sources extracted and committed together by a sync
        self.pause = float(pause)         # seconds a sync sleeps after each batch (CPU for requests)
        self._epoch = 0                   # committed batches: cached counts of an earlier one are stale
        self._progress: dict | None = None   # the running sync's {"sources", "indexed", "done", "to_do"}
        self._stopping = threading.Event()   # set by stop(): a running sync ends after its current batch
        with self._write_lock:
            found = self._layout()
            if found == "other":
                # Derived data of another layout, or no index at all: start from an empty file (the next
                # sync refills it). Removing it is instant; dropping its tables reads every page.
                self.close()
                _remove_files(Path(path))
            self._keeper = self._conn()  # keeps a shared in-memory database alive; creates the schema
            conn = self._keeper
            conn.execute("BEGIN IMMEDIATE")   # the whole schema or none of it
            for statement in _statements(_DDL + _areas.DDL):
                conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (json.dumps(SCHEMA_VERSION),))
            if found != "current":   # empty until a sync has gone through every source
                self._set_meta(conn, "complete", False)
            conn.commit()

    def _layout(self) -> str:
        """``current`` (an index of this layout), ``none`` (an empty database) or ``other``."""
        try:
            conn = self._conn()
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                return "none" if not conn.execute("SELECT 1 FROM sqlite_master").fetchone() else "other"
            version = conn.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
        except sqlite3.DatabaseError:   # not an SQLite file at all
            return "other"
        return "current" if version is not None and version[0] == json.dumps(SCHEMA_VERSION) else "other"

    # ------------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._uri, uri=True, timeout=30, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            if "mode=memory" not in self._uri:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.create_function("dist_km", 4, haversine_km, deterministic=True)
            try:  # SQLite's own math functions (usually compiled in) are ~5x faster than a Python callback
                conn.execute("SELECT asin(sin(radians(1)))")
                self._sql_math = True
            except sqlite3.OperationalError:
                self._sql_math = False
            self._local.conn = conn
            self._all.append(conn)
        return conn

    def stop(self) -> None:
        """Have a running sync end after the batch it is on (its committed batches stay)."""
        self._stopping.set()

    def close(self) -> None:
        for conn in self._all:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._all.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ meta
    def meta(self, key: str, default=None):
        row = self._conn().execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def _set_meta(self, conn, key: str, value) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def version(self) -> tuple:
        """What cached answers (counts, facets) are keyed by: the generation, bumped by each sync that
        changed something, and the batches this process committed since (a long sync commits many)."""
        return self.meta("generation", 0), self._epoch

    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM groups WHERE dup = 0").fetchone()[0]

    # ------------------------------------------------------------------ sync
    def sync(self, store, *, crawled_at: str | None = None, budget: Budget = UNLIMITED) -> dict:
        """Bring the index in line with the store; returns what changed.

        ``crawled_at`` records when a crawl finished (the CLI and the server's
        background thread pass it; a plain sync at start-up does not). Past its
        ``budget`` a sync stops extracting: what it committed stays, and the
        sources it did not reach are indexed by the next sync.
        """
        with self._write_lock:
            try:
                stats = self._sync(store, crawled_at, budget)
            finally:
                self._progress = None
        self.front_facets()  # warm the front page's counts here, off the request path
        return stats

    def pending(self, store, most: int) -> int:
        """How many sources a sync would look at now, counted up to ``most + 1`` at most: the
        sources the change journal names, or (a journal this index has not read) every source.
        Cheap, so a server can decide whether to sync before it answers."""
        names, _, _ = store.changes_since(self.meta("journal"), self.meta("journal_offset", 0))
        if names is not None:
            return len(names)
        statuses = store.oxigraph.quads_for_pattern(None, ox.NamedNode(HUBNET + "status"), None, PROV_GRAPH)
        return sum(1 for _ in itertools.islice(statuses, most + 1))

    def status(self) -> dict:
        """Where the index stands, for /health and the directory's note: ``state`` is ``building``
        (not every source indexed yet: searches may miss groups), ``updating`` (a sync is bringing a
        complete index up to date) or ``ready``; with the counts known (sources with a graph, and
        how many of them are indexed; the running sync's sources done and to do)."""
        complete = bool(self.meta("complete", True))
        progress = self._progress
        out = {"state": "ready" if complete and progress is None else "updating" if complete else "building",
               "complete": complete}
        if progress is not None:
            out.update(sources=progress["sources"],
                       sources_indexed=None if progress["indexed"] is None else progress["indexed"] + progress["done"],
                       sync_done=progress["done"], sync_to_do=progress["to_do"])
        elif not complete:
            out.update(sources=None, sources_indexed=self._conn().execute("SELECT COUNT(*) FROM sources").fetchone()[0])
        return out

    def _sync(self, store, crawled_at, budget: Budget = UNLIMITED) -> dict:
        """Only the sources the store's change journal names since the last sync; everything when
        the journal is not the one this index read last (a new index, a renewed journal)."""
        conn = self._conn()
        names, journal_id, offset = store.changes_since(self.meta("journal"), self.meta("journal_offset", 0))
        if names is None:
            want, status_counts = _source_versions(store)
            have = dict(conn.execute("SELECT graph, version FROM sources").fetchall())
            changed = [g for g, v in want.items() if have.get(g) != v]
            removed = [g for g in have if g not in want]
        else:
            want, status_counts = _graph_versions(store, names), None
            have = {}
            for chunk in _chunks(names, 500):
                have.update(conn.execute(f"SELECT graph, version FROM sources WHERE graph IN ({_marks(chunk)})",
                                         chunk).fetchall())
            changed = [g for g, v in want.items() if have.get(g) != v]
            removed = [g for g in have if g not in want]
        stats = {"changed": len(changed), "removed": len(removed), "groups": None}
        self.looked_at += len(want) if names is None else len(names)
        self.writes += len(changed) + len(removed)
        self._progress = {"sources": len(want) if names is None else None,
                          "indexed": len(want) - len(changed) if names is None else None,
                          "done": 0, "to_do": len(changed) + len(removed)}
        if changed or removed:
            try:
                self._apply(conn, store, want, changed, removed, budget)
            except OverBudget as exc:
                conn.rollback()   # the batch in progress; the batches committed before it stay
                log.warning("%s; the sources not reached are indexed at the next sync", exc)
                stats["unfinished"] = True
                journal_id = None   # what was not reached is found by comparing everything next time
            self._set_meta(conn, "generation", (self.meta("generation", 0) or 0) + 1)
        if names is None and not stats.get("unfinished"):
            self._set_meta(conn, "complete", True)   # every source compared and indexed
        if names is None or names:
            self._sync_tombstones(conn, store, names)
            self._sync_moves(conn, store)
            self._set_meta(conn, "sources", status_counts if status_counts is not None else _status_counts(store))
            self._set_meta(conn, "synced_at", now())
            self._set_meta(conn, "journal", journal_id)
            self._set_meta(conn, "journal_offset", offset)
        if crawled_at:
            self._set_meta(conn, "last_crawl", crawled_at)
        conn.commit()
        if changed or removed or self.meta("groups") is None:
            stats["groups"] = self.count()
            self._set_meta(conn, "groups", stats["groups"])
            conn.commit()
        else:
            stats["groups"] = self.meta("groups")
        return stats

    def _apply(self, conn, store, want: dict, changed: list, removed: list, budget: Budget) -> None:
        """Drop the removed sources' rows and (re-)extract the changed ones, ``batch`` sources per
        query and per commit: memory follows the batch, never the store, and each commit is whole
        (rows, duplicate marks, versions), so a sync cut short, or killed, leaves a consistent
        index and the next sync redoes only what is missing."""
        affected = set()
        for g in removed:
            affected.update(r[0] for r in conn.execute("SELECT iri FROM groups WHERE source = ?", (g,)))
            conn.execute("DELETE FROM groups WHERE source = ?", (g,))
            conn.execute("DELETE FROM sources WHERE graph = ?", (g,))
        self._progress["done"] += len(removed)
        for batch in _chunks(changed, self.batch):
            if self._stopping.is_set():
                raise OverBudget("the index sync was stopped (the server is stopping)")
            extracted = _assemble(_term_rows(budget.rows(store, _extract_query(None),
                                                         named_graphs=[ox.NamedNode(g) for g in batch])))
            for g in batch:
                affected.update(r[0] for r in conn.execute("SELECT iri FROM groups WHERE source = ?", (g,)))
                conn.execute("DELETE FROM groups WHERE source = ?", (g,))
                for item in extracted.get(g, {}).values():
                    self._insert(conn, g, want[g], item)
                    affected.add(item.iri)
                conn.execute("INSERT OR REPLACE INTO sources VALUES (?, ?)", (g, want[g]))
            self._mark_duplicates(conn, affected)
            affected = set()
            conn.commit()
            self._epoch += 1
            self._progress["done"] += len(batch)
            if self.pause:   # the requests have the CPU (and the GIL) meanwhile; stop() ends the rest
                self._stopping.wait(self.pause)
        self._mark_duplicates(conn, affected)

    def _sync_tombstones(self, conn, store, names) -> None:
        """The tombstones among the sources ``names`` (None: every source) into ``tombstones``."""
        if names is None:
            conn.execute("DELETE FROM tombstones")
            records = [store.source(q.subject.value) for q in store.oxigraph.quads_for_pattern(
                None, ox.NamedNode(HUBNET + "status"), ox.Literal("gone"), PROV_GRAPH)]
        else:
            for chunk in _chunks(names, 500):
                conn.execute(f"DELETE FROM tombstones WHERE source IN ({_marks(chunk)})", chunk)
            records = [store.source(n) for n in names]
        conn.executemany("INSERT OR REPLACE INTO tombstones VALUES (?, ?, ?, ?, ?, ?)", [
            (group_key(iri), iri, rec.url, rec.error_code, rec.first_seen, rec.removed_at)
            for rec in records if rec is not None and rec.status == "gone" and rec.about
            for iri in rec.about.split()])

    def _sync_moves(self, conn, store) -> None:
        """``moves`` as ``identity.moves`` reads the store now; a change is a new generation (the
        network model then counts links to old IRIs anew)."""
        moves = sorted(identity.moves(store).items())
        if moves != [tuple(r) for r in conn.execute("SELECT old, new FROM moves ORDER BY old")]:
            conn.execute("DELETE FROM moves")
            conn.executemany("INSERT INTO moves VALUES (?, ?)", moves)
            self._set_meta(conn, "generation", (self.meta("generation", 0) or 0) + 1)

    def tombstone(self, key: str) -> dict | None:
        """The latest tombstone of a group no longer listed, by key or IRI, with the group it moved
        to (``moved_to``) if its move is confirmed; None for a group never known."""
        conn = self._conn()
        row = conn.execute("SELECT * FROM tombstones WHERE key = ? OR iri = ? ORDER BY removed_at DESC LIMIT 1",
                           (key, key)).fetchone()
        if row is None:
            return None
        moved = conn.execute("SELECT new FROM moves WHERE old = ?", (row["iri"],)).fetchone()
        return {"iri": row["iri"], "source": row["source"], "reason": row["reason"], "first_seen": row["first_seen"],
                "removed_at": row["removed_at"], "moved_to": moved[0] if moved else None}

    def moved_to(self, iris) -> dict:
        """{old IRI: the group IRI it moved to} for those of ``iris`` that moved (identity.py)."""
        conn, out = self._conn(), {}
        for chunk in _chunks(list(set(iris)), 500):
            out.update(conn.execute(f"SELECT old, new FROM moves WHERE old IN ({_marks(chunk)})", chunk).fetchall())
        return out

    def moved_from(self, iri: str) -> list:
        """The old IRIs (and old pages) of a group that moved here, sorted."""
        return sorted(r[0] for r in self._conn().execute("SELECT old FROM moves WHERE new = ?", (iri,)))

    def _insert(self, conn, graph: str, version: str, e: Extracted) -> None:
        cur = conn.execute(
            "INSERT INTO groups (key, iri, source, source_hash, name, description, url, topics, kinds, areas,"
            " lat, lon, authority) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (group_key(e.iri), e.iri, graph, version, e.name, e.description, e.url,
             "\n".join(e.topics), " ".join(e.kinds), "\n".join(e.areas), e.lat, e.lon,
             1 if speaks_for(graph, e.iri) else 0))
        gid = cur.lastrowid
        conn.executemany("INSERT INTO facets VALUES (?, ?, ?)",
                         [(gid, "topic", t) for t in e.topics] + [(gid, "kind", k) for k in e.kinds]
                         + [(gid, "area", a) for a in e.areas])
        self.areas.add_group(conn, gid, e.area_codes, e.lat, e.lon)

    def set_derived_positions(self, positions: dict) -> None:
        """Give groups without a position of their own the one the aggregator derived ({iri: (lat, lon)})."""
        if not positions:
            return
        with self._write_lock:
            conn = self._conn()
            located = []   # rows placed now are in the boundaries around them too (docs/areas.md)
            for iri, (lat, lon) in positions.items():
                located += [(r[0], lat, lon) for r in conn.execute(
                    "UPDATE groups SET lat = ?, lon = ? WHERE iri = ? AND lat IS NULL RETURNING id", (lat, lon, iri))]
            self.areas.locate(conn, located)
            conn.commit()

    def _mark_duplicates(self, conn, iris) -> None:
        """One primary row per group IRI: the source that speaks for it first, then the oldest row."""
        for chunk in _chunks(sorted(iris), 500):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"""
                UPDATE groups SET dup = CASE WHEN id = (
                    SELECT g2.id FROM groups g2 WHERE g2.iri = groups.iri ORDER BY g2.authority DESC, g2.id LIMIT 1)
                  THEN 0 ELSE 1 END
                WHERE iri IN ({marks})""", chunk)

    # ------------------------------------------------------------------ reading
    def get(self, key: str) -> dict | None:
        """A group by key, or by its IRI (the percent-decoded IRI works as a key too)."""
        conn = self._conn()
        row = conn.execute("SELECT * FROM groups WHERE key = ? AND dup = 0", (key,)).fetchone()
        if row is None and ":" in key:
            row = conn.execute("SELECT * FROM groups WHERE iri = ? AND dup = 0", (key,)).fetchone()
        return _row(row) if row else None

    def by_iris(self, iris) -> dict:
        conn, out = self._conn(), {}
        for chunk in _chunks(list(set(iris)), 500):
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT * FROM groups WHERE dup = 0 AND iri IN ({marks})", chunk):
                out[row["iri"]] = _row(row)
        return out

    def by_sources(self, graphs) -> dict:
        """{graph: [groups]} for the given source graphs (links often name a profile's page, not its group)."""
        conn, out = self._conn(), {}
        for chunk in _chunks(list(set(graphs)), 500):
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT * FROM groups WHERE dup = 0 AND source IN ({marks})", chunk):
                out.setdefault(row["source"], []).append(_row(row))
        return out

    def iter_all(self, with_coordinates: bool = False):
        """Every group, by name (exports). A fresh cursor, so large exports stream."""
        sql = "SELECT * FROM groups WHERE dup = 0"
        if with_coordinates:
            sql += " AND lat IS NOT NULL AND lon IS NOT NULL"
        for row in self._conn().execute(sql + " ORDER BY name COLLATE NOCASE, id"):
            yield _row(row)

    def _filters(self, s: Search):
        """(FROM source, WHERE clauses, parameters, FTS5 match) for the words, topic, kind and area of ``s``."""
        where, params, source = ["+g.dup = 0"], [], "groups g"
        match = fts_query(s.q)
        if match:
            source = "groups_fts CROSS JOIN groups g ON g.id = groups_fts.rowid"
            where.append("groups_fts MATCH ?")
            params.append(match)
        for facet, value in (("topic", s.topic), ("kind", s.kind)):
            if value:
                where.append("g.id IN (SELECT gid FROM facets WHERE facet = ? AND value = ?)")
                params += [facet, value]
        if s.area:  # a code or a name, with every area below it (crawler/store/areas.py)
            clause, area_params = self.areas.filter_sql(s.area)
            where.append(clause)
            params += area_params
        return source, where, params, match

    def group_iris(self, s: Search) -> set[str]:
        """The IRIs of every group the words, topic, kind and area of ``s`` select: no ranking, no page."""
        source, where, params, _ = self._filters(s)
        return {r[0] for r in self._conn().execute(f"SELECT g.iri FROM {source} WHERE {' AND '.join(where)}", params)}

    def search(self, s: Search) -> dict:
        """Filtered, ranked groups plus facet counts over the whole filtered set.

        Query plans matter at 100k rows, so the SQL pins them: ``+g.dup`` keeps
        the planner from driving the search off the ``dup`` column, and the FTS5
        table is joined first with CROSS JOIN (left to itself the planner may
        probe FTS5 once per group: seconds at 10k rows).
        """
        conn = self._conn()
        source, where, params, match = self._filters(s)
        order = "g.name COLLATE NOCASE, g.id"   # words: _word_page ranks them
        select_extra, head = "", []
        if s.located or s.near:
            where.append("g.lat IS NOT NULL AND g.lon IS NOT NULL")
        if s.near:
            lat, lon = s.near
            if s.within_km is not None:
                # A bounding box the lat index can use, then the exact great-circle distance.
                dlat = s.within_km / 111.0
                where.append("g.lat BETWEEN ? AND ?")
                params += [lat - dlat, lat + dlat]
                coslat = math.cos(math.radians(min(89.9, abs(lat) + dlat)))
                dlon = s.within_km / (111.0 * max(coslat, 1e-6))
                if dlon < 180 and -180 <= lon - dlon and lon + dlon <= 180:
                    where.append("g.lon BETWEEN ? AND ?")
                    params += [lon - dlon, lon + dlon]
                dist, dist_params = self._distance_sql(lat, lon)
                where.append(f"{dist} <= ?")
                params += dist_params + [s.within_km]
            dist, head = self._distance_sql(lat, lon)
            select_extra = f", {dist} AS distance"
            order = "distance, g.name COLLATE NOCASE"
        base = f"FROM {source} WHERE {' AND '.join(where)}"
        if match and not s.near:
            rows = self._word_page(conn, s, match)
        else:
            rows = conn.execute(f"SELECT g.* {select_extra} {base} ORDER BY {order} LIMIT ? OFFSET ?",
                                head + params + [s.limit, s.offset]).fetchall()
        if not s.counts:
            total, facets = None, {}
        elif len(where) == 1:
            total = self.count()
            facets = self.front_facets(s.facet_limit)
        else:
            total, facets = self._counts(conn, base, params, s.facet_limit)
        groups = []
        for row in rows:
            item = _row(row)
            if s.near:
                item["distance_km"] = round(row["distance"], 3)
            groups.append(item)
        return {"total": total, "groups": groups, "facets": facets}

    def _word_page(self, conn, s: Search, match: str) -> list:
        """The page of a search by words: the groups matching everything, by relevance (bm25, then
        name). Only the ``rank_window`` most recently indexed matches are ranked: FTS5 reads its
        matches newest first (descending rowid) and stops there, so a word in most groups costs a
        bounded amount; any further matches follow, newest first. When no more match, every match
        is ranked, as the plain query would (docs/query.md, "The directory's word search").

        The topic, kind and area filters are either tested on each match, or, when one of them
        selects few groups (a capped count), the groups passing them all are listed first in a
        temporary table and each match is looked up there: a per-match test of a filter that
        matches tens of thousands of groups costs more than the list.
        """
        # The few duplicate rows from their partial index (left alone, SQLite scans every group for them).
        where = ["groups_fts MATCH ?",
                 "groups_fts.rowid NOT IN (SELECT id FROM groups INDEXED BY groups_dups WHERE dup = 1)"]
        params = [match]
        if s.located:
            where.append("EXISTS (SELECT 1 FROM groups WHERE id = groups_fts.rowid AND lat IS NOT NULL "
                         "AND lon IS NOT NULL)")
        try:
            self._filter_words(conn, s, where, params)
            window, found = self.rank_window, " AND ".join(where)
            rows = []
            if s.offset < window:
                ranked = (f"SELECT groups_fts.rowid AS id, {_BM25} AS score FROM groups_fts WHERE {found} "
                          "ORDER BY groups_fts.rowid DESC LIMIT ?")
                rows = conn.execute(f"SELECT g.* FROM ({ranked}) w CROSS JOIN groups g ON g.id = w.id "
                                    "ORDER BY w.score, g.name COLLATE NOCASE, g.id LIMIT ? OFFSET ?",
                                    params + [window, s.limit, s.offset]).fetchall()
            if s.offset + s.limit > window:   # past the ranked ones: newest first
                skip = max(s.offset, window)
                rows += conn.execute(f"SELECT g.* FROM groups_fts CROSS JOIN groups g ON g.id = groups_fts.rowid "
                                     f"WHERE {found} ORDER BY groups_fts.rowid DESC LIMIT ? OFFSET ?",
                                     params + [s.offset + s.limit - skip, skip]).fetchall()
            return rows
        finally:
            conn.rollback()   # the temporary list is scratch

    def _filter_words(self, conn, s: Search, where: list, params: list) -> None:
        """Add the topic, kind and area filters of ``s`` to a search by words (see ``_word_page``)."""
        parts = [("SELECT gid FROM facets WHERE facet = ? AND value = ?",
                  "EXISTS (SELECT 1 FROM facets WHERE facet = ? AND value = ? AND gid = {gid})", [facet, value])
                 for facet, value in (("topic", s.topic), ("kind", s.kind)) if value]
        if s.area:
            lister, test, area_params = self.areas.filter_parts(s.area)
            parts.append((lister, test, area_params))
        if not parts:
            return
        sizes = [conn.execute(f"SELECT count(*) FROM ({lister} LIMIT ?)", p + [LIST_FILTER_BELOW]).fetchone()[0]
                 for lister, _, p in parts]
        if min(sizes) >= LIST_FILTER_BELOW:
            for _, test, p in parts:
                where.append(test.format(gid="groups_fts.rowid"))
                params += p
            return
        first = sizes.index(min(sizes))
        lister, _, first_params = parts.pop(first)
        tests = [test.format(gid="d.gid") for _, test, _ in parts]
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS listed (id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.listed")
        conn.execute(f"INSERT OR IGNORE INTO temp.listed SELECT d.gid FROM ({lister}) d"
                     + (f" WHERE {' AND '.join(tests)}" if tests else ""),
                     first_params + [v for _, _, p in parts for v in p])
        where.append("+groups_fts.rowid IN temp.listed")   # "+": a lookup per match, not an FTS5 probe per id

    def _distance_sql(self, lat: float, lon: float) -> tuple[str, list]:
        """Great-circle distance in km from (lat, lon) to the row, as SQL (haversine)."""
        if not self._sql_math:
            return "dist_km(g.lat, g.lon, ?, ?)", [lat, lon]
        return haversine_sql("g.lat", "g.lon"), [lat, lat, lon]

    def front_facets(self, limit: int = 20) -> dict:
        """Facet counts over every group: cached until the index changes (sync warms the cache)."""
        gen = self.version()
        key, value = self._facet_cache
        if key == (gen, limit):
            return value
        conn, out = self._conn(), {}
        for facet in FACETS:
            # A scan of the covering index (facet, value, gid), minus the few duplicate rows.
            sql = ("SELECT value, COUNT(*) AS n FROM facets WHERE facet = ? AND gid NOT IN "
                   "(SELECT id FROM groups WHERE dup = 1) GROUP BY value ORDER BY n DESC, value LIMIT ?")
            out[facet] = [{"value": r["value"], "count": r["n"]} for r in conn.execute(sql, (facet, limit))]
        self._facet_cache = ((gen, limit), out)
        return out

    def _counts(self, conn, base: str, params: list, limit: int) -> tuple[int, dict]:
        """Total and facet counts of a filter, kept until the index changes (a new generation):
        a directory's visitors ask the same few filters again and again, page after page."""
        key = (self.version(), base, tuple(params), limit)
        with self._counts_lock:
            hit = self._counts_cache.get(key)
            if hit is not None:
                self._counts_cache.move_to_end(key)
                return hit
        value = self._count_and_facets(conn, base, params, limit)
        self.facet_computations += 1
        with self._counts_lock:
            if any(k[0] != key[0] for k in self._counts_cache):
                self._counts_cache.clear()   # counts of an older index
            self._counts_cache[key] = value
            while len(self._counts_cache) > COUNTS_CACHE_SIZE:
                self._counts_cache.popitem(last=False)
        return value

    def _count_and_facets(self, conn, base: str, params: list, limit: int) -> tuple[int, dict]:
        """Count and facet the filtered groups, evaluating the filter once (into a temp table).

        Few matches: look up each match's facets. Many: scan the facet index once
        per facet, testing membership in the match table.
        """
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS matched (id INTEGER PRIMARY KEY)")
        try:
            conn.execute("DELETE FROM temp.matched")
            total = conn.execute(f"INSERT INTO temp.matched SELECT g.id {base}", params).rowcount
            out = {}
            if total <= 5000:
                counted: dict = {f: [] for f in FACETS}
                for r in conn.execute("SELECT f.facet AS facet, f.value AS value, COUNT(*) AS n FROM temp.matched m "
                                      "CROSS JOIN facets f ON f.gid = m.id GROUP BY f.facet, f.value"):
                    counted[r["facet"]].append({"value": r["value"], "count": r["n"]})
                for facet, items in counted.items():
                    items.sort(key=lambda d: (-d["count"], d["value"].lower()))
                    out[facet] = items[:limit]
            else:
                for facet in FACETS:
                    sql = ("SELECT value, COUNT(*) AS n FROM facets WHERE facet = ? AND gid IN temp.matched "
                           "GROUP BY value ORDER BY n DESC, value LIMIT ?")
                    out[facet] = [{"value": r["value"], "count": r["n"]} for r in conn.execute(sql, (facet, limit))]
            return total, out
        finally:
            conn.rollback()  # the temp rows are scratch; end the implicit transaction either way


def _remove_files(path: Path) -> None:
    """The index file and its WAL files; the WAL first, so a crash in between leaves no WAL of the
    removed file beside a new one (SQLite would replay it into the new file)."""
    for suffix in ("-wal", "-shm", ""):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _statements(script: str) -> list:
    """A DDL script as single statements (``executescript`` would commit the caller's transaction)."""
    out, part = [], ""
    for line in script.splitlines(keepends=True):
        part += line
        if sqlite3.complete_statement(part):
            out.append(part.strip())
            part = ""
    return [p for p in out if p]


def _row(row) -> dict:
    return {
        "id": row["iri"], "key": row["key"], "name": row["name"], "description": row["description"],
        "url": row["url"], "kind": [k for k in row["kinds"].split(" ") if k],
        "topics": [t for t in row["topics"].split("\n") if t], "area": [a for a in row["areas"].split("\n") if a],
        "lat": row["lat"], "lon": row["lon"], "source": row["source"], "source_hash": row["source_hash"],
    }


def _chunks(items, n):
    it = iter(items)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


def _source_versions(store) -> tuple[dict, dict]:
    """({graph: version} of the sources that have a graph, {status: count} of all sources).

    One query over the provenance graph; the version is the content hash (or,
    for loaded files, which carry none, when the graph was written).
    """
    q = f"""
SELECT ?s ?status ?graph ?hash ?gen WHERE {{ GRAPH <{PROV_GRAPH.value}> {{
  ?s <{HUBNET}status> ?status .
  OPTIONAL {{ ?s <{HUBNET}graph> ?graph }}
  OPTIONAL {{ ?s <{HUBNET}contentHash> ?hash }}
  OPTIONAL {{ ?s <{PROV}generatedAtTime> ?gen }}
}} }}"""
    want, counts = {}, {}
    for sol in store.query(q):
        status = sol["status"].value
        counts[status] = counts.get(status, 0) + 1
        graph = sol["graph"]
        if graph is None or status not in GRAPH_STATUSES or not owns_graph(sol["s"].value, graph.value):
            continue  # a graph on another site (an older crawler's redirect record) is not that source's
        version = (sol["hash"].value if sol["hash"] is not None else
                   "t:" + (sol["gen"].value if sol["gen"] is not None else ""))
        want[graph.value] = version
    return want, counts


def _marks(items) -> str:
    return ",".join("?" * len(items))


def _graph_versions(store, names) -> dict:
    """{graph: version} for those of ``names`` that are a live source's graph (as _source_versions)."""
    ox_store, want = store.oxigraph, {}
    pred_graph = ox.NamedNode(HUBNET + "graph")
    for name in names:
        try:
            node = ox.NamedNode(name)
        except ValueError:
            continue
        for q in ox_store.quads_for_pattern(None, pred_graph, node, PROV_GRAPH):
            s = q.subject
            status = _value(ox_store, s, HUBNET + "status")
            if status not in GRAPH_STATUSES or not owns_graph(s.value, name):
                continue
            h = _value(ox_store, s, HUBNET + "contentHash")
            want[name] = h if h is not None else "t:" + (_value(ox_store, s, PROV + "generatedAtTime") or "")
    return want


def _value(ox_store, subject, predicate: str):
    q = next(ox_store.quads_for_pattern(subject, ox.NamedNode(predicate), None, PROV_GRAPH), None)
    return None if q is None else q.object.value


def _status_counts(store) -> dict:
    counts: dict = {}
    for q in store.oxigraph.quads_for_pattern(None, ox.NamedNode(HUBNET + "status"), None, PROV_GRAPH):
        counts[q.object.value] = counts.get(q.object.value, 0) + 1
    return counts


def index_path(store) -> Path | None:
    return None if store.path is None else Path(store.path) / INDEX_FILE


def open_index(store, **options) -> TextIndex:
    """The index beside ``store`` (``TextIndex`` options: batch, pause)."""
    return TextIndex(index_path(store), **options)
