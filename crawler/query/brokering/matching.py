"""Needs and offers: which group's offer meets which group's need.

A match needs all of: the same category; neither the need nor the offer past
its ``validThrough``; two different groups; and a place that fits — the same
named area (the offer's or its group's ``areaServed`` against the need's or
its group's), or the two groups within ``within_km`` of each other. Each
match carries its reason in words ("meeting space, 1.2 km away, offered
until 2027-06-30").

Built from the store once per change, with offers bucketed by category, area
name and a coarse grid of cells, so matching one need compares it only with
the offers near it. The full list of needs with a match keeps only each need
and its offer count (issue 18: at 100k groups the best 50 offers of every
need, each with its reason in words, held ~1 GB); the offers and reasons are
worked out for the needs of the page asked for. The counts come from
``_OfferCounts``: ball trees that count whole clusters of offers inside (or
outside) a need's radius at once, since comparing every need with every
nearby offer grows with the square of the groups in a dense area (issue 18:
~78 million comparisons at 100k groups in one city).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from operator import itemgetter

from hubnet.crawler.geo import EARTH_RADIUS_KM, haversine_km
import pyoxigraph as ox

from hubnet.vocab.model import HUBNET, SCHEMA, categories, slug_of

from hubnet.crawler.budget import UNLIMITED, Budget
from hubnet.crawler.store import profiles as P
DEFAULT_WITHIN_KM = 5.0
MAX_WITHIN_KM = 200.0   # matching is local: a wider radius would compare every need with every offer
MAX_PER_NEED = 50       # offers listed per need (the rest are counted)
_CELL_DEG = 0.05        # ~5.6 km of latitude; a radius is covered by the cells around the point
_MAX_CELLS = 400        # beyond this many cells, scanning the category is cheaper than the cells
_LEAF = 16              # offers in a leaf of a counting tree, each measured when the leaf straddles the radius
_EDGE_KM = 0.01         # counted without haversine_km only this far inside (or outside) the radius: the
                        # rounding error of either way of measuring is below a metre, even between antipodes


@dataclass(slots=True)
class Item:
    """One offer or need."""

    kind: str                  # "offer" or "need"
    iri: str
    group: str
    group_name: str
    name: str
    description: str | None
    category: str | None       # slug, e.g. "meeting-space"
    areas: tuple               # lower-cased area names (its own, else its group's)
    valid_through: str | None  # YYYY-MM-DD...
    lat: float | None = None
    lon: float | None = None

    def expired(self, today: str) -> bool:
        return bool(self.valid_through) and self.valid_through[:10] < today

    def to_dict(self) -> dict:
        return {"id": self.iri, "group": self.group, "group_name": self.group_name, "name": self.name,
                "description": self.description, "category": self.category,
                "valid_through": self.valid_through, "areas": list(self.areas)}


def _label(slug: str | None) -> str:
    for c in categories():
        if c.slug == slug:
            return c.label.lower()
    return slug or "uncategorised"


# One value per row (issue 12, finding 2): the properties of an item are UNION branches, never
# OPTIONALs joined side by side, so an item with k names and k descriptions gives 2k rows, not k*k.
_ITEM_RELS = f"VALUES ?rel {{ <{P.OFFERS}> <{P.NEEDS}> }}"
_Q_ITEMS = f"""
SELECT ?g ?rel ?x ?f ?v ?areaName WHERE {{
  GRAPH ?src {{
    ?g ?rel ?x . {_ITEM_RELS}
    {{ BIND("item" AS ?f) }}
    UNION {{ ?x <{SCHEMA}name> ?v BIND("name" AS ?f) }}
    UNION {{ ?x <{SCHEMA}description> ?v BIND("description" AS ?f) }}
    UNION {{ ?x <{HUBNET}category> ?v BIND("category" AS ?f) }}
    UNION {{ ?x <{SCHEMA}validThrough> ?v BIND("until" AS ?f) }}
    UNION {{ ?x <{SCHEMA}areaServed> ?v . OPTIONAL {{ ?v <{SCHEMA}name> ?areaName }} BIND("area" AS ?f) }}
  }}
}}"""

_Q_GROUP_NAMES = f"""
SELECT ?g ?v WHERE {{
  GRAPH ?src {{ ?g <{P.NAME}> ?v FILTER EXISTS {{ ?g ?rel ?x {_ITEM_RELS} }} }}
}}"""

_Q_PLACES = f"""
SELECT ?g ?geo ?f ?v ?areaName WHERE {{
  GRAPH ?src {{
    {P.coordinate_branches("?g", "?geo")}
    UNION {{ ?g <{P.AREAS}> ?v FILTER EXISTS {{ ?g <{P.OFFERS}>|<{P.NEEDS}>|<{P.NAME}> ?any }}
             OPTIONAL {{ ?v <{P.NAME}> ?areaName }} BIND("area" AS ?f) }}
  }}
}}"""


def _area_name(row) -> str | None:
    if row["areaName"] is not None:
        return row["areaName"].value.strip().lower()
    if isinstance(row["v"], ox.Literal):
        return row["v"].value.strip().lower()
    return None


def _keep_least(found: dict, key, value) -> None:
    """Keep the least ``value`` read for ``key``: one value of a multi-valued property, the same
    whatever order the store returns them in."""
    if key not in found or value < found[key]:
        found[key] = value


def _coordinates(found: dict) -> dict:
    """{group: (lat, lon)} from {group: {place: (latitudes, longitudes)}}, as ``profiles.coordinates`` reads them."""
    return {g: pair for g, places in found.items() if (pair := P.coordinates(places))}


def _cell(lat, lon) -> tuple:
    return math.floor(lat / _CELL_DEG), math.floor(lon / _CELL_DEG)


def _box(lat, lon, within_km: float) -> tuple | None:
    """(i0, i1, j0, j1): the cells covering [lat +- dlat, lon +- dlon] around a point; a degree of
    longitude shrinks with latitude, so the box is wider in cells than it is tall. None when that
    is more than ``_MAX_CELLS`` cells (a wide radius: the whole category is looked at instead)."""
    dlat = within_km / 111.2
    far_lat = min(89.9, abs(lat) + dlat)
    dlon = min(180.0, within_km / (111.32 * math.cos(math.radians(far_lat))))
    i0, j0 = _cell(lat - dlat, lon - dlon)
    i1, j1 = _cell(lat + dlat, lon + dlon)
    return None if (i1 - i0 + 1) * (j1 - j0 + 1) > _MAX_CELLS else (i0, i1, j0, j1)


def _unit(lat, lon) -> tuple:
    """The point on the unit sphere: chords between such points are cheap to compare (no trigonometry)."""
    phi, lam = math.radians(lat), math.radians(lon)
    return math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)


def _angle(chord2: float) -> float:
    """The angle (radians) between two unit vectors ``chord2`` apart (squared chord)."""
    return 2 * math.asin(min(1.0, math.sqrt(chord2) / 2))


def _tree(points: list) -> tuple:
    """A ball tree over (x, y, z, lat, lon, cell i, cell j) points (``_unit``): (centre x, y, z, radius
    as an angle, count, least and greatest cell i and j, (two subtrees) or None, a leaf's points or None).
    Split at the median of the longer side, so a cluster of offers is a subtree."""
    n = len(points)
    x, y, z = sum(p[0] for p in points), sum(p[1] for p in points), sum(p[2] for p in points)
    norm = math.sqrt(x * x + y * y + z * z) or 1.0
    x, y, z = x / norm, y / norm, z / norm
    radius = max(_angle((p[0] - x) ** 2 + (p[1] - y) ** 2 + (p[2] - z) ** 2) for p in points)
    node = (x, y, z, radius, n, min(p[5] for p in points), max(p[5] for p in points),
            min(p[6] for p in points), max(p[6] for p in points))
    if n <= _LEAF or radius == 0.0:
        return (*node, None, points)
    lats, lons = [p[3] for p in points], [p[4] for p in points]
    tall = max(lats) - min(lats) >= (max(lons) - min(lons)) * math.cos(math.radians((max(lats) + min(lats)) / 2))
    points.sort(key=itemgetter(3 if tall else 4))
    return (*node, (_tree(points[:n // 2]), _tree(points[n // 2:])), None)


def _count_near(tree, lat, lon, within_km: float, box, metric: bool) -> int:
    """How many points of ``tree`` are in the cells of ``box`` (None: anywhere) and within ``within_km``
    of (lat, lon) by ``haversine_km``: exactly what measuring each would say. A cluster wholly inside
    both is counted at once, one wholly outside skipped (the triangle inequality on angles); a point
    is placed by its chord, and measured by ``haversine_km`` only within ``_EDGE_KM`` of the edge,
    where rounding could decide. ``metric`` False (a latitude outside [-90, 90], which the store never
    gives): every point in the box is measured."""
    i0, i1, j0, j1 = box if box is not None else (-math.inf, math.inf, -math.inf, math.inf)
    px, py, pz = _unit(lat, lon)
    reach, edge = within_km / EARTH_RADIUS_KM, _EDGE_KM / EARTH_RADIUS_KM
    inside = (2 * math.sin((reach - edge) / 2)) ** 2 if reach > edge else -1.0       # squared chords
    outside = (2 * math.sin(min(math.pi, reach + edge) / 2)) ** 2
    count, todo = 0, [tree]
    while todo:
        cx, cy, cz, radius, n, lo_i, hi_i, lo_j, hi_j, kids, points = todo.pop()
        if hi_i < i0 or lo_i > i1 or hi_j < j0 or lo_j > j1:
            continue
        if metric:
            d = _angle((px - cx) ** 2 + (py - cy) ** 2 + (pz - cz) ** 2)
            if d - radius > reach + edge:
                continue
            if d + radius <= reach - edge and i0 <= lo_i and hi_i <= i1 and j0 <= lo_j and hi_j <= j1:
                count += n
                continue
        if kids is not None:
            todo.extend(kids)
        else:
            count += _count_leaf(points, (lat, lon, px, py, pz), within_km, (i0, i1, j0, j1),
                                 inside if metric else -1.0, outside if metric else math.inf)
    return count


def _count_leaf(points, at, within_km, box, inside, outside) -> int:
    """The points of a leaf in ``box`` and within ``within_km`` of ``at``: those closer than ``inside``
    or farther than ``outside`` (squared chords) by their chord alone, the rest by ``haversine_km``."""
    lat, lon, px, py, pz = at
    i0, i1, j0, j1 = box
    count = 0
    for x, y, z, p_lat, p_lon, i, j in points:
        if i0 <= i <= i1 and j0 <= j <= j1:
            chord = (px - x) ** 2 + (py - y) ** 2 + (pz - z) ** 2
            count += chord <= inside or (chord <= outside and haversine_km(lat, lon, p_lat, p_lon) <= within_km)
    return count


def _on_sphere(lat) -> bool:
    return -90.0 <= lat <= 90.0


class _OfferCounts:
    """How many current offers meet each need, without comparing the need with each offer (issue 18).

    An offer of the need's category that is not expired and not the need's own group's meets it when
    it shares one of the need's areas, or lies within the radius (the cells around the need, as
    ``matches_for`` looks). Offers are grouped by their tuple of areas (one "area set"); for a need,
    K = the area sets sharing an area with it:

        count = near(all) + sum over K of (offers of the set - near(the set)) - own group's counted

    where near() counts a ball tree's offers within the radius. Built per day (expiry), for one full list.
    """

    def __init__(self, offers: list, today: str):
        self._today = today
        by_category: dict = defaultdict(list)
        for o in offers:
            if o.category is not None and not o.expired(today):
                by_category[o.category].append(o)
        self._categories = {c: self._category(items) for c, items in by_category.items()}

    @staticmethod
    def _category(offers: list) -> dict:
        """The trees of one category: of every placed offer, and of each area set's; one point per offer,
        shared by both (the full list's transient peak at 100k groups)."""
        by_set: dict = defaultdict(lambda: [0, []])   # area set -> [offers, the placed ones' points]
        own: dict = defaultdict(list)
        placed = []
        for o in offers:
            own[o.group].append(o)
            in_set = by_set[o.areas]
            in_set[0] += 1
            if o.lat is not None and o.lon is not None:
                point = (*_unit(o.lat, o.lon), o.lat, o.lon, *_cell(o.lat, o.lon))
                placed.append(point)
                in_set[1].append(point)
        sets_of_area: dict = defaultdict(list)
        for areas in by_set:
            for a in set(areas):
                sets_of_area[a].append(areas)
        return {"metric": all(_on_sphere(p[3]) for p in placed), "tree": _tree(placed) if placed else None,
                "sets": {areas: (n, _tree(points) if points else None) for areas, (n, points) in by_set.items()},
                "sets_of_area": sets_of_area, "own": own}

    def count(self, need: Item, within_km: float) -> int:
        """``len(matches_for(need, within_km=within_km, today=today))``, found by counting."""
        cat = self._categories.get(need.category)
        if cat is None or need.expired(self._today):
            return 0
        shared = {areas for a in need.areas for areas in cat["sets_of_area"].get(a, ())}
        count = sum(cat["sets"][areas][0] for areas in shared)
        placed = need.lat is not None and need.lon is not None
        box = _box(need.lat, need.lon, within_km) if placed else None
        if placed and cat["tree"] is not None:
            metric = cat["metric"] and _on_sphere(need.lat)

            def near(tree) -> int:
                return 0 if tree is None else _count_near(tree, need.lat, need.lon, within_km, box, metric)

            everywhere = near(cat["tree"])
            if len(shared) <= len(cat["sets"]) - len(shared):
                near_shared = sum(near(cat["sets"][areas][1]) for areas in shared)
            else:   # most area sets share an area with the need (say every group also serves its city)
                near_shared = everywhere - sum(near(tree) for areas, (_, tree) in cat["sets"].items()
                                               if areas not in shared)
            count += everywhere - near_shared
        for o in cat["own"].get(need.group, ()):
            count -= o.areas in shared or (placed and o.lat is not None and o.lon is not None and self._in(
                box, o) and haversine_km(need.lat, need.lon, o.lat, o.lon) <= within_km)
        return count

    @staticmethod
    def _in(box, o: Item) -> bool:
        if box is None:
            return True
        i, j = _cell(o.lat, o.lon)
        return box[0] <= i <= box[1] and box[2] <= j <= box[3]


@dataclass
class Matcher:
    offers: list = field(default_factory=list)
    needs: list = field(default_factory=list)

    @classmethod
    def from_store(cls, store, budget: Budget = UNLIMITED) -> "Matcher":
        places, group_areas = defaultdict(dict), defaultdict(set)   # read into place, not kept row by row
        for r in budget.rows(store, _Q_PLACES):
            g, f = r["g"].value, r["f"].value
            if f == "area":
                name = _area_name(r)
                if name:
                    group_areas[g].add(name)
            else:
                places[g].setdefault(r["geo"].value, ([], []))[f == "lon"].append(r["v"].value)
        coords = _coordinates(places)
        del places
        # Only the least of each property's values is kept (``_keep_least``), and each repeated string
        # (group IRI, area name, category, area list) once: the build's own peak at 100k groups.
        shared: dict = {}
        group_names: dict = {}
        for r in budget.rows(store, _Q_GROUP_NAMES):
            _keep_least(group_names, r["g"].value, r["v"].value)
        items: dict = {}   # iri -> [group, kind, {field: least value}, own areas or None (most have none)]
        for r in budget.rows(store, _Q_ITEMS):
            key = r["x"].value
            it = items.get(key)
            if it is None:
                kind = "offer" if r["rel"].value.endswith("makesOffer") else "need"
                g = r["g"].value
                it = items[key] = [shared.setdefault(g, g), kind, {}, None]
            f = r["f"].value
            if f == "area":
                name = _area_name(r)
                if name:
                    it[3] = it[3] or set()
                    it[3].add(shared.setdefault(name, name))
            elif f != "item":
                _keep_least(it[2], f, r["v"].value)
        offers, needs = [], []
        for iri, (g, kind, fields, own_areas) in items.items():
            lat, lon = coords.get(g, (None, None))
            category = slug_of(fields["category"]) if fields.get("category") else None
            areas = tuple(sorted(own_areas or group_areas.get(g, ())))
            item = Item(kind=kind, iri=iri, group=g, group_name=group_names.get(g) or g,
                        name=fields.get("name") or "(unnamed)", description=fields.get("description"),
                        category=shared.setdefault(category, category), areas=shared.setdefault(areas, areas),
                        valid_through=fields.get("until"), lat=lat, lon=lon)
            (offers if kind == "offer" else needs).append(item)
        return cls(offers=offers, needs=needs)

    def __post_init__(self) -> None:
        self._index()

    def _index(self) -> None:
        self._offers_by_cell = self._bucket_by_cell(self.offers)
        self._offers_by_area = self._bucket_by_area(self.offers)
        self._needs_by_cell = self._bucket_by_cell(self.needs)
        self._needs_by_area = self._bucket_by_area(self.needs)
        self._by_category: dict = defaultdict(lambda: ([], []))
        for it in self.offers:
            self._by_category[it.category][0].append(it)
        for it in self.needs:
            self._by_category[it.category][1].append(it)
        self._all_cache: dict = {}

    @staticmethod
    def _bucket_by_cell(items) -> dict:
        out: dict = defaultdict(list)
        for it in items:
            if it.lat is not None:
                out[(it.category, *_cell(it.lat, it.lon))].append(it)
        return out

    @staticmethod
    def _bucket_by_area(items) -> dict:
        out: dict = defaultdict(list)
        for it in items:
            for a in it.areas:
                out[(it.category, a)].append(it)
        return out

    def _candidates(self, item: Item, within_km: float, by_cell: dict, by_area: dict, everything: list) -> dict:
        """Items of the other kind in ``item``'s category that might fit: near it, or in one of its areas."""
        found: dict = {}
        if item.lat is not None:
            box = _box(item.lat, item.lon, within_km)
            if box is None:   # a wide radius: scan the category instead
                for o in everything:
                    found[o.iri] = o
            else:
                i0, i1, j0, j1 = box
                for ci in range(i0, i1 + 1):
                    for cj in range(j0, j1 + 1):
                        for o in by_cell.get((item.category, ci, cj), ()):
                            found[o.iri] = o
        for a in item.areas:
            for o in by_area.get((item.category, a), ()):
                found[o.iri] = o
        return found

    @staticmethod
    def _fit(need: Item, offer: Item, within_km: float, today: str):
        """(distance_km or None, shared areas) when ``offer`` meets ``need``; None when it does not."""
        if offer.group == need.group or offer.category != need.category or offer.expired(today):
            return None
        dist = None
        if need.lat is not None and offer.lat is not None:
            dist = haversine_km(need.lat, need.lon, offer.lat, offer.lon)
        shared = sorted(set(offer.areas) & set(need.areas)) if offer.areas and need.areas else []
        if not shared and (dist is None or dist > within_km):
            return None
        return dist, shared

    @staticmethod
    def _rank(m) -> tuple:
        offer, dist = m[0], m[1]
        return dist is None, dist if dist is not None else 0.0, offer.group_name, offer.name

    # ------------------------------------------------------------------ questions
    def current(self, today: str | None = None) -> tuple[list, list]:
        today = today or dt.date.today().isoformat()
        return ([o for o in self.offers if not o.expired(today)], [n for n in self.needs if not n.expired(today)])

    def matches_for(self, need: Item, *, within_km: float = DEFAULT_WITHIN_KM, today: str | None = None) -> list:
        """Offers meeting one need, best first: [(offer, distance_km or None, reason)]."""
        today = today or dt.date.today().isoformat()
        if need.category is None or need.expired(today):
            return []
        out = []
        offers = self._by_category.get(need.category, ((), ()))[0]
        for o in self._candidates(need, within_km, self._offers_by_cell, self._offers_by_area, offers).values():
            fit = self._fit(need, o, within_km, today)
            if fit is not None:
                out.append((o, *fit))
        out.sort(key=self._rank)
        return [(o, dist, self._reason(o, dist, shared)) for o, dist, shared in out]

    def needs_met_by(self, offer: Item, *, within_km: float = DEFAULT_WITHIN_KM, today: str | None = None) -> list:
        """The current needs one offer meets: [(need, distance_km or None, reason)] (the reverse lookup)."""
        today = today or dt.date.today().isoformat()
        if offer.category is None or offer.expired(today):
            return []
        needs = self._by_category.get(offer.category, ((), ()))[1]
        out = []
        for n in self._candidates(offer, within_km, self._needs_by_cell, self._needs_by_area, needs).values():
            fit = None if n.expired(today) else self._fit(n, offer, within_km, today)
            if fit is not None:
                out.append((n, *fit))
        return [(n, dist, self._reason(offer, dist, shared)) for n, dist, shared in out]

    @staticmethod
    def _reason(offer: Item, dist, shared) -> str:
        parts = [_label(offer.category)]
        if dist is not None:
            parts.append(f"{dist:.1f} km away")
        if shared:
            parts.append(f"both in {shared[0].title()}")
        parts.append(f"offered until {offer.valid_through[:10]}" if offer.valid_through else "no end date")
        return ", ".join(parts)

    def _found(self, group: str | None, within_km: float, today: str) -> list:
        """[(need, offer count, [(offer, distance, reason)] best first, or None)], sorted by group and
        need name.

        With ``group``: that group's own needs, and the needs its offers meet (with only its
        offers). Without: every need that has a match and its count, computed once per (radius,
        day) and kept, since the matcher itself is rebuilt whenever the data changes; its offers
        are None here, worked out by ``page`` for the needs it shows.
        """
        if group is None:
            key = (within_km, today)
            found = self._all_cache.get(key)
            if found is None:
                found, counts = [], _OfferCounts(self.offers, today)
                for need in self.needs:
                    count = counts.count(need, within_km)
                    if count:
                        found.append((need, count, None))
                del counts
                found.sort(key=lambda f: (f[0].group_name, f[0].name, f[0].iri))
                if len(self._all_cache) >= 8:
                    self._all_cache.clear()
                self._all_cache[key] = found
            return found
        by_need: dict = {}
        for need in self.needs:
            if need.group == group:
                ms = self.matches_for(need, within_km=within_km, today=today)
                if ms:
                    by_need[need.iri] = (need, ms)
        for offer in self.offers:
            if offer.group == group:
                for need, dist, reason in self.needs_met_by(offer, within_km=within_km, today=today):
                    by_need.setdefault(need.iri, (need, []))[1].append((offer, dist, reason))
        found = []
        for need, ms in by_need.values():
            ms.sort(key=self._rank)
            found.append((need, len(ms), ms))
        return sorted(found, key=lambda f: (f[0].group_name, f[0].name, f[0].iri))

    def page(self, *, group: str | None = None, within_km: float = DEFAULT_WITHIN_KM, today: str | None = None,
             category: str | None = None, per_need: int = MAX_PER_NEED, offset: int = 0,
             limit: int | None = None, needs_of: set | None = None) -> tuple[int, list[dict]]:
        """(needs with a match in all, one page of them): each current need with the offers that
        meet it, best first, at most ``per_need`` of them (``offer_count`` says how many there are).
        ``needs_of``: only the needs of these groups (an area's). Only the page is turned into
        dicts: the full list at 10k groups is ~6,000 needs."""
        today = today or dt.date.today().isoformat()
        found = self._found(group, within_km, today)
        if category is not None:
            found = [f for f in found if f[0].category == category]
        if needs_of is not None:
            found = [f for f in found if f[0].group in needs_of]
        chosen = found[offset:] if limit is None else found[offset:offset + limit]
        return len(found), [
            {"need": need.to_dict(), "offer_count": count,
             "offers": [dict(o.to_dict(), distance_km=None if d is None else round(d, 2), reason=r)
                        for o, d, r in self._best(need, ms, within_km, today)[:per_need]]}
            for need, count, ms in chosen]

    def _best(self, need: Item, ms: list | None, within_km: float, today: str) -> list:
        """The offers ``_found`` kept for ``need``, or, where it kept only the count, its best ones."""
        return ms if ms is not None else self.matches_for(need, within_km=within_km, today=today)[:MAX_PER_NEED]
