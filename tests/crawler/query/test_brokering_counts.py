"""The full match list's counts (issue 18): counted by ball trees, the same as comparing each need with
each offer near it, which is what the matcher did before (kept here as the reference, ``_reference``)."""

from __future__ import annotations

import math
import random

import pytest

from hubnet.crawler.geo import haversine_km
from hubnet.crawler.query.brokering import matching
from hubnet.crawler.query.brokering.matching import Item, Matcher

TODAY = "2026-01-01"


@pytest.fixture(scope="module")
def matcher(world):
    return Matcher.from_store(world[0])
CATEGORIES = ["meeting-space", "volunteers", "food"]


# ---------------------------------------------------------------- the matcher's count before (reference)
def _reference(m: Matcher, within_km: float, today: str) -> list:
    """[(need IRI, offer count)] of every need with a match, as ``Matcher._found`` listed them before
    the counting trees: each need compared with every offer in its areas and in the cells around it."""
    def cell(lat, lon):
        return math.floor(lat / 0.05), math.floor(lon / 0.05)

    by_cell, by_area, by_category = {}, {}, {}
    for o in m.offers:
        if o.lat is not None:
            by_cell.setdefault((o.category, *cell(o.lat, o.lon)), []).append(o)
        for a in o.areas:
            by_area.setdefault((o.category, a), []).append(o)
        by_category.setdefault(o.category, []).append(o)

    def candidates(need):
        found = {}
        dlat = within_km / 111.2
        far_lat = min(89.9, abs(need.lat) + dlat)
        dlon = min(180.0, within_km / (111.32 * math.cos(math.radians(far_lat))))
        i0, j0 = cell(need.lat - dlat, need.lon - dlon)
        i1, j1 = cell(need.lat + dlat, need.lon + dlon)
        if (i1 - i0 + 1) * (j1 - j0 + 1) > 400:
            for o in by_category.get(need.category, ()):
                found[o.iri] = o
        else:
            for ci in range(i0, i1 + 1):
                for cj in range(j0, j1 + 1):
                    for o in by_cell.get((need.category, ci, cj), ()):
                        found[o.iri] = o
        return found

    def count_for(need):
        if need.category is None or need.expired(today):
            return 0
        seen, count = set(), 0
        for a in need.areas:
            for o in by_area.get((need.category, a), ()):
                if o.iri not in seen:
                    seen.add(o.iri)
                    count += o.group != need.group and not o.expired(today)
        if need.lat is not None:
            for iri, o in candidates(need).items():
                if iri not in seen and o.group != need.group and not o.expired(today):
                    dist = haversine_km(need.lat, need.lon, o.lat, o.lon)
                    count += dist is not None and dist <= within_km
        return count

    found = [(n, c) for n in m.needs if (c := count_for(n))]
    found.sort(key=lambda f: (f[0].group_name, f[0].name, f[0].iri))
    return [(n.iri, c) for n, c in found]


# ---------------------------------------------------------------- the family of layouts
def _item(kind, k, lat, lon, group, *, category=None, areas=(), until=None):
    return Item(kind=kind, iri=f"https://{kind}{k}.test/#x", group=group, group_name=group.split("//")[1][:6],
                name=f"{kind} {k}", description=None, category=category, areas=tuple(sorted(areas)),
                valid_through=until, lat=lat, lon=lon)


def _layout(rnd, n, place, *, areas=("leyton", "hackney", "bow"), unplaced=0.1, groups=None, categories=CATEGORIES):
    """``n`` offers and ``n`` needs at ``place(rnd)``: some without a position, some of the same group,
    some expired, sharing an area or not."""
    groups = groups or n // 2

    def item(kind, k):
        lat, lon = (None, None) if rnd.random() < unplaced else place(rnd)
        return _item(kind, k, lat, lon, f"https://g{rnd.randrange(groups)}.test/#group",
                     category=rnd.choice(categories), areas=rnd.sample(areas, rnd.randrange(min(3, len(areas) + 1))),
                     until=rnd.choice([None, None, "2025-06-30", "2099-01-01"]))

    return [item("offer", k) for k in range(n)], [item("need", k) for k in range(n)]


def _near(lat, lon, km):
    def place(rnd):
        return lat + rnd.uniform(-km, km) / 111.2, lon + rnd.uniform(-km, km) / (111.32 * math.cos(math.radians(lat)))
    return place


def _on_cell_borders(rnd):
    """On a multiple of the grid's 0.05 degrees, or a hair either side of one."""
    def coord(lo):
        return (lo + rnd.randrange(4)) * 0.05 + rnd.choice([0.0, 0.0, 1e-9, -1e-9, 1e-13, -1e-13, 0.021, -0.021])
    return coord(1028), coord(-4)


def _antimeridian(rnd):
    return -17.7 + rnd.uniform(-0.05, 0.05), rnd.choice([180.0, -180.0, 179.99, -179.99]) + rnd.uniform(-0.02, 0.02)


def _pole(rnd):
    return rnd.choice([90.0, -90.0, 89.97, -89.97, 89.5]), rnd.uniform(-180.0, 180.0)


