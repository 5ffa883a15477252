"""Areas at every level (ward -> borough -> region) and which groups belong to each.

An area is identified by its GSS code (one capital letter and 8 digits, e.g. ``E05000058``), whose
linked-data IRI is ``http://statistics.data.gov.uk/id/statistical-geography/<code>``. It has a
name, a level (``ward``, ``borough``, ``region`` or an operator's own, such as ``neighbourhood``)
and a parent. The aggregator learns areas from

- the codes groups give in ``areaServed`` (``identifier``, or an ONS IRI as ``sameAs``);
- the operator's areas file (``--areas areas.csv``: ``code,name,level,parent``, a header row);
- the operator's boundaries (``--boundaries areas.geojson``: features whose ``properties.code``
  is an area code);
- the postcode lookup's answers (crawl/geocode.py: ward -> local authority -> region).

Names come from the operator, then the lookup, then profiles (``origin``); a later source never
renames an area an earlier one named, and name look-ups prefer the first two (docs/areas.md).

A group belongs to an area (a *membership*, with where it came from, ``via``) when its profile
gives the area's code (``profile``), names an area the aggregator knows under one name only
(``profile_name``), gives a postcode in the area's ward (``postcode``), or is placed inside the
area's boundary (``boundary``). Everything
here is the aggregator's derived data, kept in the text index's SQLite file beside the groups
(tables ``areas``, ``area_tree``, ``area_shapes``, ``area_members``), never in a group's graph.

Roll-up: ``area_tree`` holds (ancestor, area) for every area and each area above it (itself
included), computed once when the areas are loaded, so a search for a region is one indexed
lookup of its areas and one of their members, never a walk per request.

The operator's files are checked whole before anything is stored (a malformed file changes
nothing), then copied into the store directory (``areas.csv``, ``boundaries.geojson``) so the
index, which is derived data and may be rebuilt, can always be refilled from them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from hubnet.vocab.errors import HubnetError

GSS = re.compile(r"[A-Z][0-9]{8}")
ONS = "http://statistics.data.gov.uk/id/statistical-geography/"
# Levels the pages know how to order (largest first); an operator's own levels sort after them.
LEVELS = ("region", "borough", "ward")
MAX_NAME = 200
GRID = 0.1     # degrees: the cells boundaries are bucketed in (a ward is ~0.01-0.1 degrees across)
MAX_CELLS = 2_500   # a boundary whose box covers more cells (5 x 5 degrees) is kept out of the grid
ANYWHERE = "anywhere"
# England's regions as postcodes.io names them (its ``region``; it gives no region code) -> GSS codes.
REGIONS = {"north east": "E12000001", "north west": "E12000002", "yorkshire and the humber": "E12000003",
           "east midlands": "E12000004", "west midlands": "E12000005", "east of england": "E12000006",
           "london": "E12000007", "south east": "E12000008", "south west": "E12000009"}
# Who named an area, most trusted first: a name from a source never changes to a later source's.
ORIGINS = ("operator", "geocoder", "profile")
MAX_LEVEL = 50
AREAS_COPY = "areas.csv"
BOUNDARIES_COPY = "boundaries.geojson"

DDL = """
CREATE TABLE IF NOT EXISTS areas (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT, parent TEXT,
    origin TEXT NOT NULL            -- who named it: 'operator' (areas or boundaries file), 'geocoder', 'profile'
);
CREATE INDEX IF NOT EXISTS areas_name ON areas (name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS areas_parent ON areas (parent);
CREATE TABLE IF NOT EXISTS area_tree (
    ancestor TEXT NOT NULL, code TEXT NOT NULL, PRIMARY KEY (ancestor, code)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS area_shapes (
    code TEXT PRIMARY KEY, geometry TEXT NOT NULL,
    min_lon REAL NOT NULL, min_lat REAL NOT NULL, max_lon REAL NOT NULL, max_lat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS area_members (
    code TEXT NOT NULL, gid INTEGER NOT NULL, via TEXT NOT NULL, PRIMARY KEY (code, gid, via)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS area_members_gid ON area_members (gid);
CREATE TRIGGER IF NOT EXISTS groups_ad_areas AFTER DELETE ON groups BEGIN
    DELETE FROM area_members WHERE gid = old.id;
END;
"""


class AreasFileError(HubnetError):
    """The operator's areas or boundaries file is malformed (nothing stored is changed)."""

    code = "bad_areas_file"
    status = 422


# --------------------------------------------------------------------------- codes
def is_code(value) -> bool:
    return isinstance(value, str) and GSS.fullmatch(value) is not None


def code_of(value) -> str | None:
    """An area code from a profile's ``identifier`` or ``sameAs`` value (the ONS IRI), else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if is_code(value):
        return value
    for prefix in (ONS, "https://" + ONS[len("http://"):]):
        if value.startswith(prefix) and is_code(value[len(prefix):]):
            return value[len(prefix):]
    return None


def region_code(name) -> str | None:
    """The GSS code of one of England's regions by its name (any case), else None."""
    return REGIONS.get(name.strip().lower()) if isinstance(name, str) else None


def ons_iri(code: str) -> str:
    return ONS + code


def level_rank(level: str | None) -> int:
    """Largest areas first: region, borough, ward, then any other level."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


# --------------------------------------------------------------------------- the operator's files
@dataclass(frozen=True)
class Area:
    code: str
    name: str
    level: str | None = None
    parent: str | None = None


def _read(path, what: str, max_bytes: int) -> str:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise AreasFileError(f"{what} {p}: {size} bytes, more than the limit of {max_bytes} "
                                 "(setting areas_max_bytes)")
        return p.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise AreasFileError(f"{what} {p}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise AreasFileError(f"{what} {p}: not UTF-8 text") from None


def parse_areas_csv(text: str, *, label: str = "areas file", max_rows: int = 50_000) -> list[Area]:
    """``code,name,level,parent`` rows (a header row naming them, in any order; more columns ignored)."""
    rows = csv.reader(io.StringIO(text), strict=True)   # an unclosed quote is an error, not a long name
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        raise AreasFileError(f"{label}: empty; the first row must name the columns code,name,level,parent") from None
    except csv.Error as exc:
        raise AreasFileError(f"{label} line 1: {exc}") from None
    missing = [c for c in ("code", "name", "level", "parent") if c not in header]
    if missing:
        raise AreasFileError(f"{label} line 1: no column {', '.join(missing)} (the header row must name "
                             f"code,name,level,parent; found {','.join(header)[:200]!r})")
    col = {c: header.index(c) for c in ("code", "name", "level", "parent")}
    areas: dict[str, Area] = {}
    try:
        for row in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(areas) >= max_rows:
                raise AreasFileError(f"{label}: more than {max_rows} areas (setting areas_max_rows)")
            cells = {c: (row[i].strip() if i < len(row) else "") for c, i in col.items()}
            areas_row = _area_row(cells, f"{label} line {line}")
            if areas_row.code in areas:
                raise AreasFileError(f"{label} line {line}: the code {areas_row.code} is given twice")
            areas[areas_row.code] = areas_row
    except csv.Error as exc:
        raise AreasFileError(f"{label} line {rows.line_num}: {exc}") from None
    for a in areas.values():
        if a.parent is not None and a.parent not in areas:
            raise AreasFileError(f"{label}: {a.code} ({a.name}) has the parent {a.parent}, which is not in the file")
    tree(areas.values(), label=label)  # refuses cycles
    return list(areas.values())


def _area_row(cells: dict, where: str) -> Area:
    code, name, level, parent = cells["code"], cells["name"], cells["level"].lower(), cells["parent"]
    if not is_code(code):
        raise AreasFileError(f"{where}: code {code[:40]!r} is not an area code "
                             "(a GSS code: one capital letter and 8 digits, e.g. E05000058)")
    if not name or len(name) > MAX_NAME:
        raise AreasFileError(f"{where}: name must be given, at most {MAX_NAME} characters ({code})")
    if len(level) > MAX_LEVEL:
        raise AreasFileError(f"{where}: level is longer than {MAX_LEVEL} characters ({code})")
    if parent and not is_code(parent):
        raise AreasFileError(f"{where}: parent {parent[:40]!r} is not an area code (leave it empty for a top area)")
    if parent == code:
        raise AreasFileError(f"{where}: {code} is its own parent")
    return Area(code, name, level or None, parent or None)


def tree(areas, *, label: str = "areas") -> list[tuple[str, str]]:
    """(ancestor, code) for every area and each area above it, itself included. Refuses cycles."""
    parent = {a.code: a.parent for a in areas}
    pairs = []
    for code in parent:
        seen, node = [], code
        while node is not None and node in parent:
            if node in seen:
                raise AreasFileError(f"{label}: the parents of {code} go round in a circle "
                                     f"({' -> '.join(seen + [node])})")
            seen.append(node)
            pairs.append((node, code))
            node = parent[node]
    return pairs


# --------------------------------------------------------------------------- boundaries
def parse_boundaries(text: str, *, label: str = "boundaries file", max_points: int = 2_000_000) -> dict:
    """{code: {"name", "level", "parent", "polygons": [[outer ring, holes...], ...]}} from GeoJSON.

    Each feature needs ``properties.code`` (an area code) and a Polygon or MultiPolygon geometry
    of finite [lon, lat] positions; rings are closed if they are not.
    """
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise AreasFileError(f"{label}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise AreasFileError(f"{label}: must be a GeoJSON FeatureCollection")
    out, points = {}, 0
    for n, feature in enumerate(doc["features"], 1):
        where = f"{label} feature {n}"
        props = feature.get("properties") if isinstance(feature, dict) else None
        code = props.get("code") if isinstance(props, dict) else None
        if not is_code(code):
            raise AreasFileError(f"{where}: properties.code {str(code)[:40]!r} is not an area code "
                                 "(one capital letter and 8 digits, e.g. E05000058)")
        if code in out:
            raise AreasFileError(f"{where}: the code {code} has two features (use one MultiPolygon)")
        polygons = _polygons(feature.get("geometry"), where)
        points += sum(len(ring) for poly in polygons for ring in poly)
        if points > max_points:
            raise AreasFileError(f"{label}: more than {max_points} positions (setting boundary_max_points)")
        name = props.get("name")
        level, parent = props.get("level"), props.get("parent")
        out[code] = {"name": name.strip()[:MAX_NAME] if isinstance(name, str) and name.strip() else None,
                     "level": level.strip().lower()[:MAX_LEVEL] if isinstance(level, str) and level.strip() else None,
                     "parent": parent if is_code(parent) else None,
                     "polygons": polygons}
    return out


def _polygons(geometry, where: str) -> list:
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if kind == "Polygon":
        coords = [coords]
    elif kind != "MultiPolygon":
        raise AreasFileError(f"{where}: the geometry must be a Polygon or MultiPolygon (got {str(kind)[:40]})")
    if not isinstance(coords, list) or not coords:
        raise AreasFileError(f"{where}: the geometry has no coordinates")
    return [[_ring(ring, where) for ring in _list(poly, where)] for poly in coords]


def _list(value, where: str) -> list:
    if not isinstance(value, list) or not value:
        raise AreasFileError(f"{where}: a polygon must be a list of rings")
    return value


def _ring(ring, where: str) -> list:
    if not isinstance(ring, list):
        raise AreasFileError(f"{where}: a ring must be a list of [lon, lat] positions")
    out = []
    for pos in ring:
        if (not isinstance(pos, list) or len(pos) < 2 or
                not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in pos[:2])
                or not (-180 <= pos[0] <= 180 and -90 <= pos[1] <= 90)):
            raise AreasFileError(f"{where}: {json.dumps(pos)[:60]} is not a [lon, lat] position")
        out.append((float(pos[0]), float(pos[1])))
    if len(out) and out[0] != out[-1]:
        out.append(out[0])
    if len(out) < 4:
        raise AreasFileError(f"{where}: a ring needs at least 3 distinct positions")
    return out


def _in_ring(ring, lon: float, lat: float) -> bool:
    """Ray casting (even-odd): does a ray east from the point cross the ring an odd number of times?"""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def contains(polygons, lon: float, lat: float) -> bool:
    """Inside some polygon's outer ring and none of its holes."""
    return any(_in_ring(poly[0], lon, lat) and not any(_in_ring(h, lon, lat) for h in poly[1:]) for poly in polygons)


def bbox(polygons) -> tuple[float, float, float, float]:
    xs = [x for poly in polygons for x, _ in poly[0]]
    ys = [y for poly in polygons for _, y in poly[0]]
    return min(xs), min(ys), max(xs), max(ys)


# --------------------------------------------------------------------------- the operator's area set
@dataclass
class AreaSet:
    """The operator's areas and boundaries, checked and merged: what ``Areas.load`` stores."""

    areas: dict            # code -> Area
    shapes: dict           # code -> polygons
    digest: str = ""

    @classmethod
    def read(cls, areas_path=None, boundaries_path=None, *, max_bytes: int = 20 * 1024 * 1024,
             max_rows: int = 50_000, max_points: int = 2_000_000) -> "AreaSet":
        """Read and check both files (either may be None). Raises AreasFileError naming the problem."""
        texts = {}
        if areas_path is not None:
            texts["areas"] = _read(areas_path, "areas file", max_bytes)
        if boundaries_path is not None:
            texts["boundaries"] = _read(boundaries_path, "boundaries file", max_bytes)
        return cls.parse(texts.get("areas"), texts.get("boundaries"), max_rows=max_rows, max_points=max_points,
                         labels=(f"areas file {areas_path}", f"boundaries file {boundaries_path}"))

    @classmethod
    def parse(cls, areas_text: str | None, boundaries_text: str | None, *, max_rows: int = 50_000,
              max_points: int = 2_000_000, labels=("areas file", "boundaries file")) -> "AreaSet":
        areas = {a.code: a for a in parse_areas_csv(areas_text, label=labels[0], max_rows=max_rows)} \
            if areas_text is not None else {}
        shapes = {}
        if boundaries_text is not None:
            for code, f in parse_boundaries(boundaries_text, label=labels[1], max_points=max_points).items():
                shapes[code] = f["polygons"]
                if code not in areas:  # a boundary for an area the areas file does not list
                    areas[code] = Area(code, f["name"] or code, f["level"], f["parent"])
            for a in list(areas.values()):
                if a.parent is not None and a.parent not in areas:
                    areas[a.code] = Area(a.code, a.name, a.level, None)
            tree(areas.values(), label=labels[1])
        return cls(areas, shapes, digest(areas_text, boundaries_text))

    def save(self, directory, areas_text: str | None, boundaries_text: str | None) -> None:
        """Copy the checked files into the store directory (atomically), or remove an old copy."""
        for name, text in ((AREAS_COPY, areas_text), (BOUNDARIES_COPY, boundaries_text)):
            target = Path(directory) / name
            if text is None:
                target.unlink(missing_ok=True)
                continue
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)


def digest(areas_text: str | None, boundaries_text: str | None) -> str:
    return hashlib.sha256(json.dumps([areas_text, boundaries_text]).encode("utf-8")).hexdigest()


def install(directory, areas_path=None, boundaries_path=None, *, loaded: str | None = None,
            **limits) -> AreaSet | None:
    """Check the operator's files, then keep copies in the store directory (a file not given keeps
    its copy from before). Raises AreasFileError. None when they are the files the index holds
    already (digest ``loaded``): not parsed again."""
    max_bytes = limits.pop("max_bytes", 20 * 1024 * 1024)
    kept = _copies(directory, max_bytes) if directory is not None else [None, None]
    texts = [k if p is None else _read(p, what, max_bytes)
             for p, what, k in ((areas_path, "areas file", kept[0]), (boundaries_path, "boundaries file", kept[1]))]
    if directory is not None and digest(*texts) == loaded and kept == texts:
        return None
    area_set = AreaSet.parse(*texts, labels=(f"areas file {areas_path}", f"boundaries file {boundaries_path}"),
                             **limits)
    if directory is not None:
        area_set.save(directory, *texts)
    return area_set


def saved(directory, *, loaded: str | None = None, **limits) -> AreaSet | None:
    """The area set kept in the store directory; None when the operator never gave one, or when it
    is the one the index holds already (digest ``loaded``: a start-up does not parse it again)."""
    if directory is None:
        return None
    texts = _copies(directory, limits.pop("max_bytes", 20 * 1024 * 1024))
    if texts == [None, None] or digest(*texts) == loaded:
        return None
    return AreaSet.parse(*texts, labels=(f"areas file {Path(directory) / AREAS_COPY}",
                                         f"boundaries file {Path(directory) / BOUNDARIES_COPY}"), **limits)


def _copies(directory, max_bytes: int = 20 * 1024 * 1024) -> list:
    paths = [Path(directory) / n for n in (AREAS_COPY, BOUNDARIES_COPY)]
    return [_read(p, "saved areas file", max_bytes) if p.exists() else None for p in paths]


# --------------------------------------------------------------------------- in the index
class Areas:
    """The areas tables in the index's SQLite file. Writes run under the index's write lock."""

    def __init__(self, index):
        self.index = index
        self._shapes: tuple | None = None  # ([(code, bbox, polygons)], grid), read once per load
        self._all_cache: tuple = (None, None)

    # ------------------------------------------------------------------ writing
    def load(self, area_set: AreaSet) -> dict:
        """Replace the operator's areas and boundaries and recompute the memberships they give,
        in one transaction. A set already loaded (same digest) is left alone."""
        conn = self.index._conn()
        if self.index.meta("areas_digest") == area_set.digest:
            return {"changed": False}
        with self.index._write_lock:
            try:
                conn.execute("DELETE FROM areas WHERE origin = 'operator'")
                conn.executemany("INSERT OR REPLACE INTO areas VALUES (?, ?, ?, ?, 'operator')",
                                 [(a.code, a.name, a.level, a.parent) for a in area_set.areas.values()])
                conn.execute("DELETE FROM area_shapes")
                conn.executemany("INSERT INTO area_shapes VALUES (?, ?, ?, ?, ?, ?)",
                                 [(c, json.dumps(p), *bbox(p)) for c, p in area_set.shapes.items()])
                self._retree(conn)
                self._shapes = None
                conn.execute("DELETE FROM area_members WHERE via IN ('profile_name', 'boundary')")
                self._name_members(conn, None)
                self._boundary_members(conn, conn.execute(
                    "SELECT id, lat, lon FROM groups WHERE lat IS NOT NULL AND lon IS NOT NULL").fetchall())
                self.index._set_meta(conn, "areas_digest", area_set.digest)
                self.index._set_meta(conn, "generation", (self.index.meta("generation", 0) or 0) + 1)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        self.index._facet_cache = (None, None)
        return {"changed": True, "areas": len(area_set.areas), "boundaries": len(area_set.shapes)}

    def _retree(self, conn) -> None:
        rows = conn.execute("SELECT code, name, level, parent FROM areas").fetchall()
        known = {r[0] for r in rows}
        pairs = tree([Area(r[0], r[1], r[2], r[3] if r[3] in known else None) for r in rows])
        conn.execute("DELETE FROM area_tree")
        conn.executemany("INSERT OR IGNORE INTO area_tree VALUES (?, ?)", pairs)

    def add_group(self, conn, gid: int, codes, lat, lon) -> None:
        """A group's memberships as it is indexed: the codes its profile gives ((code, name) pairs),
        the one area its profile names by a known name, the boundaries around it."""
        learned = [(c, n or c) for c, n in codes]
        if learned:
            new = conn.execute(f"SELECT COUNT(*) FROM areas WHERE code IN ({','.join('?' * len(learned))})",
                               [c for c, _ in learned]).fetchone()[0] < len(set(c for c, _ in learned))
            # One name per learned area whatever order groups are indexed in: the least one given.
            conn.executemany("INSERT INTO areas VALUES (?, ?, NULL, NULL, 'profile') ON CONFLICT (code) DO UPDATE "
                             "SET name = excluded.name WHERE areas.origin = 'profile' AND excluded.name < areas.name",
                             learned)
            if new:
                conn.executemany("INSERT OR IGNORE INTO area_tree VALUES (?, ?)", [(c, c) for c, _ in learned])
            conn.executemany("INSERT OR IGNORE INTO area_members VALUES (?, ?, 'profile')",
                             [(c, gid) for c, _ in learned])
        self._name_members(conn, gid)
        if lat is not None and lon is not None:
            self._boundary_members(conn, [(gid, lat, lon)])

    def set_postcode_areas(self, learned: dict, members: dict) -> dict:
        """The areas of groups' postcodes (crawl/geocode.py ``derived_areas``): learn the geocoder's
        areas ({code: (name, level, parent)}; an area the operator names keeps the operator's name,
        level and parent, one only profiles named takes the geocoder's) and make each group
        ({IRI: ward code}) a member of its ward, ``via`` postcode. Only what changed is written."""
        conn = self.index._conn()
        with self.index._write_lock:
            try:
                have = {r[0]: (r[1], r[2], r[3], r[4]) for r in conn.execute(
                    "SELECT code, name, level, parent, origin FROM areas")}
                rows = [(c, *entry) for c, entry in sorted(learned.items())
                        if have.get(c, (None,) * 3 + ("profile",))[3] != "operator"
                        and have.get(c, (None,) * 4)[:3] != entry]
                conn.executemany("INSERT INTO areas VALUES (?, ?, ?, ?, 'geocoder') ON CONFLICT (code) DO UPDATE "
                                 "SET name = excluded.name, level = excluded.level, parent = excluded.parent, "
                                 "origin = 'geocoder' WHERE areas.origin != 'operator'", rows)
                if rows:
                    self._retree(conn)
                    self._name_members(conn, None)   # a name the geocoder gives can now be matched
                want = set()
                iris = sorted(members)
                for i in range(0, len(iris), 500):
                    chunk = iris[i:i + 500]
                    want.update((members[r[1]], r[0]) for r in conn.execute(
                        f"SELECT id, iri FROM groups WHERE iri IN ({','.join('?' * len(chunk))})", chunk))
                held = {tuple(r) for r in conn.execute("SELECT code, gid FROM area_members WHERE via = 'postcode'")}
                conn.executemany("DELETE FROM area_members WHERE code = ? AND gid = ? AND via = 'postcode'",
                                 sorted(held - want))
                conn.executemany("INSERT OR IGNORE INTO area_members VALUES (?, ?, 'postcode')", sorted(want - held))
                changed = bool(rows) or held != want
                if changed:
                    self.index._set_meta(conn, "generation", (self.index.meta("generation", 0) or 0) + 1)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        if changed:
            self.index._facet_cache = (None, None)
        return {"areas": len(rows), "added": len(want - held), "removed": len(held - want)}

    def locate(self, conn, located) -> None:
        """Boundary memberships of groups given a position after they were indexed ((gid, lat, lon))."""
        self._boundary_members(conn, located)

    def _name_members(self, conn, gid: int | None) -> None:
        """An area named (not coded) in a profile belongs to the known area of that name, if only one has
        it (a name the profile also gives that area's code for adds nothing)."""
        conn.execute(name_members_sql(gid is not None), () if gid is None else (gid,))

    def _boundary_members(self, conn, located) -> None:
        shapes, grid = self._load_shapes(conn)
        if not shapes:
            return
        rows = []
        for gid, lat, lon in located:
            for i in itertools.chain(grid[ANYWHERE], grid.get(_cell(lon, lat), ())):
                code, (x0, y0, x1, y1), polygons = shapes[i]
                if x0 <= lon <= x1 and y0 <= lat <= y1 and contains(polygons, lon, lat):
                    rows.append((code, gid))
        conn.executemany("INSERT OR IGNORE INTO area_members VALUES (?, ?, 'boundary')", rows)

    def _load_shapes(self, conn) -> tuple[list, dict]:
        """The boundaries, and a grid of GRID-degree cells -> the boundaries whose box meets the cell,
        so a point is tested against the few boundaries near it, not all ~9,000 wards."""
        if self._shapes is None:
            shapes = [(r[0], (r[2], r[3], r[4], r[5]), [[[tuple(p) for p in ring] for ring in poly]
                                                         for poly in json.loads(r[1])])
                      for r in conn.execute("SELECT code, geometry, min_lon, min_lat, max_lon, max_lat "
                                            "FROM area_shapes")]
            grid: dict = {ANYWHERE: []}
            for i, (_code, (x0, y0, x1, y1), _p) in enumerate(shapes):
                (cx0, cy0), (cx1, cy1) = _cell(x0, y0), _cell(x1, y1)
                if (cx1 - cx0 + 1) * (cy1 - cy0 + 1) > MAX_CELLS:   # a country-sized area: tested for every point
                    grid[ANYWHERE].append(i)
                    continue
                for cx in range(cx0, cx1 + 1):
                    for cy in range(cy0, cy1 + 1):
                        grid.setdefault((cx, cy), []).append(i)
            self._shapes = (shapes, grid)
        return self._shapes

    # ------------------------------------------------------------------ reading
    def resolve(self, value: str) -> list[str]:
        """The codes an ``area=`` value names: a code (any case), else every area of that name (any case)."""
        conn = self.index._conn()
        value = value.strip()
        code = code_of(value.upper()) or code_of(value)
        if code:
            return [code] if conn.execute("SELECT 1 FROM areas WHERE code = ?", (code,)).fetchone() else []
        # A name the operator or the geocoder gave wins over names only groups' profiles give, so a
        # profile cannot take a known area's name away (by making it ambiguous) or stand in for it.
        rows = conn.execute("SELECT code, origin FROM areas WHERE name = ? COLLATE NOCASE", (value,)).fetchall()
        trusted = [r[0] for r in rows if r[1] != "profile"]
        return trusted or [r[0] for r in rows]

    def below(self, codes) -> list[str]:
        """The areas ``codes`` name and every area below them (from the precomputed tree)."""
        codes = list(codes)
        if not codes:
            return []
        marks = ",".join("?" * len(codes))
        rows = self.index._conn().execute(f"SELECT DISTINCT code FROM area_tree WHERE ancestor IN ({marks})", codes)
        return sorted(set(codes) | {r[0] for r in rows})

    def filter_sql(self, value: str) -> tuple[str, list]:
        """A WHERE clause (over ``g``) for ``area=value`` rolled up, or the exact area text as before."""
        codes = self.below(self.resolve(value))
        if not codes:
            return "g.id IN (SELECT gid FROM facets WHERE facet = 'area' AND value = ?)", [value]
        marks = ",".join("?" * len(codes))
        return f"g.id IN (SELECT gid FROM area_members WHERE code IN ({marks}))", codes

    def filter_parts(self, value: str) -> tuple[str, str, list]:
        """``area=value`` as (a query listing the matching group ids, a test of one id ``{gid}``, their
        parameters): what ``TextIndex.search`` uses to start from the smallest filter (index.py)."""
        codes = self.below(self.resolve(value))
        if not codes:
            return ("SELECT gid FROM facets WHERE facet = 'area' AND value = ?",
                    "EXISTS (SELECT 1 FROM facets WHERE facet = 'area' AND value = ? AND gid = {gid})", [value])
        marks = ",".join("?" * len(codes))
        return (f"SELECT DISTINCT gid FROM area_members WHERE code IN ({marks})",
                f"EXISTS (SELECT 1 FROM area_members WHERE gid = {{gid}} AND code IN ({marks}))", codes)

    def group_iris(self, value: str) -> set[str]:
        """The IRIs of every group in ``area=value`` (rolled up): one indexed query, no page limit."""
        clause, params = self.filter_sql(value)
        return {r[0] for r in self.index._conn().execute(f"SELECT g.iri FROM groups g WHERE g.dup = 0 AND {clause}",
                                                         params)}

    def get(self, code: str) -> dict | None:
        row = self.index._conn().execute("SELECT * FROM areas WHERE code = ?", (code,)).fetchone()
        return _area(row) if row else None

    def counts(self, codes=None) -> dict:
        """{code: groups in the area and every area below it} for ``codes`` (None: every area)."""
        where, params = "", []
        if codes is not None:
            codes = list(codes)
            if not codes:
                return {}
            where, params = f"WHERE t.ancestor IN ({','.join('?' * len(codes))})", codes
        return dict(self.index._conn().execute(
            "SELECT t.ancestor, COUNT(DISTINCT m.gid) FROM area_tree t JOIN area_members m ON m.code = t.code "
            f"JOIN groups g ON g.id = m.gid AND g.dup = 0 {where} GROUP BY t.ancestor", params).fetchall())

    def all(self) -> list[dict]:
        """Every area with its group count (rolled up), largest level first; cached until the index
        changes. Areas learned from profiles or the geocoder that hold no group any more are left out."""
        gen = self.index.version()
        if self._all_cache[0] == gen:
            return self._all_cache[1]
        total = self.counts()
        out = []
        for row in self.index._conn().execute("SELECT * FROM areas"):
            a = _area(row)
            a["groups"] = total.get(a["code"], 0)
            if a["origin"] != "operator" and not a["groups"]:
                continue
            out.append(a)
        out.sort(key=lambda a: (level_rank(a["level"]), a["name"].lower(), a["code"]))
        self._all_cache = (gen, out)
        return out

    def children(self, code: str) -> list[dict]:
        rows = [_area(r) for r in self.index._conn().execute("SELECT * FROM areas WHERE parent = ?", (code,))]
        counts = self.counts([a["code"] for a in rows])
        for a in rows:
            a["groups"] = counts.get(a["code"], 0)
        return sorted(rows, key=lambda a: (a["name"].lower(), a["code"]))

    def ancestors(self, code: str) -> list[dict]:
        """The areas above ``code``, largest first."""
        out, seen, area = [], {code}, self.get(code)
        while area and area["parent"] and area["parent"] not in seen:
            seen.add(area["parent"])
            area = self.get(area["parent"])
            if area:
                out.append(area)
        return out[::-1]

    def of_groups(self, iris) -> dict:
        """{group IRI: [its memberships]} for the given groups."""
        iris = list(set(iris))
        gid_of = {}
        conn = self.index._conn()
        for i in range(0, len(iris), 500):
            chunk = iris[i:i + 500]
            gid_of.update({r[1]: r[0] for r in conn.execute(
                f"SELECT id, iri FROM groups WHERE dup = 0 AND iri IN ({','.join('?' * len(chunk))})", chunk)})
        by_gid = self.memberships(gid_of.values())
        return {iri: by_gid.get(gid, []) for iri, gid in gid_of.items()}

    def memberships(self, gids) -> dict:
        """{gid: [{"code", "name", "level", "via", "named_by"}]} for the given index rows."""
        gids = list(gids)
        out: dict = {}
        for i in range(0, len(gids), 500):
            chunk = gids[i:i + 500]
            for r in self.index._conn().execute(
                    f"SELECT m.gid, m.code, m.via, a.name, a.level, a.origin FROM area_members m LEFT JOIN areas a "
                    f"ON a.code = m.code WHERE m.gid IN ({','.join('?' * len(chunk))}) ORDER BY m.code, m.via",
                    chunk):
                out.setdefault(r[0], []).append({"code": r[1], "name": r[3] or r[1], "level": r[4], "via": r[2],
                                                 "named_by": NAMED_BY.get(r[5], "profiles")})
        return out

    def of_group(self, iri: str) -> list[dict]:
        """The areas a group belongs to, each with where the membership came from (``via``)."""
        row = self.index._conn().execute("SELECT id FROM groups WHERE iri = ? AND dup = 0", (iri,)).fetchone()
        return self.memberships([row[0]]).get(row[0], []) if row else []

    def shapes(self) -> list[tuple[str, list]]:
        return [(c, p) for c, _, p in self._load_shapes(self.index._conn())[0]]


def name_members_sql(one_group: bool) -> str:
    """The name-match memberships of one group (``?``: its gid) or of all: to an area the operator or
    the geocoder named (a name only profiles give is no one's to match). One group reads its own
    facet rows by gid: ``+f.facet`` keeps the planner off the (facet, value) index, which would scan
    every group's areas for each group indexed (quadratic over a sync)."""
    only = "f.gid = ? AND +f.facet = 'area'" if one_group else "f.facet = 'area'"
    return f"""
        INSERT OR IGNORE INTO area_members
        SELECT a.code, f.gid, 'profile_name' FROM facets f JOIN areas a ON a.name = f.value COLLATE NOCASE
        WHERE {only} AND a.origin != 'profile'
          AND (SELECT COUNT(*) FROM areas a2 WHERE a2.name = a.name COLLATE NOCASE AND a2.origin != 'profile') = 1
          AND NOT EXISTS (SELECT 1 FROM area_members m WHERE m.code = a.code AND m.gid = f.gid
                          AND m.via = 'profile')"""


def _cell(lon: float, lat: float) -> tuple[int, int]:
    return math.floor(lon / GRID), math.floor(lat / GRID)


def _area(row) -> dict:
    return {"code": row["code"], "name": row["name"], "level": row["level"], "parent": row["parent"],
            "origin": row["origin"], "named_by": NAMED_BY[row["origin"]], "iri": ons_iri(row["code"])}


# How a page says who named an area: a name only groups' profiles give is shown as theirs.
NAMED_BY = {"operator": "operator", "geocoder": "geocoder", "profile": "profiles"}
