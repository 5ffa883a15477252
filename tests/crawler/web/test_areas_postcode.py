"""Memberships from the ward of a group's postcode (``via: "postcode"``) and who may name an area
(issue 15): through the CLI crawl (``--geocoder`` a fake postcodes.io on loopback) and the HTTP API.

Known answers (tests/fake_geocoder.py): E10 5AA is in Leyton ward (E05013898), Waltham Forest
(E09000031), London (E12000007); SW1A 1AA in St James's (E05013806), Westminster (E09000033), London.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.crawl.geocode import GEO_GRAPH
from hubnet.crawler.store.areas import MAX_NAME
from hubnet.testing import Federation
from server_helpers import make_app, place

from fake_geocoder import E10_5AA, FakeGeocoder

CONTEXT = "https://w3id.org/hubnet/context.jsonld"
LEYTON, WALTHAM_FOREST, LONDON, ST_JAMES = "E05013898", "E09000031", "E12000007", "E05013806"


def garbage(**changes) -> dict:
    """E10 5AA's answer with its areas spoiled (the position stays good)."""
    answer = json.loads(json.dumps(E10_5AA))
    for key, value in changes.items():
        if key.startswith("codes_"):
            answer["codes"][key[6:]] = value
        else:
            answer[key] = value
    return answer


# A lookup gone wrong or hostile: postcode -> (answer, the ward kept or None). Each keeps its position.
HOSTILE = {
    "E1 1AA": (garbage(codes_admin_ward="not a code"), None),
    "E1 2AA": (garbage(admin_ward="x" * (MAX_NAME + 1)), None),
    "E1 3AA": (garbage(admin_ward="\x00\x01 \t"), None),
    "E1 4AA": (garbage(codes=["E05013898"]), None),
    "E1 5AA": (garbage(admin_ward=["Leyton"]), None),
    "E1 6AA": (garbage(codes_admin_ward=WALTHAM_FOREST), None),        # the ward is its own district
    "E1 7AA": (garbage(codes_admin_ward="E05000001", admin_ward="Evil\nWard\x07"), "E05000001"),
}


def group(fed, host, *, postcode=None, geo=None, area=None) -> dict:
    doc = {"@context": CONTEXT, "@id": fed.group_iri(host), "@type": "Organization", "name": f"{host} group",
           "url": fed.url(host)}
    if postcode or geo:
        doc["location"] = place(*geo, locality="Elsewhere") if geo else {"@type": "Place", "address": {
            "@type": "PostalAddress"}}
        if postcode:
            doc["location"]["address"]["postalCode"] = postcode
    if area:
        doc["areaServed"] = area
    return doc


def crawl(fed, store, geocoder, hosts, *extra):
    args = ["crawl", *[fed.url(h) for h in hosts], "--store", str(store), "--allow-private", "--delay", "0",
            "--geocoder", geocoder, *extra,
            *sum((["--resolve", f"{h}:{fed.port}:127.0.0.1"] for h in hosts), [])]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("postcode-areas")
    fed = Federation()
    hosts = {"only-postcode.test": dict(postcode="e10 5aa"),
             "own-place.test": dict(postcode="SW1A 1AA", geo=(51.6, -0.02)),
             "no-postcode.test": dict(geo=(51.5, -0.1)),
             **{f"hostile{n}.test": dict(postcode=pc) for n, pc in enumerate(HOSTILE)}}
    for host, fields in hosts.items():
        fed.put(host, "/", group(fed, host, **fields))
    with FakeGeocoder() as geo:
        geo.known.update({pc: answer for pc, (answer, _) in HOSTILE.items()})
        crawl(fed, tmp / "store", geo.url, list(hosts))
    app = make_app(fed, tmp / "store", BACKGROUND=False)
    app.extensions["hubnet"].wait_refreshed()
    yield {"fed": fed, "client": app.test_client(), "hosts": hosts, "app": app}
    app.extensions["hubnet"].close()
    fed.close()


def ids(client, path) -> set:
    resp = client.get(path)
    assert resp.status_code == 200, resp.data
    return {g["id"] for g in resp.get_json()["groups"]}


def memberships(client, fed, host) -> set:
    data = client.get(f"/api/groups/{fed.group_iri(host).replace('#', '%23')}").get_json()
    return {(m["code"], m["via"]) for m in data["memberships"]}


@pytest.mark.parametrize("area", [LEYTON, "leyton", WALTHAM_FOREST, "Waltham Forest", LONDON, "london"])
def test_a_group_that_gave_only_a_postcode_is_found_at_every_level(world, area):
    fed, client = world["fed"], world["client"]
    found = ids(client, f"/api/groups?limit=100&area={area}")
    assert fed.group_iri("only-postcode.test") in found
    assert fed.group_iri("no-postcode.test") not in found