def _one_point(rnd):
    return (51.5, -0.1) if rnd.random() < 0.7 else (51.5 + rnd.choice([0.0045, 0.009, 0.0449]), -0.1)


LAYOUTS = {
    # a dense area: every need has many offers within the radius (the case that was quadratic)
    "dense cluster": lambda rnd: _layout(rnd, 300, _near(51.5, -0.1, 1.5)),
    "cell borders": lambda rnd: _layout(rnd, 200, _on_cell_borders),
    "antimeridian": lambda rnd: _layout(rnd, 150, _antimeridian),
    "poles": lambda rnd: _layout(rnd, 150, _pole),
    "many groups at one point": lambda rnd: _layout(rnd, 200, _one_point, groups=150),
    "two groups with everything": lambda rnd: _layout(rnd, 120, _near(51.5, -0.1, 3), groups=2),
    # every group serves the city too: most area sets share an area with any need
    "a city over every area": lambda rnd: _layout(rnd, 200, _near(51.5, -0.1, 4),
                                                  areas=("london", "london", "leyton", "bow", "hackney")),
    "no positions": lambda rnd: _layout(rnd, 100, _near(51.5, -0.1, 2), unplaced=1.0),
    "a region, spread out": lambda rnd: _layout(rnd, 200, _near(52.0, -1.0, 150)),
}


def _needs_without_offers(offers, needs, rnd):
    """Needs in a category nobody offers, needs and offers with no category."""
    for k, n in enumerate(needs[:10]):
        n.category = "transport" if k % 2 else None
    for o in offers[:5]:
        o.category = None
    return offers, needs


def _radii(rnd, offers, needs):
    """The usual radii and a wide one (the whole category), and one that equals a need's distance to
    an offer to the last bit (``<=`` decides)."""
    placed = [(n, o) for n in needs for o in offers[:20] if n.lat is not None and o.lat is not None]
    exact = [haversine_km(n.lat, n.lon, o.lat, o.lon) for n, o in rnd.sample(placed, min(3, len(placed)))]
    return [0.5, 5.0, 40.0, 200.0] + [d for d in exact if 0 < d <= 200]


@pytest.mark.parametrize("name", LAYOUTS)
def test_the_full_match_list_is_what_comparing_each_pair_gives(name):
    rnd = random.Random(f"issue18 {name}")
    offers, needs = _needs_without_offers(*LAYOUTS[name](rnd), rnd)
    m = Matcher(offers=offers, needs=needs)
    radii = _radii(rnd, offers, needs)
    matched = 0
    for within_km in radii:
        expected = _reference(m, within_km, TODAY)
        assert [(need.iri, count) for need, count, _ in m._found(None, within_km, TODAY)] == expected, within_km
        matched += len(expected)
    assert matched, "the layout must hold matches"
    total, rows = m.page(within_km=5.0, today=TODAY, offset=3, limit=20)   # what the API shows of it
    assert total == len(_reference(m, 5.0, TODAY))
    assert [(r["need"]["id"], r["offer_count"]) for r in rows] == _reference(m, 5.0, TODAY)[3:23]


@pytest.mark.parametrize("within_km", [0.5, 5.0, 40.0, 200.0])
def test_the_crawled_federation_counts_as_before(matcher, within_km):
    """The test federation's store (brokering_fixture.py), crawled: the same list, counts and order."""
    expected = _reference(matcher, within_km, "2026-11-22")
    assert expected
    rows = matcher.page(within_km=within_km, today="2026-11-22")[1]
    assert [(r["need"]["id"], r["offer_count"]) for r in rows] == expected


def _dense_work(monkeypatch, n: int) -> int:
    """Comparisons made to count the full list of ``n`` needs among ``n`` offers in one grid cell
    (~1 km across, radius 300 m): an angle per cluster, a chord per point of a leaf on the edge."""
    rnd = random.Random(18)
    offers, needs = _layout(rnd, n, _near(51.52, -0.12, 0.5), unplaced=0.0, categories=["food"], areas=("bow",))
    for it in offers + needs:
        it.areas, it.valid_through = (), None
    work = []
    angle, leaf = matching._angle, matching._count_leaf
    monkeypatch.setattr(matching, "_angle", lambda chord2: work.append(1) or angle(chord2))
    monkeypatch.setattr(matching, "_count_leaf", lambda points, *a: work.append(len(points)) or leaf(points, *a))
    total, _ = Matcher(offers=offers, needs=needs).page(within_km=0.3, today=TODAY, limit=0)
    monkeypatch.undo()
    assert total == n
    return sum(work)


def test_a_dense_area_is_counted_without_measuring_each_pair(monkeypatch):
    """Before, each need was compared with every offer in the cells around it: n x n comparisons here
    (4 million for 2,000), growing with the square of the groups. The trees make a part of that, and
    a part that shrinks as the area fills (counted, not timed)."""
    small, large = _dense_work(monkeypatch, 500), _dense_work(monkeypatch, 2000)
    assert large < 2000 * 2000 / 4
    assert large < 0.7 * 16 * small      # four times the groups: far less than 16 times the work
