"""Needs and offers: which group's offer meets which group's need.

A match needs all of: the same category; neither the need nor the offer past
its ``validThrough``; two different groups; and a place that fits — the same
named area (the offer's or its group's ``areaServed`` against the need's or
its group's), or the two groups within ``within_km`` of each other. Each
match carries its reason in words ("meeting space, 1.2 km away, offered
until 2027-06-30").

Built from the store once per change, with offers bucketed by category, area
name and a coarse grid of cells, so matching 10k groups' needs compares each
need only with the offers near it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

from vocab.model import categories, slug_of

SCHEMA = "http://schema.org/"
HUBNET = "https://w3id.org/hubnet/ns#"
DEFAULT_WITHIN_KM = 5.0
_CELL_DEG = 0.1  # ~11 km of latitude: a need's 3x3 neighbourhood covers any within_km <= 11


@dataclass
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


def haversine_km(lat1, lon1, lat2, lon2) -> float:
    r = math.radians
    a = math.sin(r(lat2 - lat1) / 2) ** 2 + math.cos(r(lat1)) * math.cos(r(lat2)) * math.sin(r(lon2 - lon1) / 2) ** 2
    return 6371.0088 * 2 * math.asin(min(1.0, math.sqrt(a)))


def _label(slug: str | None) -> str:
    for c in categories():
        if c.slug == slug:
            return c.label.lower()
    return slug or "uncategorised"


_Q_ITEMS = f"""
SELECT ?g ?gname ?rel ?x ?name ?desc ?cat ?until ?area ?areaName WHERE {{
  GRAPH ?src {{
    ?g ?rel ?x . VALUES ?rel {{ <{SCHEMA}makesOffer> <{SCHEMA}seeks> }}
    OPTIONAL {{ ?g <{SCHEMA}name> ?gname }}
    OPTIONAL {{ ?x <{SCHEMA}name> ?name }}
    OPTIONAL {{ ?x <{SCHEMA}description> ?desc }}
    OPTIONAL {{ ?x <{HUBNET}category> ?cat }}
    OPTIONAL {{ ?x <{SCHEMA}validThrough> ?until }}
    OPTIONAL {{ ?x <{SCHEMA}areaServed> ?area . OPTIONAL {{ ?area <{SCHEMA}name> ?areaName }} }}
  }}
}}"""

_Q_PLACES = f"""
SELECT ?g ?lat ?lon ?area ?areaName WHERE {{
  GRAPH ?src {{
    {{ ?g <{SCHEMA}location> ?loc . ?loc <{SCHEMA}geo> ?geo . ?geo <{SCHEMA}latitude> ?lat ; <{SCHEMA}longitude> ?lon }}
    UNION
    {{ ?g <{SCHEMA}areaServed> ?area . ?g <{SCHEMA}makesOffer>|<{SCHEMA}seeks>|<{SCHEMA}name> ?any .
       OPTIONAL {{ ?area <{SCHEMA}name> ?areaName }} }}
  }}
}}"""


def _area_name(row) -> str | None:
    if row["areaName"] is not None:
        return row["areaName"].value.strip().lower()
    if row["area"] is not None and row["area"].__class__.__name__ == "Literal":
        return row["area"].value.strip().lower()
    return None


@dataclass
class Matcher:
    offers: list = field(default_factory=list)
    needs: list = field(default_factory=list)

    @classmethod
    def from_store(cls, store) -> "Matcher":
        coords: dict = {}
        group_areas: dict = defaultdict(set)
        for r in store.query(_Q_PLACES):
            g = r["g"].value
            if r["lat"] is not None:
                try:
                    lat, lon = float(r["lat"].value), float(r["lon"].value)
                except ValueError:
                    continue
                if -90 <= lat <= 90 and -180 <= lon <= 180:
                    coords.setdefault(g, (lat, lon))
            name = _area_name(r) if r["area"] is not None else None
            if name:
                group_areas[g].add(name)
        items: dict = {}
        for r in store.query(_Q_ITEMS):
            key = r["x"].value
            it = items.get(key)
            if it is None:
                g = r["g"].value
                lat, lon = coords.get(g, (None, None))
                it = items[key] = Item(
                    kind="offer" if r["rel"].value.endswith("makesOffer") else "need",
                    iri=key, group=g, group_name=r["gname"].value if r["gname"] else g,
                    name=r["name"].value if r["name"] else "(unnamed)",
                    description=r["desc"].value if r["desc"] else None,
                    category=slug_of(r["cat"].value) if r["cat"] else None,
                    areas=(), valid_through=r["until"].value if r["until"] else None, lat=lat, lon=lon)
                it._own_areas = set()
            name = _area_name(r) if r["area"] is not None else None
            if name:
                it._own_areas.add(name)
        m = cls()
        for it in items.values():
            it.areas = tuple(sorted(it._own_areas or group_areas.get(it.group, ())))
            del it._own_areas
            (m.offers if it.kind == "offer" else m.needs).append(it)
        m._index()
        return m

    def _index(self) -> None:
        self._by_cell: dict = defaultdict(list)
        self._by_area: dict = defaultdict(list)
        for o in self.offers:
            if o.lat is not None:
                self._by_cell[(o.category, *self._cell(o.lat, o.lon))].append(o)
            for a in o.areas:
                self._by_area[(o.category, a)].append(o)

    @staticmethod
    def _cell(lat, lon) -> tuple:
        return math.floor(lat / _CELL_DEG), math.floor(lon / _CELL_DEG)

    # ------------------------------------------------------------------ questions
    def current(self, today: str | None = None) -> tuple[list, list]:
        today = today or dt.date.today().isoformat()
        return ([o for o in self.offers if not o.expired(today)], [n for n in self.needs if not n.expired(today)])

    def matches_for(self, need: Item, *, within_km: float = DEFAULT_WITHIN_KM, today: str | None = None) -> list:
        """Offers meeting one need, best first: [(offer, distance_km or None, reason)]."""
        today = today or dt.date.today().isoformat()
        if need.category is None or need.expired(today):
            return []
        candidates = {}
        if need.lat is not None and within_km <= 11:
            ci, cj = self._cell(need.lat, need.lon)
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    for o in self._by_cell.get((need.category, ci + di, cj + dj), ()):
                        candidates[o.iri] = o
        elif need.lat is not None:  # a wide radius: compare with every offer in the category
            for o in self.offers:
                if o.category == need.category:
                    candidates[o.iri] = o
        for a in need.areas:
            for o in self._by_area.get((need.category, a), ()):
                candidates[o.iri] = o
        out = []
        for o in candidates.values():
            if o.group == need.group or o.expired(today):
                continue
            dist = None
            if need.lat is not None and o.lat is not None:
                dist = haversine_km(need.lat, need.lon, o.lat, o.lon)
            shared = sorted(set(o.areas) & set(need.areas))
            if not shared and (dist is None or dist > within_km):
                continue
            out.append((o, dist, self._reason(o, dist, shared)))
        out.sort(key=lambda m: (m[1] is None, m[1] if m[1] is not None else 0.0, m[0].group_name, m[0].name))
        return out

    @staticmethod
    def _reason(offer: Item, dist, shared) -> str:
        parts = [_label(offer.category)]
        if dist is not None:
            parts.append(f"{dist:.1f} km away")
        if shared:
            parts.append(f"both in {shared[0].title()}")
        parts.append(f"offered until {offer.valid_through[:10]}" if offer.valid_through else "no end date")
        return ", ".join(parts)

    def all_matches(self, *, group: str | None = None, within_km: float = DEFAULT_WITHIN_KM,
                    today: str | None = None) -> list[dict]:
        """For each current need (of ``group`` if given, or needs met by ``group``'s offers), its matches."""
        today = today or dt.date.today().isoformat()
        needs = self.needs
        if group is not None:  # only its own needs, and needs in categories it offers
            offered = {o.category for o in self.offers if o.group == group}
            needs = [n for n in needs if n.group == group or n.category in offered]
        out = []
        for need in sorted(needs, key=lambda n: (n.group_name, n.name)):
            if need.expired(today):
                continue
            found = self.matches_for(need, within_km=within_km, today=today)
            if group is not None and need.group != group:
                found = [m for m in found if m[0].group == group]
            if not found:
                continue
            out.append({"need": need.to_dict(),
                        "offers": [dict(o.to_dict(), distance_km=None if d is None else round(d, 2), reason=r)
                                   for o, d, r in found]})
        return out