def test_the_ward_page_lists_it_with_via_postcode(world):
    fed, client = world["fed"], world["client"]
    ward = client.get(f"/api/areas/{LEYTON}").get_json()
    assert ward["area"]["name"] == "Leyton" and ward["area"]["named_by"] == "geocoder"
    assert ward["area"]["level"] == "ward" and [p["code"] for p in ward["parents"]] == [LONDON, WALTHAM_FOREST]
    listed = {g["id"]: g["via"] for g in ward["groups"]}
    assert listed[fed.group_iri("only-postcode.test")] == ["postcode"]
    assert memberships(client, fed, "only-postcode.test") == {(LEYTON, "postcode")}
    tree = {a["code"]: a for a in client.get("/api/areas").get_json()["areas"]}
    assert tree[LONDON]["name"] == "London" and tree[LONDON]["level"] == "region"
    assert tree[WALTHAM_FOREST]["parent"] == LONDON and tree[LEYTON]["parent"] == WALTHAM_FOREST


def test_a_group_with_its_own_position_keeps_it_and_is_in_its_postcodes_ward(world):
    fed, client = world["fed"], world["client"]
    assert memberships(client, fed, "own-place.test") == {(ST_JAMES, "postcode")}
    row = client.get(f"/api/groups/{fed.group_iri('own-place.test').replace('#', '%23')}").get_json()
    assert (row["lat"], row["lon"]) == (51.6, -0.02)
    assert memberships(client, fed, "no-postcode.test") == set()


@pytest.mark.parametrize("postcode", list(HOSTILE))
def test_a_hostile_lookups_areas_are_left_out_and_the_position_kept(world, postcode):
    fed, client = world["fed"], world["client"]
    host = f"hostile{list(HOSTILE).index(postcode)}.test"
    kept = HOSTILE[postcode][1]
    assert memberships(client, fed, host) == ({(kept, "postcode")} if kept else set())
    row = client.get(f"/api/groups/{fed.group_iri(host).replace('#', '%23')}").get_json()
    assert row["lat"] == E10_5AA["latitude"]                       # still on the map
    areas = client.get("/api/areas").get_json()["areas"]
    assert all(len(a["name"]) <= MAX_NAME and a["name"].isprintable() for a in areas)
    assert {a["code"] for a in areas} == {LEYTON, WALTHAM_FOREST, LONDON, ST_JAMES, "E09000033", "E05000001"}
    if kept:   # a name with control characters is kept as one clean line
        assert {a["code"]: a["name"] for a in areas}[kept] == "Evil Ward"


def test_with_the_geocoder_off_there_is_no_postcode_membership_and_no_error(tmp_path):
    fed = Federation()
    try:
        fed.put("only-postcode.test", "/", group(fed, "only-postcode.test", postcode="E10 5AA"))
        crawl(fed, tmp_path / "store", "off", ["only-postcode.test"])
        app = make_app(fed, tmp_path / "store", BACKGROUND=False)
        try:
            client = app.test_client()
            assert memberships(client, fed, "only-postcode.test") == set()
            assert client.get("/api/areas").get_json()["areas"] == []
            assert ids(client, f"/api/groups?area={LONDON}") == set()
        finally:
            app.extensions["hubnet"].close()
    finally:
        fed.close()


def test_a_changed_postcode_moves_the_membership(tmp_path):
    fed = Federation()
    try:
        with FakeGeocoder() as geo:
            fed.put("mover.test", "/", group(fed, "mover.test", postcode="E10 5AA"))
            crawl(fed, tmp_path / "store", geo.url, ["mover.test"])
            fed.put("mover.test", "/", group(fed, "mover.test", postcode="SW1A 1AA"))
            crawl(fed, tmp_path / "store", geo.url, ["mover.test"])
        app = make_app(fed, tmp_path / "store", BACKGROUND=False)
        try:
            assert memberships(app.test_client(), fed, "mover.test") == {(ST_JAMES, "postcode")}
        finally:
            app.extensions["hubnet"].close()
    finally:
        fed.close()


def test_a_rebuilt_index_gets_the_postcode_memberships_back_at_start(tmp_path):
    """The index is derived data: deleted, the server's start rebuilds it with the postcode's ward."""
    fed = Federation()
    try:
        with FakeGeocoder() as geo:
            fed.put("only-postcode.test", "/", group(fed, "only-postcode.test", postcode="E10 5AA"))
            crawl(fed, tmp_path / "store", geo.url, ["only-postcode.test"])
        removed = [p for p in (tmp_path / "store").glob("index.sqlite*")]
        assert removed
        for p in removed:
            p.unlink()
        app = make_app(fed, tmp_path / "store", BACKGROUND=False)
        try:
            assert memberships(app.test_client(), fed, "only-postcode.test") == {(LEYTON, "postcode")}
        finally:
            app.extensions["hubnet"].close()
    finally:
        fed.close()


