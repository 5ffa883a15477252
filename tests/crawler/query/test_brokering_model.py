"""Brokering answers over a hand-built federation with known answers (see brokering_fixture.py)."""

from __future__ import annotations

import pytest


from hubnet.crawler.query.brokering.matching import Item, Matcher, _OfferCounts, haversine_km
from hubnet.crawler.query.brokering.network import Network
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation


@pytest.fixture(scope="module")
def net(world):
    return Network.from_store(world[0])


@pytest.fixture(scope="module")
def matcher(world):
    return Matcher.from_store(world[0])


def test_every_group_is_in_the_network(net, world):
    assert set(net.groups) == set(world[1].values())


def test_mutual_and_claimed_links(net, world):
    i = world[1]
    assert net.mutual(i["A"], i["B"])               # linkedTo both ways
    assert net.mutual(i["U"], i["A"])               # member one way, memberOf back
    assert not net.mutual(i["U"], i["B"])           # the umbrella claims B; B does not say so
    assert not net.mutual(i["E"], i["G"])
    links = {(l["target"], l["relation"]): l["mutual"] for l in net.links_of(i["U"])}
    assert links == {(i["A"], "member"): True, (i["B"], "member"): False, (i["C"], "member"): False}
    claimed = [e for e in net.all_links() if not e["mutual"]]
    assert {e["claimed_by"] for e in claimed} == {i["U"], i["E"]}


def test_three_hop_introduction(net, world):
    i = world[1]
    assert net.introductions(i["A"], i["E"]) == [[i["A"], i["B"], i["D"], i["E"]]]


def test_unreachable_pairs_have_no_introduction(net, world):
    i = world[1]
    assert net.introductions(i["A"], i["F"]) == []        # F is isolated
    assert net.introductions(i["A"], i["G"], max_hops=4) == []  # E-G is only claimed, not trust
    assert net.introductions(i["A"], i["E"], max_hops=2) == []  # too far for the hop limit


def test_bridges_and_isolated(net, world):
    i = world[1]
    assert net.isolated() == sorted([i["C"], i["F"], i["G"]])   # C and G are only claimed by others
    assert set(net.bridges()) == {i["A"], i["B"], i["D"]}        # the confirmed chain U-A-B-D-E


def test_ego_network(net, world):
    i = world[1]
    ego = net.ego(i["D"], depth=1)
    assert {n["id"] for n in ego["nodes"]} == {i["D"], i["B"], i["E"]}
    assert {(e["a"], e["b"]) for e in ego["edges"]} == {tuple(sorted((i["B"], i["D"]))), tuple(sorted((i["D"], i["E"])))}


def test_matches_found_and_not_found(matcher, world):
    i = world[1]
    result = {m["need"]["name"]: m["offers"] for m in matcher.page(today="2026-11-22")[1]}
    room = result["Room on Tuesdays"]
    assert [o["name"] for o in room] == ["Church hall"]       # not distant, expired, own or wrong category
    assert room[0]["group"] == i["B"]
    assert room[0]["reason"] == "meeting space, 1.1 km away, offered until 2099-06-30"
    vols = result["Volunteers for Saturday"]
    assert [o["name"] for o in vols] == ["Saturday volunteers"]
    assert vols[0]["reason"] == "volunteers, both in Leyton, no end date"


def test_matches_for_one_group_and_wider_radius(matcher, world):
    i = world[1]
    only_b = matcher.page(group=i["B"], today="2026-11-22")[1]
    assert [m["need"]["name"] for m in only_b] == ["Room on Tuesdays"]
    assert matcher.page(group=i["F"], today="2026-11-22")[1] == []
    wide = {m["need"]["name"]: [o["name"] for o in m["offers"]]
            for m in matcher.page(within_km=40, today="2026-11-22")[1]}
    assert wide["Room on Tuesdays"] == ["Church hall", "Distant hall"]


def test_expired_needs_and_offers_are_not_current(matcher):
    offers, needs = matcher.current(today="2026-11-22")
    assert "Old room" not in {o.name for o in offers}
    assert "Old room" in {o.name for o in matcher.offers}


def test_a_link_to_a_groups_page_counts_as_a_link_to_the_group(tmp_path):
    """People paste a group's website, not its #group IRI: the page stands for the group it describes."""
    from hubnet.crawler.crawl.crawler import Crawler
    from hubnet.crawler.settings import Settings

    fed = Federation()
    try:
        fed.put_profile("x.test", "Xenia Arts", path="/", linkedTo=fed.url("y.test", "/"))
        fed.put_profile("y.test", "Yew Tree Allotments", path="/", linkedTo=fed.group_iri("x.test"))
        store = Store(None)
        Crawler(store, fed.settings("x.test", "y.test", retries=Settings().retries)).crawl([fed.url("x.test", "/")])
        net = Network.from_store(store)
        assert net.mutual(fed.group_iri("x.test"), fed.group_iri("y.test"))
        assert net.isolated() == []
    finally:
        fed.close()


