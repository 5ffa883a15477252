"""Brokering endpoints and pages over the hand-built federation with known answers (brokering_fixture.py)."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import pytest

import brokering_fixture
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.crawler.web import create_app
from hubnet.testing import Federation


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    fed = Federation()
    iris = brokering_fixture.build(fed)
    path = tmp_path_factory.mktemp("brokering-api") / "store"
    store = Store(path)
    brokering_fixture.crawl_into(fed, store)
    store.close()
    app = create_app({"STORE": str(path), "BACKGROUND": False, "QUERY_WORKERS": 1, "TESTING": True,
                      "CRAWL_SETTINGS": fed.settings(*brokering_fixture.HOSTS, retries=Settings().retries)})
    yield app.test_client(), iris, app
    app.extensions["hubnet"].close()
    fed.close()


def key_of(client, iri):
    return client.get("/api/groups/" + quote(iri, safe="")).get_json()["key"]


def test_matches_api(env):
    client, i, _ = env
    data = client.get("/api/matches").get_json()
    by_need = {m["need"]["name"]: m["offers"] for m in data["matches"]}
    assert [o["name"] for o in by_need["Room on Tuesdays"]] == ["Church hall"]
    assert by_need["Room on Tuesdays"][0]["reason"] == "meeting space, 1.1 km away, offered until 2099-06-30"
    assert [o["name"] for o in by_need["Volunteers for Saturday"]] == ["Saturday volunteers"]
    # by key or by IRI, the same group
    for ref in (i["B"], key_of(client, i["B"])):
        only_b = client.get("/api/matches", query_string={"group": ref}).get_json()
        assert [m["need"]["name"] for m in only_b["matches"]] == ["Room on Tuesdays"]
    wide = client.get("/api/matches?within_km=40").get_json()
    assert [o["name"] for m in wide["matches"] if m["need"]["name"] == "Room on Tuesdays" for o in m["offers"]] \
        == ["Church hall", "Distant hall"]


def test_matches_api_pages_counts_and_filters(env):
    client, i, _ = env
    wide = client.get("/api/matches?within_km=40").get_json()
    assert wide["total"] == 2 and wide["offset"] == 0
    room = next(m for m in wide["matches"] if m["need"]["name"] == "Room on Tuesdays")
    assert room["offer_count"] == 2
    one = client.get("/api/matches?within_km=40&per_need=1").get_json()
    room = next(m for m in one["matches"] if m["need"]["name"] == "Room on Tuesdays")
    assert [o["name"] for o in room["offers"]] == ["Church hall"] and room["offer_count"] == 2  # nearest kept
    pages = [client.get(f"/api/matches?limit=1&offset={k}").get_json() for k in (0, 1, 2)]
    assert [len(p["matches"]) for p in pages] == [1, 1, 0] and all(p["total"] == 2 for p in pages)
    assert pages[0]["matches"] + pages[1]["matches"] == client.get("/api/matches").get_json()["matches"]
    vols = client.get("/api/matches?category=volunteers").get_json()
    assert [m["need"]["name"] for m in vols["matches"]] == ["Volunteers for Saturday"] and vols["total"] == 1


@pytest.mark.parametrize("query, parameter", [
    ("category=rooms", "category"), ("within_km=500", "within_km"), ("within_km=-1", "within_km"),
    ("per_need=0", "per_need"), ("per_need=51", "per_need"), ("limit=501", "limit"), ("offset=x", "offset"),
])
def test_matches_api_refuses_bad_parameters_by_name(env, query, parameter):
    client, _, _ = env
    r = client.get("/api/matches?" + query)
    assert r.status_code == 400
    assert r.get_json()["error"]["message"].startswith(parameter + ":")


def test_matches_page_links_to_the_next_page(env):
    client, _, _ = env
    page = client.get("/matches?limit=1").get_data(as_text=True)
    assert 'href="/matches?limit=1&amp;offset=1"' in page and 'rel="prev"' not in page
    last = client.get("/matches?limit=1&offset=1").get_data(as_text=True)
    assert 'href="/matches?limit=1&amp;offset=0"' in last and 'rel="next"' not in last


def test_matches_page_lists_reasons_and_not_expired_offers(env):
    client, _, _ = env
    page = client.get("/matches").get_data(as_text=True)
    assert "Church hall" in page and "1.1 km away" in page
    assert "Old room" not in page  # expired: never shown as current


def test_matches_page_filters_by_category_and_distance_and_keeps_what_was_chosen(env):
    client, _, _ = env
    page = client.get("/matches").get_data(as_text=True)
    assert 'name="category"' in page and 'name="area"' in page and 'name="within_km"' in page
    assert '<option value="volunteers">' in page          # every category is offered
    vols = client.get("/matches?category=volunteers").get_data(as_text=True)
    assert "Volunteers for Saturday" in vols and "Room on Tuesdays" not in vols
    assert '<option value="volunteers" selected>' in vols   # the form shows what was chosen
    wide = client.get("/matches?within_km=40").get_data(as_text=True)
    assert "Distant hall" in wide and 'name="within_km" value="40"' in wide
    assert "Distant hall" not in page                       # 5 km by default
    assert 'name="kind"' in page and 'name="topic"' in page


def test_matches_filter_by_the_needing_groups_kind_topic_and_area(env):
    client, _, _ = env
    food = client.get("/api/matches", query_string={"topic": "food poverty"}).get_json()
    assert [m["need"]["name"] for m in food["matches"]] == ["Volunteers for Saturday"] and food["topic"] == "food poverty"
    assert client.get("/api/matches?topic=gardening").get_json()["total"] == 0
    assert client.get("/api/matches?kind=faith-group").get_json()["total"] == 0   # no group in need is one
    page = client.get("/matches", query_string={"topic": "food poverty"}).get_data(as_text=True)
    assert "Volunteers for Saturday" in page and "Room on Tuesdays" not in page
    assert 'name="topic" value="food poverty"' in page
    assert client.get("/api/matches", query_string={"kind": "x" * 300}).status_code == 400


def test_links_api_marks_mutual_and_claimed(env):
    client, i, _ = env
    links = client.get("/api/links").get_json()["links"]
    pair = {tuple(sorted((l["a"], l["b"]))): l for l in links}
    assert pair[tuple(sorted((i["A"], i["B"])))]["mutual"] is True
    assert pair[tuple(sorted((i["U"], i["B"])))]["mutual"] is False
    assert pair[tuple(sorted((i["U"], i["B"])))]["claimed_by"] == i["U"]
    claimed = client.get("/api/links?mutual=false").get_json()
    assert all(not l["mutual"] for l in claimed["links"]) and claimed["total"] == 3   # U-B, U-C, E-G
    mutual = client.get("/api/links?mutual=true").get_json()
    assert all(l["mutual"] for l in mutual["links"]) and mutual["total"] == len(links) - 3


def test_links_api_pages(env):
    client, _, _ = env
    every = client.get("/api/links").get_json()
    first = client.get("/api/links?limit=2").get_json()
    rest = client.get("/api/links?limit=2&offset=2").get_json()
    assert first["total"] == every["total"] == len(every["links"]) and first["limit"] == 2
    assert first["links"] + rest["links"] == every["links"][:4]
    for bad in ("limit=0", "limit=10001", "offset=-1", "mutual=yes"):
        r = client.get("/api/links?" + bad)
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_parameter", bad


def test_group_page_and_network_agree_on_mutuality(env):
    """The group page (per-group SPARQL) and the brokering model (whole network) use one definition."""
    client, i, app = env
    net = app.extensions["hubnet.brokering"].network
    for name in "UABDE":
        api = client.get("/api/groups/" + quote(i[name], safe="")).get_json()
        page_view = {(l["group"], l["relation"]): l["mutual"] for l in api["links"] if l.get("group")}
        model_view = {(l["target"], l["relation"]): l["mutual"] for l in net.links_of(i[name])}
        assert page_view == model_view, name


def test_introductions(env):
    client, i, _ = env
    data = client.get("/api/introductions", query_string={"from": i["A"], "to": i["E"]}).get_json()
    assert data["hops"] == 3
    assert [[g["id"] for g in p] for p in data["paths"]] == [[i["A"], i["B"], i["D"], i["E"]]]
    none = client.get("/api/introductions", query_string={"from": i["A"], "to": i["F"]}).get_json()
    assert none["paths"] == [] and none["hops"] is None
    page = client.get("/introductions", query_string={"from": i["A"], "to": i["E"]}).get_data(as_text=True)
    assert "Alpha Residents" in page and "Delta Youth" in page and "Epsilon Volunteers" in page


def test_introductions_errors_use_the_json_error_shape(env):
    client, i, _ = env
    r = client.get("/api/introductions", query_string={"from": i["A"]})
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "bad_parameter" and r.get_json()["error"]["message"].startswith("to:")
    r = client.get("/api/introductions", query_string={"from": i["A"], "to": "https://nowhere.test/#g"})
    assert r.status_code == 404 and r.get_json()["ok"] is False


def test_network_views(env):
    client, i, _ = env
    ego = client.get("/api/network", query_string={"group": i["D"], "depth": 1}).get_json()
    assert {n["id"] for n in ego["nodes"]} == {i["D"], i["B"], i["E"]}
    assert client.get("/api/network", query_string={"group": i["D"], "depth": 9}).status_code == 400
    bridges = {b["id"] for b in client.get("/api/network/bridges").get_json()["bridges"]}
    assert bridges == {i["A"], i["B"], i["D"]}
    isolated = {g["id"]: g for g in client.get("/api/network/isolated").get_json()["isolated"]}
    assert set(isolated) == {i["C"], i["F"], i["G"]} and isolated[i["F"]]["name"] == "Foxtrot Allotments"
    assert isolated[i["F"]]["claims"] == []
    assert isolated[i["G"]]["claims"] == [{"claimed_by": i["E"], "about": i["G"], "relations": ["linkedTo"]}]
    page = client.get("/network", query_string={"group": i["D"], "depth": 1}).get_data(as_text=True)
    assert "<svg" in page and "Delta Youth" in page and 'class="mutual"' in page  # D's vouches are confirmed
    overview = client.get("/network").get_data(as_text=True)
    assert "Foxtrot Allotments" in overview and "Umbrella Network" in overview


def test_contacts_api_and_csv(env):
    client, i, _ = env
    data = client.get("/api/contacts?topic=food").get_json()
    assert [g["id"] for g in data["groups"]] == [i["G"]]
    contact = data["groups"][0]["contact"]
    assert contact["email"] == "coordinator@g.test" and contact["telephone"] == "020 7946 0999"
    assert contact["type"] == "first point of contact"
    near = client.get("/api/contacts?topic=community&near=51.56,-0.01&within_km=1").get_json()
    assert [g["name"] for g in near["groups"]][0] == "Alpha Residents"
    assert all(g["distance_km"] <= 1 for g in near["groups"])
    rows = list(csv.reader(io.StringIO(client.get("/api/contacts.csv?topic=food").get_data(as_text=True))))
    assert rows[0][:3] == ["name", "contact_name", "email"] and rows[1][0] == "Golf Food Bank"
    assert rows[1][2] == "coordinator@g.test"
    assert client.get("/api/contacts?near=91,0").status_code == 400


def test_models_are_rebuilt_when_the_data_changes(env):
    client, i, app = env
    models = app.extensions["hubnet.brokering"]
    first = models.network
    assert models.network is first  # cached while nothing changed
    app.extensions["hubnet"].index._set_meta(app.extensions["hubnet"].index._conn(), "generation",
                                             app.extensions["hubnet"].index.meta("generation", 0) + 1)
    app.extensions["hubnet"].index._conn().commit()
    assert models.network is not first


def test_a_crawl_that_changed_something_leaves_the_models_built(env):
    """The first visitor after a change should not wait for the network and matcher builds."""
    client, i, app = env
    hub, models = app.extensions["hubnet"], app.extensions["hubnet.brokering"]
    hub.index._set_meta(hub.index._conn(), "generation", hub.index.meta("generation", 0) + 1)
    hub.index._conn().commit()
    gen = hub.index.meta("generation", 0)
    hub.after_crawl("2026-12-01T00:00:00Z")
    assert hub.wait_refreshed()
    assert {name: cached[0] for name, cached in models._cache.items()} == {"network": gen, "matcher": gen}
    assert models.matcher._all_cache    # the full match list too
    before = dict(models._cache)
    hub.after_crawl("2026-12-01T00:00:01Z")   # nothing changed: nothing rebuilt
    assert hub.wait_refreshed()
    assert all(models._cache[k][1] is before[k][1] for k in before)
