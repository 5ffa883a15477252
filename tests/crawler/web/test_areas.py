"""Areas at every level (issue 15): memberships from profiles and boundaries, searches that roll up
from ward to borough to region, the council's contact list, and the operator's files refused whole.

The world (fictional codes; every group crawled for real from loopback sites):

    E12000901 Ley Valley (region)
      E09000901 Marsh End (borough)
        E05000911 Wharfside (ward)      wharf-arts (code as identifier), wharf-lunch (ONS IRI as sameAs,
                                        and inside Wharfside's boundary)
        E05000912 Cattle Green (ward)   cattle (names "cattle green" only)
      E09000902 Leybridge (borough)
        E05000921 Church Street (ward)  church (no area at all: coordinates inside the boundary)
    E12000902 Far Shire (region)
      E09000903 Farfield (borough)
        E05000931 Far Ward (ward)       far (code as identifier)
    badcode: an invalid code (E0500091) and the name "Nowhere ward": in no area
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.store.areas import ONS, AreaSet, AreasFileError, contains
from hubnet.crawler.store.index import open_index
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation
from server_helpers import make_app, place

HOSTS = ("wharf-arts.test", "wharf-lunch.test", "cattle.test", "church.test", "far.test", "badcode.test")
AREAS_CSV = """code,name,level,parent,notes
E12000901,Ley Valley,region,,
E09000901,Marsh End,borough,E12000901,
E05000911,Wharfside,ward,E09000901,by the water
E05000912,Cattle Green,ward,E09000901,
E09000902,Leybridge,borough,E12000901,
E05000921,Church Street,ward,E09000902,
E12000902,Far Shire,region,,
E09000903,Farfield,borough,E12000902,
E05000931,Far Ward,ward,E09000903,
"""


def square(lon0, lat0, lon1, lat1):
    return [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]


BOUNDARIES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"code": "E05000921", "name": "Church Street"},
     "geometry": {"type": "Polygon", "coordinates": square(-0.030, 51.540, -0.010, 51.550)}},
    {"type": "Feature", "properties": {"code": "E05000911"},
     "geometry": {"type": "MultiPolygon", "coordinates": [square(-0.010, 51.550, 0.010, 51.560)]}},
]}

# host -> (name, kind, topics, areaServed, location, links)
GROUPS = {
    "wharf-arts.test": ("Wharfside Arts", "community-group", ["arts"],
                        {"@type": "AdministrativeArea", "name": "Wharfside ward", "identifier": "E05000911"},
                        None, ["wharf-lunch.test", "church.test"]),
    "wharf-lunch.test": ("Wharfside Lunch Club", "charity", ["food"],
                         {"@type": "AdministrativeArea", "name": "Wharfside", "sameAs": ONS + "E05000911"},
                         place(51.555, 0.0), ["wharf-arts.test"]),
    "cattle.test": ("Cattle Green Tenants", "residents-association", ["housing"], "cattle green", None, []),
    "church.test": ("Church Street Residents", "residents-association", ["housing"], None,
                    place(51.545, -0.02), ["wharf-arts.test"]),
    "far.test": ("Far Ward Residents", "residents-association", ["housing"],
                 {"@type": "AdministrativeArea", "name": "Far Ward", "identifier": "E05000931"}, None, []),
    "badcode.test": ("Badly Coded Residents", "residents-association", ["housing"],
                     {"@type": "AdministrativeArea", "name": "Nowhere ward", "identifier": "E0500091"}, None, []),
}
NEED = {"@type": "Demand", "name": "A hall for the lunch club", "category": "meeting-space"}
OFFER = {"@type": "Offer", "name": "Church hall", "category": "meeting-space"}


def publish(fed) -> list[str]:
    for host, (name, kind, topics, area, location, links) in GROUPS.items():
        doc = {"@context": "https://w3id.org/hubnet/context.jsonld", "@id": fed.group_iri(host),
               "@type": "Organization", "name": name, "additionalType": kind, "knowsAbout": topics,
               "url": fed.url(host), "email": f"hello@{host}",
               "contactPoint": {"@type": "ContactPoint", "contactType": "first point of contact",
                                "name": f"{name} secretary", "email": f"secretary@{host}"}}
        if area is not None:
            doc["areaServed"] = area
        if location is not None:
            doc["location"] = location
        if links:
            doc["linkedTo"] = [fed.group_iri(h) for h in links]
        if host == "wharf-lunch.test":
            doc["seeks"] = [NEED]
        if host in ("church.test", "far.test"):
            doc["makesOffer"] = [OFFER]
        fed.put(host, "/", doc)
    return [fed.url(h) for h in HOSTS]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("areas")
    (tmp / "areas.csv").write_text(AREAS_CSV, encoding="utf-8")
    (tmp / "areas.geojson").write_text(json.dumps(BOUNDARIES), encoding="utf-8")
    fed = Federation()
    seeds = publish(fed)
    store = tmp / "store"
    result = CliRunner().invoke(cli, ["crawl", *seeds, "--store", str(store), "--allow-private", "--delay", "0",
                                      *sum((["--resolve", f"{h}:{fed.port}:127.0.0.1"] for h in HOSTS), []),
                                      "--areas", str(tmp / "areas.csv"), "--boundaries", str(tmp / "areas.geojson")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    app = make_app(fed, store, BACKGROUND=False)
    app.extensions["hubnet"].wait_refreshed()
    yield {"fed": fed, "app": app, "client": app.test_client(), "tmp": tmp, "store": store}
    app.extensions["hubnet"].close()
    fed.close()


def names(client, path: str) -> set:
    resp = client.get(path)
    assert resp.status_code == 200, resp.data
    data = resp.get_json()
    return {g["name"] for g in data.get("groups", data.get("isolated", []))}


WHARF = {"Wharfside Arts", "Wharfside Lunch Club"}
MARSH_END = WHARF | {"Cattle Green Tenants"}
LEY_VALLEY = MARSH_END | {"Church Street Residents"}
# Every level, by code, by name, and by name in another case: (area=, the groups found).
ROLL_UP = [("E05000911", WHARF), ("wharfside", WHARF), ("E05000912", {"Cattle Green Tenants"}),
           ("Cattle Green", {"Cattle Green Tenants"}), ("E05000921", {"Church Street Residents"}),
           ("E09000901", MARSH_END), ("Marsh End", MARSH_END), ("MARSH END", MARSH_END), ("e09000901", MARSH_END),
           ("E09000902", {"Church Street Residents"}), ("leybridge", {"Church Street Residents"}),
           ("E12000901", LEY_VALLEY), ("Ley Valley", LEY_VALLEY),
           (ONS + "E12000901", LEY_VALLEY),
           ("Far Shire", {"Far Ward Residents"}), ("Farfield", {"Far Ward Residents"}),
           ("Nowhere ward", {"Badly Coded Residents"}),          # not an area: the exact text, as before
           ("E0500091", set()), ("Atlantis", set())]


@pytest.mark.parametrize("area,expected", ROLL_UP, ids=[a for a, _ in ROLL_UP])
def test_search_rolls_up_from_ward_to_borough_to_region(world, area, expected):
    assert names(world["client"], f"/api/groups?limit=100&area={area}") == expected


def test_the_directory_page_rolls_up_too(world):
    html = world["client"].get("/?area=Marsh+End").get_data(as_text=True)
    assert all(n in html for n in MARSH_END) and "Church Street Residents" not in html


def test_each_membership_says_where_it_came_from(world):
    client = world["client"]
    key = {g["name"]: g["key"] for g in client.get("/api/groups?limit=100").get_json()["groups"]}

    def memberships(name):
        return {(m["code"], m["via"]) for m in client.get(f"/api/groups/{key[name]}").get_json()["memberships"]}

    assert memberships("Wharfside Arts") == {("E05000911", "profile")}
    assert memberships("Wharfside Lunch Club") == {("E05000911", "profile"), ("E05000911", "boundary")}
    assert memberships("Cattle Green Tenants") == {("E05000912", "profile_name")}
    assert memberships("Church Street Residents") == {("E05000921", "boundary")}
    assert memberships("Far Ward Residents") == {("E05000931", "profile")}
    assert memberships("Badly Coded Residents") == set()      # an invalid code makes no membership


CONTACTS = [("residents-association", "Marsh End", {"Cattle Green Tenants"}),
            ("residents-association", "E12000901", {"Cattle Green Tenants", "Church Street Residents"}),
            ("residents-association", "", {"Cattle Green Tenants", "Church Street Residents", "Far Ward Residents",
                                           "Badly Coded Residents"}),
            ("charity", "Marsh End", {"Wharfside Lunch Club"}),
            ("charity", "Leybridge", set()),
            ("", "E05000911", WHARF)]


@pytest.mark.parametrize("kind,area,expected", CONTACTS)
def test_contacts_honour_kind_and_area_together(world, kind, area, expected):
    client = world["client"]
    assert names(client, f"/api/contacts?kind={kind}&area={area}") == expected
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"/api/contacts.csv?kind={kind}&area={area}").get_data(as_text=True))))
    assert {r["name"] for r in rows} == expected            # exactly those groups, one row each
    assert len(rows) == len(expected)
    for r in rows:
        host = next(h for h, g in GROUPS.items() if g[0] == r["name"])
        assert r["email"] == f"secretary@{host}" and r["contact_name"] == f"{r['name']} secretary"
        assert r["contact_type"] == "first point of contact" and r["kind"] == GROUPS[host][1]


def test_contacts_with_a_topic_kind_and_area(world):
    assert names(world["client"], "/api/contacts?topic=food&kind=charity&area=Ley+Valley") == {"Wharfside Lunch Club"}
    assert names(world["client"], "/api/contacts?topic=arts&kind=charity&area=Ley+Valley") == set()


ISOLATED = [("E05000911", set()), ("Marsh End", {"Cattle Green Tenants"}),
            ("Ley Valley", {"Cattle Green Tenants"}), ("Leybridge", set()), ("Farfield", {"Far Ward Residents"})]


@pytest.mark.parametrize("area,expected", ISOLATED)
def test_isolated_groups_roll_up(world, area, expected):
    assert names(world["client"], f"/api/network/isolated?area={area}") == expected


MATCHES = [("E05000911", ["A hall for the lunch club"]), ("Marsh End", ["A hall for the lunch club"]),
           ("ley valley", ["A hall for the lunch club"]), ("Leybridge", []), ("Far Shire", [])]


@pytest.mark.parametrize("area,expected", MATCHES)
def test_matches_roll_up_by_the_needs_area(world, area, expected):
    data = world["client"].get(f"/api/matches?area={area}&within_km=5").get_json()
    assert [m["need"]["name"] for m in data["matches"]] == expected
    if expected:
        assert [o["name"] for o in data["matches"][0]["offers"]] == ["Church hall"]   # the near one only


def test_exports_take_the_directorys_filters(world):
    client = world["client"]
    rows = list(csv.DictReader(io.StringIO(client.get("/export.csv?area=Marsh+End").get_data(as_text=True))))
    assert {r["name"] for r in rows} == MARSH_END
    rows = list(csv.DictReader(io.StringIO(
        client.get("/export.csv?area=Ley+Valley&kind=residents-association").get_data(as_text=True))))
    assert {r["name"] for r in rows} == {"Cattle Green Tenants", "Church Street Residents"}
    everyone = list(csv.DictReader(io.StringIO(client.get("/export.csv").get_data(as_text=True))))
    assert len(everyone) == len(GROUPS)
    geo = json.loads(client.get("/export.geojson?area=Ley+Valley").get_data(as_text=True))
    assert {f["properties"]["name"] for f in geo["features"]} == {"Wharfside Lunch Club", "Church Street Residents"}
    assert client.get("/export.csv?near=91,0").status_code == 400


# --------------------------------------------------------------------------- the operator's files
BAD_AREAS = [
    ("", "empty"),
    ("code,name,level\nE05000911,Wharfside,ward\n", "no column parent"),
    ("code,name,level,parent\nE0500091,Wharfside,ward,\n", "line 2: code 'E0500091' is not an area code"),
    ("code,name,level,parent\ne05000911,Wharfside,ward,\n", "line 2: code 'e05000911' is not an area code"),
    ("code,name,level,parent\nE05000911,,ward,\n", "line 2: name must be given"),
    ("code,name,level,parent\nE05000911,Wharfside,ward,Marsh End\n", "parent 'Marsh End' is not an area code"),
    ("code,name,level,parent\nE05000911,Wharfside,ward,E09000999\n", "the parent E09000999, which is not in"),
    ("code,name,level,parent\nE05000911,A,ward,\nE05000911,B,ward,\n", "line 3: the code E05000911 is given twice"),
    ("code,name,level,parent\nE05000911,A,ward,E05000912\nE05000912,B,ward,E05000911\n", "go round in a circle"),
    ("code,name,level,parent\nE05000911,A,ward,E05000911\n", "its own parent"),
    ('code,name,level,parent\nE05000911,"A,ward,\n', "unexpected end of data"),
]


@pytest.mark.parametrize("text,message", BAD_AREAS, ids=[m for _, m in BAD_AREAS])
def test_a_malformed_areas_file_is_refused_whole(text, message):
    with pytest.raises(AreasFileError) as err:
        AreaSet.parse(text, None)
    assert message in err.value.message and err.value.code == "bad_areas_file"


def feature(code="E05000911", geometry=None):
    return {"type": "Feature", "properties": {"code": code},
            "geometry": geometry or {"type": "Polygon", "coordinates": square(0, 0, 1, 1)}}


BAD_BOUNDARIES = [
    ("{", "not JSON"),
    (json.dumps({"type": "Feature"}), "must be a GeoJSON FeatureCollection"),
    (json.dumps({"type": "FeatureCollection", "features": [feature("E0500091")]}), "properties.code 'E0500091'"),
    (json.dumps({"type": "FeatureCollection", "features": [feature(), feature()]}), "has two features"),
    (json.dumps({"type": "FeatureCollection", "features": [feature(geometry={"type": "Point",
                                                                             "coordinates": [0, 0]})]}),
     "must be a Polygon or MultiPolygon"),
    (json.dumps({"type": "FeatureCollection", "features": [feature(geometry={
        "type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]})]}), "at least 3 distinct positions"),
    (json.dumps({"type": "FeatureCollection", "features": [feature(geometry={
        "type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]})]}), "is not a [lon, lat] position"),
    (json.dumps({"type": "FeatureCollection", "features": [feature(geometry={
        "type": "Polygon", "coordinates": [[[0, 0], ["x", 0], [1, 1], [0, 0]]]})]}), "is not a [lon, lat] position"),
]


@pytest.mark.parametrize("text,message", BAD_BOUNDARIES, ids=[m for _, m in BAD_BOUNDARIES])
def test_a_malformed_boundaries_file_is_refused_whole(text, message):
    with pytest.raises(AreasFileError) as err:
        AreaSet.parse(None, text)
    assert message in err.value.message


def test_the_limits_hold():
    rows = "".join(f"E05{i:06d},Ward {i},ward,\n" for i in range(11))
    with pytest.raises(AreasFileError, match="more than 10 areas"):
        AreaSet.parse("code,name,level,parent\n" + rows, None, max_rows=10)
    with pytest.raises(AreasFileError, match="more than 4 positions"):
        AreaSet.parse(None, json.dumps({"type": "FeatureCollection", "features": [feature()]}), max_points=4)


@pytest.mark.parametrize("command", ["crawl", "serve"])
def test_a_malformed_file_stops_the_command_and_changes_nothing(world, tmp_path, command):
    """Through the CLI: a clear message, exit 1, and the areas the store holds are unchanged."""
    store = world["store"]
    before = {p.name: p.read_bytes() for p in store.glob("*.csv")} | \
             {p.name: p.read_bytes() for p in store.glob("*.geojson")}
    bad = tmp_path / "areas.csv"
    bad.write_text("code,name,level,parent\nE05000911,Wharfside,ward,E0900090\n", encoding="utf-8")
    result = CliRunner().invoke(cli, [command, "--store", str(store), "--areas", str(bad)])
    assert result.exit_code == 1
    assert "line 2: parent 'E0900090' is not an area code" in result.output and "Traceback" not in result.output
    after = {p.name: p.read_bytes() for p in store.glob("*.csv")} | \
            {p.name: p.read_bytes() for p in store.glob("*.geojson")}
    assert after == before and set(before) == {"areas.csv", "boundaries.geojson"}
    assert names(world["client"], "/api/groups?area=Marsh+End") == MARSH_END


def test_areas_survive_an_index_rebuild(world, tmp_path):
    """The index is derived data: deleted, it is refilled, areas included, from the copies in the store."""
    import shutil
    copy = tmp_path / "store"
    shutil.copytree(world["store"], copy)
    (copy / "index.sqlite").unlink()
    for extra in copy.glob("index.sqlite-*"):
        extra.unlink()
    app = make_app(world["fed"], copy, BACKGROUND=False)
    try:
        assert names(app.test_client(), "/api/groups?area=Ley+Valley") == LEY_VALLEY
    finally:
        app.extensions["hubnet"].close()


POINTS = [((0.5, 0.5), True), ((1.5, 0.5), False), ((0.5, -0.1), False), ((0.0, 0.5), True),
          ((0.25, 0.25), False), ((0.75, 0.75), True)]   # (0.25, 0.25) is in the hole


@pytest.mark.parametrize("point,inside", POINTS)
def test_point_in_polygon_with_a_hole(point, inside):
    outer = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]
    hole = [(0.2, 0.2), (0.3, 0.2), (0.3, 0.3), (0.2, 0.3), (0.2, 0.2)]
    assert contains([[outer, hole]], *point) is inside


def test_a_store_without_areas_searches_by_exact_text_as_before(tmp_path):
    store = Store(tmp_path / "s")
    index = open_index(store)
    try:
        assert index.areas.resolve("Marsh End") == [] and index.areas.all() == []
    finally:
        index.close()
        store.close()


# --------------------------------------------------------------------------- area pages
def test_the_area_tree_with_rolled_up_counts(world):
    data = world["client"].get("/api/areas").get_json()
    counts = {a["name"]: (a["level"], a["parent"], a["groups"]) for a in data["areas"]}
    assert counts == {"Ley Valley": ("region", None, 4), "Far Shire": ("region", None, 1),
                      "Marsh End": ("borough", "E12000901", 3), "Leybridge": ("borough", "E12000901", 1),
                      "Farfield": ("borough", "E12000902", 1),
                      "Wharfside": ("ward", "E09000901", 2), "Cattle Green": ("ward", "E09000901", 1),
                      "Church Street": ("ward", "E09000902", 1), "Far Ward": ("ward", "E09000903", 1)}
    assert data["levels"] == ["region", "borough", "ward"] and set(data["roots"]) == {"E12000901", "E12000902"}
    html = world["client"].get("/areas").get_data(as_text=True)
    assert html.index("Ley Valley") < html.index("Marsh End") < html.index("Wharfside")


def test_an_area_learned_only_from_a_profile_is_listed(tmp_path):
    """No operator file: a code a group gives is an area (named as the group names it)."""
    fed = Federation()
    try:
        seeds = publish(fed)
        store = Store(tmp_path / "store")
        from hubnet.crawler.crawl.crawler import Crawler
        Crawler(store, fed.settings(*HOSTS)).crawl(seeds)
        store.close()
        app = make_app(fed, tmp_path / "store", BACKGROUND=False)
        try:
            client = app.test_client()
            data = client.get("/api/areas").get_json()
            assert {(a["code"], a["name"], a["origin"], a["groups"]) for a in data["areas"]} == {
                ("E05000911", "Wharfside", "profile", 2), ("E05000931", "Far Ward", "profile", 1)}
            assert names(client, "/api/groups?area=E05000911") == WHARF
            assert names(client, "/api/groups?area=Far+Ward") == {"Far Ward Residents"}
        finally:
            app.extensions["hubnet"].close()
    finally:
        fed.close()


def test_one_areas_page_and_its_json_twin(world):
    client = world["client"]
    data = client.get("/api/areas/Marsh%20End").get_json()
    assert data["area"]["code"] == "E09000901" and data["area"]["groups"] == 3
    assert [p["name"] for p in data["parents"]] == ["Ley Valley"]
    assert [(c["name"], c["groups"]) for c in data["children"]] == [("Cattle Green", 1), ("Wharfside", 2)]
    assert {(k["value"], k["count"]) for k in data["kinds"]} == {
        ("community-group", 1), ("charity", 1), ("residents-association", 1)}
    assert {t["value"] for t in data["topics"]} == {"arts", "food", "housing"}
    assert {g["name"] for g in data["groups"]} == MARSH_END
    assert all(g["contact"]["type"] == "first point of contact" for g in data["groups"])
    assert [n["name"] for n in data["needs"]] == ["A hall for the lunch club"] and data["offers"] == []
    assert [g["name"] for g in data["isolated"]] == ["Cattle Green Tenants"]
    assert [(b["name"], [(o["name"], [a["code"] for a in o["areas"]]) for o in b["to"]]) for b in data["bridges"]] \
        == [("Wharfside Arts", [("Church Street Residents", ["E05000921"])])]
    assert client.get("/api/areas/E05000911").get_json()["children"] == []
    # The council's list for each kind: exactly that kind's groups in the borough's wards.
    for k in data["kinds"]:
        rows = list(csv.DictReader(io.StringIO(client.get(k["contacts_csv"]).get_data(as_text=True))))
        assert [r["name"] for r in rows] == [g["name"] for g in data["groups"] if k["value"] in g["kind"]]
    html = client.get("/areas/E09000901").get_data(as_text=True)
    assert "Cattle Green Tenants" in html and "contacts (CSV)" in html and "A hall for the lunch club" in html
    assert client.get("/api/areas/E09999999").status_code == 404
    assert client.get("/areas/Atlantis").status_code == 404


BRIDGES = [("E05000911", [("Wharfside Arts", "Church Street Residents")]),     # ward -> another borough's ward
           ("E09000902", [("Church Street Residents", "Wharfside Arts")]),     # and back
           ("E12000901", []),                                                  # both inside the region
           ("E05000912", []), ("E12000902", [])]


@pytest.mark.parametrize("code,expected", BRIDGES)
def test_bridges_into_neighbouring_areas(world, code, expected):
    """A mutual link from a group in the area to one outside it; a link within the area is no bridge
    (Wharfside Arts and the Lunch Club link within Wharfside)."""
    data = world["client"].get(f"/api/areas/{code}").get_json()
    assert [(b["name"], o["name"]) for b in data["bridges"] for o in b["to"]] == expected
    html = world["client"].get(f"/areas/{code}").get_data(as_text=True)
    assert all(a in html and b in html for a, b in expected)


def test_the_boundaries_for_the_map(world):
    client = world["client"]
    geo = client.get("/api/areas.geojson?level=ward").get_json()
    assert {(f["properties"]["code"], f["properties"]["groups"]) for f in geo["features"]} == {
        ("E05000921", 1), ("E05000911", 2)}
    assert client.get("/api/areas.geojson?level=region").get_json()["features"] == []
    assert len(client.get("/api/areas.geojson").get_json()["features"]) == 2


def _map_data(html: str) -> dict:
    start = html.index('<script type="application/json" id="map-data">') + len('<script type="application/json" id="map-data">')
    return json.loads(html[start:html.index("</script>", start)])


def test_the_map_draws_the_boundaries_served_here(world):
    client = world["client"]
    html = client.get("/map").get_data(as_text=True)
    data = _map_data(html)
    assert data["levels"] == ["ward"] and data["level"] == "ward"       # only wards have boundaries here
    assert data["areas_url"] == "/api/areas.geojson?level=ward"
    assert client.get(data["areas_url"]).status_code == 200
    assert 'id="tiles-note"' in html and "drawn without it" in html
    # The map's filters reach its JSON twin, which holds the same groups.
    resp = client.get("/map?area=Marsh+End")
    assert resp.headers["Link"].startswith("</export.geojson?area=Marsh+End>")
    on_map = {g["name"] for g in _map_data(resp.get_data(as_text=True))["groups"]}
    twin = client.get("/export.geojson?area=Marsh+End").get_json()
    assert on_map == {f["properties"]["name"] for f in twin["features"]} == {"Wharfside Lunch Club"}
    assert _map_data(client.get("/map?level=region").get_data(as_text=True))["level"] == "ward"  # none drawn


def test_a_map_without_boundaries_draws_none(tmp_path):
    fed = Federation()
    try:
        app = make_app(fed, tmp_path / "store", BACKGROUND=False)
        try:
            data = _map_data(app.test_client().get("/map").get_data(as_text=True))
            assert data["areas_url"] is None and data["levels"] == []
        finally:
            app.extensions["hubnet"].close()
    finally:
        fed.close()


def test_boundaries_of_every_size_find_their_groups(tmp_path):
    """A ward-sized box, a region-sized one and one as large as Europe (kept out of the grid): each
    point is in exactly the boundaries around it, whichever grid cells they span."""
    from hubnet.crawler.store.graph import load_file
    points = {"urn:g:inner": (51.555, -0.005), "urn:g:edge": (51.7001, 0.2), "urn:g:far": (40.0, 10.0),
              "urn:g:nowhere": (-33.9, 151.2)}
    ttl = "".join(f'<{g}> a <http://schema.org/Organization> ; <http://schema.org/name> "{g}" ; '
                  f'<http://schema.org/location> [ <http://schema.org/latitude> {lat} ; '
                  f'<http://schema.org/longitude> {lon} ] .\n' for g, (lat, lon) in points.items())
    (tmp_path / "groups.ttl").write_text(ttl, encoding="utf-8")
    store = Store(tmp_path / "store")
    index = open_index(store)
    try:
        load_file(store, tmp_path / "groups.ttl", "https://council.example.gov.uk/groups")
        index.sync(store)
        shapes = {"E05000001": square(-0.01, 51.55, 0.0, 51.56), "E12000001": square(-0.5, 51.3, 0.3, 51.7),
                  "E92000001": square(-10.0, 35.0, 30.0, 60.0)}
        index.areas.load(AreaSet.parse(None, json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": c}, "geometry": {"type": "Polygon", "coordinates": p}}
            for c, p in shapes.items()]})))
        found = {g: {m["code"] for m in index.areas.of_group(g) if m["via"] == "boundary"} for g in points}
        assert found == {"urn:g:inner": {"E05000001", "E12000001", "E92000001"},
                         "urn:g:edge": {"E92000001"}, "urn:g:far": {"E92000001"}, "urn:g:nowhere": set()}
    finally:
        index.close()
        store.close()


def test_indexing_one_group_reads_only_its_own_rows(tmp_path):
    """The name-match for one group looks its facets up by gid (not a scan of every group's areas,
    which made a 100k-group sync quadratic): the query plan says so."""
    from hubnet.crawler.store.areas import name_members_sql
    store = Store(tmp_path / "s")
    index = open_index(store)
    try:
        plan = " | ".join(r[3] for r in index._conn().execute("EXPLAIN QUERY PLAN " + name_members_sql(True), (1,)))
        assert "facets_gid" in plan and "facets_value" not in plan, plan
        assert "SCAN f" not in plan and "SCAN a " not in plan + " ", plan
    finally:
        index.close()
        store.close()


def test_the_contacts_page_asks_for_a_kind(world):
    html = world["client"].get("/contacts?kind=residents-association&area=Ley+Valley").get_data(as_text=True)
    assert '<option value="residents-association" selected>' in html
    assert "Cattle Green Tenants" in html and "Church Street Residents" in html and "Wharfside Arts" not in html
    assert "kind=residents-association&amp;area=Ley+Valley" in html     # the CSV link keeps both


def test_the_map_filters_by_kind_topic_and_area(world):
    client = world["client"]
    html = client.get("/map?kind=residents-association&area=Ley+Valley").get_data(as_text=True)
    assert {g["name"] for g in _map_data(html)["groups"]} == {"Church Street Residents"}   # the one with coordinates
    assert '<option value="residents-association" selected>' in html and 'value="Ley Valley"' in html
    assert {g["name"] for g in _map_data(client.get("/map?topic=food").get_data(as_text=True))["groups"]} == \
        {"Wharfside Lunch Club"}
    assert client.get("/map?near=91,0").status_code == 400


def test_a_restart_does_not_parse_the_areas_again(world, tmp_path, monkeypatch):
    """Boundaries can be megabytes: a start-up with the files the index already holds reads them, compares
    their digest and stops there; a changed file is parsed and loaded."""
    import shutil
    from hubnet.crawler.store import areas as areas_module
    copy = tmp_path / "store"
    shutil.copytree(world["store"], copy)
    calls = []
    real = areas_module.AreaSet.parse.__func__
    monkeypatch.setattr(areas_module.AreaSet, "parse", classmethod(lambda cls, *a, **k: calls.append(1) or
                                                                   real(cls, *a, **k)))
    for config in ({}, {"AREAS_FILE": str(world["tmp"] / "areas.csv")}):
        app = make_app(world["fed"], copy, BACKGROUND=False, **config)
        try:
            assert names(app.test_client(), "/api/groups?area=Ley+Valley") == LEY_VALLEY
        finally:
            app.extensions["hubnet"].close()
    assert calls == []
    smaller = tmp_path / "areas.csv"
    smaller.write_text("code,name,level,parent\nE09000901,Marsh End,borough,\nE05000911,Wharfside,ward,E09000901\n",
                       encoding="utf-8")
    app = make_app(world["fed"], copy, BACKGROUND=False, AREAS_FILE=str(smaller))
    try:
        assert calls == [1]
        client = app.test_client()
        assert names(client, "/api/groups?area=Marsh+End") == WHARF              # Cattle Green is no more
        assert names(client, "/api/groups?area=Ley+Valley") == set()
        assert names(client, "/api/groups?area=E05000921") == {"Church Street Residents"}   # boundaries kept
    finally:
        app.extensions["hubnet"].close()