def test_the_group_view_is_the_full_view_seen_from_that_group(matcher, world):
    """page(group=g) finds its needs' matches and the needs its offers meet (the reverse lookup)."""
    every = matcher.page(within_km=40, today="2026-11-22")[1]
    for g in world[1].values():
        expected = []
        for m in every:
            offers = m["offers"] if m["need"]["group"] == g else [o for o in m["offers"] if o["group"] == g]
            if offers:
                expected.append((m["need"]["id"], [o["id"] for o in offers]))
        got = [(m["need"]["id"], [o["id"] for o in m["offers"]])
               for m in matcher.page(group=g, within_km=40, today="2026-11-22")[1]]
        assert got == expected, g


def _item(kind, n, lat, lon, group=None, category="meeting-space", areas=()):
    return Item(kind=kind, iri=f"https://{kind}{n}.test/#x", group=group or f"https://{kind}{n}.test/#group",
                group_name=f"{kind} {n}", name=f"{kind} {n}", description=None, category=category,
                areas=tuple(areas), valid_through=None, lat=lat, lon=lon)


@pytest.mark.parametrize("lat", [51.5, 60.15, -45.0])
def test_a_radius_reaches_east_and_west_as_far_as_north_and_south(lat):
    """A degree of longitude is shorter than a degree of latitude away from the equator: an offer
    7 km due east, in a grid cell two cells away, must still be found within 10 km."""
    need = _item("need", 0, lat, 0.0999)
    dlon = 7.0 / (111.32 * __import__("math").cos(__import__("math").radians(lat)))
    east = _item("offer", 1, lat, 0.0999 + dlon)
    west = _item("offer", 2, lat, 0.0999 - dlon)
    north = _item("offer", 3, lat + 7.0 / 111.2, 0.0999)
    m = Matcher(offers=[east, west, north], needs=[need])
    found = m.matches_for(need, within_km=10, today="2026-01-01")
    assert {o.name for o, _, _ in found} == {"offer 1", "offer 2", "offer 3"}
    assert all(6.5 < d < 7.5 for _, d, _ in found)
    assert m.matches_for(need, within_km=6, today="2026-01-01") == []


def test_a_wide_radius_scans_the_category():
    need = _item("need", 0, 51.5, -0.1)
    far = _item("offer", 1, 52.95, -1.15)          # Nottingham, ~170 km
    other = _item("offer", 2, 52.95, -1.15, category="volunteers")
    m = Matcher(offers=[far, other], needs=[need])
    found = m.matches_for(need, within_km=200, today="2026-01-01")
    assert [o.name for o, _, _ in found] == ["offer 1"]
    assert found[0][1] == pytest.approx(haversine_km(51.5, -0.1, 52.95, -1.15))


def test_per_need_keeps_the_nearest_and_counts_the_rest():
    need = _item("need", 0, 51.5, 0.0)
    offers = [_item("offer", k, 51.5 + k * 0.005, 0.0) for k in range(1, 8)]
    m = Matcher(offers=list(reversed(offers)), needs=[need])
    [row] = m.page(per_need=3, today="2026-01-01")[1]
    assert row["offer_count"] == 7
    assert [o["name"] for o in row["offers"]] == ["offer 1", "offer 2", "offer 3"]
    assert m.page(category="volunteers", today="2026-01-01")[1] == []


def test_a_place_with_coordinates_of_its_own_counts_like_one_with_geo():
    """The directory accepts location.latitude as well as location.geo.latitude; so does matching."""
    import json

    from hubnet.crawler.crawl.extract import parse_source
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import OK, SourceRecord

    store = Store(None)
    for host, place, key in (("n.test", {"@type": "Place", "latitude": 51.56, "longitude": -0.01}, "seeks"),
                             ("o.test", {"@type": "Place", "geo": {"@type": "GeoCoordinates", "latitude": 51.57,
                                                                   "longitude": -0.01}}, "makesOffer")):
        url = f"https://{host}/"
        doc = {"@context": "https://w3id.org/hubnet/context.jsonld", "@id": url + "#group", "@type": "Organization",
               "name": host, "location": place,
               key: {"@type": "Demand" if key == "seeks" else "Offer", "name": "A room", "category": "meeting-space"}}
        p = parse_source(json.dumps(doc).encode(), "application/ld+json", url, Settings())
        store.replace_source(SourceRecord(url=url, graph=url, status=OK), p.triples)
    m = Matcher.from_store(store)
    [need] = m.needs
    assert need.lat == 51.56
    assert [round(d, 1) for _, d, _ in m.matches_for(need, today="2026-01-01")] == [1.1]