def test_an_answers_areas_left_out_are_logged_naming_the_level(caplog):
    from hubnet.crawler.crawl.geocode import _position

    with caplog.at_level("INFO", logger="hubnet.crawler.crawl.geocode"):
        found = _position("E1 1AA", HOSTILE["E1 1AA"][0])
    assert found.lat == E10_5AA["latitude"] and (found.ward, found.district, found.region) == (None, None, None)
    assert "E1 1AA: its ward and the areas above it are left out" in caplog.text


# ------------------------------------------------------------------ who names an area
EVIL = {"@type": "AdministrativeArea", "name": "Evil Town", "identifier": LEYTON}
VICTIM_CODE = {"@type": "AdministrativeArea", "name": "Leyton", "identifier": LEYTON}
AREAS_CSV = f"code,name,level,parent\n{LEYTON},Leyton,ward,\n"
# Where the real name comes from: (victim's profile, extra crawl options, expected named_by, expected name).
SOURCES = {
    "operator": (dict(area=VICTIM_CODE), "areas", "operator", "Leyton"),
    "geocoder": (dict(postcode="E10 5AA"), None, "geocoder", "Leyton"),
    "profiles only": (dict(area=VICTIM_CODE), None, "profiles", None),
}


@pytest.mark.parametrize("evil_first", [True, False], ids=["evil first", "victim first"])
@pytest.mark.parametrize("source", list(SOURCES))
def test_a_hostile_profile_cannot_rename_an_area(tmp_path, source, evil_first):
    victim, option, named_by, name = SOURCES[source]
    fed = Federation()
    try:
        fed.put("evil.test", "/", group(fed, "evil.test", area=EVIL))
        fed.put("victim.test", "/", group(fed, "victim.test", **victim))
        extra = []
        if option == "areas":
            (tmp_path / "areas.csv").write_text(AREAS_CSV, encoding="utf-8")
            extra = ["--areas", str(tmp_path / "areas.csv")]
        with FakeGeocoder() as geo:
            for host in (["evil.test", "victim.test"] if evil_first else ["victim.test", "evil.test"]):
                crawl(fed, tmp_path / "store", geo.url, [host], *extra)
        app = make_app(fed, tmp_path / "store", BACKGROUND=False)
        try:
            client = app.test_client()
            area = client.get(f"/api/areas/{LEYTON}").get_json()["area"]
            assert area["named_by"] == named_by
            page = client.get(f"/areas/{LEYTON}").get_data(as_text=True)
            if name is not None:   # a trusted source named it: the evil name is nowhere
                assert area["name"] == name and "Evil Town" not in page
                assert fed.group_iri("victim.test") not in ids(client, "/api/groups?area=Evil+Town")
                assert fed.group_iri("victim.test") in ids(client, "/api/groups?area=Leyton")
            else:                  # only profiles named it: shown as their name, after the code
                assert f"<h1>{LEYTON} (named “" in page and "” by groups)</h1>" in page
        finally:
            app.extensions["hubnet"].close()
    finally:
        fed.close()


def test_a_profile_cannot_take_a_known_name_away(tmp_path):
    """A hostile profile giving another code the geocoder's name "Leyton" does not make the name
    ambiguous: ``area=Leyton`` is still the geocoder's ward, and a group that names "Leyton" (no
    code) still belongs to it."""
    fed = Federation()
    try:
        fed.put("victim.test", "/", group(fed, "victim.test", postcode="E10 5AA"))
        fed.put("namer.test", "/", group(fed, "namer.test", area="Leyton"))
        fed.put("evil.test", "/", group(fed, "evil.test", area={"@type": "AdministrativeArea", "name": "Leyton",
                                                                "identifier": "E05999999"}))
        with FakeGeocoder() as geo:
            crawl(fed, tmp_path / "store", geo.url, ["victim.test", "namer.test", "evil.test"])
        app = make_app(fed, tmp_path / "store", BACKGROUND=False)
        try:
            client = app.test_client()
            assert client.get("/api/areas/Leyton").get_json()["area"]["code"] == LEYTON
            found = ids(client, "/api/groups?area=leyton")
            assert {fed.group_iri("victim.test"), fed.group_iri("namer.test")} <= found
            assert memberships(client, fed, "namer.test") == {(LEYTON, "profile_name")}
        finally:
            app.extensions["hubnet"].close()
    finally:
        fed.close()