def _mixed_matcher(n: int = 120, seed: int = 18) -> Matcher:
    """Needs and offers in two categories around one town: some without coordinates, some of the
    same group, some expired, areas shared or not (every way an offer can fit a need or not)."""
    import random

    rnd = random.Random(seed)
    areas = ["leyton", "hackney", "bow", "stratford"]

    def item(kind, k):
        lat, lon = (None, None) if rnd.random() < 0.15 else (51.5 + rnd.uniform(-0.2, 0.2), rnd.uniform(-0.3, 0.3))
        it = _item(kind, k, lat, lon, group=f"https://g{rnd.randrange(n // 3)}.test/#group",
                   category=rnd.choice(["meeting-space", "volunteers"]),
                   areas=sorted(rnd.sample(areas, rnd.randrange(3))))
        it.valid_through = rnd.choice([None, None, "2025-01-01", "2099-01-01"])
        return it

    return Matcher(offers=[item("offer", k) for k in range(n)], needs=[item("need", k) for k in range(n)])


@pytest.mark.parametrize("within_km", [0.5, 5.0, 40.0, 200.0])
def test_the_full_match_list_answers_as_matching_each_need_does(within_km):
    """The full list keeps counts only (issue 18); its counts and each page's offers are still what
    matches_for gives every need, at every radius (the wide one scans the category)."""
    m, today = _mixed_matcher(), "2026-01-01"
    expected, counts = [], _OfferCounts(m.offers, today)
    for need in m.needs:
        ms = m.matches_for(need, within_km=within_km, today=today)
        assert counts.count(need, within_km) == len(ms), need.iri
        if ms:
            expected.append((need, len(ms), ms))
    expected.sort(key=lambda f: (f[0].group_name, f[0].name, f[0].iri))
    assert expected, "the table must hold matches"
    total, rows = m.page(within_km=within_km, today=today, per_need=4)
    assert total == len(expected)
    assert [(r["need"]["id"], r["offer_count"], [(o["id"], o["reason"]) for o in r["offers"]]) for r in rows] == [
        (need.iri, count, [(o.iri, reason) for o, _, reason in ms[:4]]) for need, count, ms in expected]


def test_the_full_match_list_words_reasons_only_for_the_page_shown(monkeypatch):
    """Building the full list writes no reason; a page writes them for its own needs' offers alone."""
    m, today = _mixed_matcher(), "2026-01-01"
    reasons = []
    real = Matcher._reason
    monkeypatch.setattr(Matcher, "_reason", staticmethod(lambda *a: reasons.append(a) or real(*a)))
    total, _ = m.page(within_km=40.0, today=today, limit=0)
    assert total > 2 and reasons == []
    _, rows = m.page(within_km=40.0, today=today, limit=2)
    assert len(reasons) == sum(r["offer_count"] for r in rows)


def test_every_link_is_read_as_a_dict_whichever_way_it_is_read(net, world):
    """Links are kept as tuples (issue 18) and read as dicts: one by one, by slice, mutual or claimed,
    each pair once with the relations both sides state, the claim naming the side that states it."""
    links = net.all_links()
    every = [links[k] for k in range(len(links))]
    assert list(links) == every == links[:] and links[1:3] == every[1:3] and len(every) > 3
    assert list(net.mutual_links()) == [e for e in every if e["mutual"]]
    assert list(net.claimed_links()) == [e for e in every if not e["mutual"]]
    assert len({(e["a"], e["b"]) for e in every}) == len(every)
    for e in every:
        a, b = e["a"], e["b"]
        assert a < b and e["mutual"] == net.mutual(a, b)
        assert e["relations"] == sorted({l["relation"] for l in net.links_of(a) if l["target"] == b}
                                        | {l["relation"] for l in net.links_of(b) if l["target"] == a})
        assert e["claimed_by"] is None if e["mutual"] else net.states_link(e["claimed_by"], b if e["claimed_by"] == a else a)


def test_a_group_iri_is_held_once_however_many_links_name_it(net):
    """Each link holds the group's own key string and one string per graph (issue 18: the 100k model)."""
    keys = {iri: iri for iri in net.groups}
    graphs = {g["graph"]: g["graph"] for g in net.groups.values()}
    links = [l for ls in net.out.values() for l in ls]
    assert links and all(l.source is keys[l.source] and l.target is keys[l.target] for l in links)
    assert all(l.graph is graphs[l.graph] for l in links if l.graph in graphs)
