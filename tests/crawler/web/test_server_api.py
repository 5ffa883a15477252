"""The JSON API over a really crawled loopback network: shapes, search, facets, links, errors.

The network (tests/server_helpers.py): network.test lists alpha, beta and youth
as members; alpha memberOf network (mutual), linkedTo beta (beta links back:
mutual), vouchesFor food (claimed); food and xss say memberOf network (claimed:
network does not list them); youth has no coordinates; broken.test fails.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from server_helpers import CRAWLED_GROUPS, XSS_NAME

LIST_FIELDS = {"id", "key", "name", "url", "kind", "topics", "area", "lat", "lon", "source"}
ALPHA, BETA, NETWORK = "Marsh Gate Residents' Association", "Friends of Marsh Park", "Leyton Community Network"
FOOD, YOUTH = "Cann Hall Foodbank", "Leyton Youth Club"


def get(network, url):
    resp = network.client.get(url)
    assert resp.content_type.startswith("application/json"), (url, resp.content_type)
    return resp.status_code, resp.get_json()


def assert_error(body, status, code=None):
    assert body["ok"] is False
    assert set(body["error"]) == {"status", "code", "message"}
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code


def facet(body, name) -> dict:
    return {f["value"]: f["count"] for f in body["facets"][name]}


# ---------------------------------------------------------------------- /api/groups
def test_list_shape_and_every_crawled_group(network):
    status, body = get(network, "/api/groups")
    assert status == 200
    assert body["total"] == CRAWLED_GROUPS
    assert body["offset"] == 0 and body["next"] is None
    assert {g["name"] for g in body["groups"]} == {ALPHA, BETA, NETWORK, FOOD, YOUTH, XSS_NAME}
    for g in body["groups"]:
        assert LIST_FIELDS <= set(g)
        assert isinstance(g["kind"], list) and isinstance(g["topics"], list) and isinstance(g["area"], list)
    alpha = next(g for g in body["groups"] if g["name"] == ALPHA)
    assert alpha["id"] == network.fed.group_iri("alpha.test")
    assert alpha["source"] == network.fed.url("alpha.test")
    assert alpha["kind"] == ["residents-association"]
    assert alpha["area"] == ["Leyton ward"]
    assert (alpha["lat"], alpha["lon"]) == (51.5631, -0.0105)
    assert alpha["key"].startswith("alpha.test-")


def test_facet_counts_over_everything(network):
    _, body = get(network, "/api/groups")
    assert facet(body, "topic")["green spaces"] == 2          # alpha, beta
    assert facet(body, "topic")["community lunch"] == 2       # alpha, food
    assert facet(body, "area") == {"Leyton ward": 3, "Cann Hall ward": 2, XSS_AREA_VALUE: 1}
    kinds = {f["value"]: f for f in body["facets"]["kind"]}
    assert kinds["charity"]["count"] == 1 and kinds["charity"]["label"] == "Charity"
    assert kinds["environmental-group"]["count"] == 1


XSS_AREA_VALUE = "</script><script>alert(3)</script>"


def test_facets_count_only_the_filtered_groups(network):
    status, body = get(network, "/api/groups?topic=green%20spaces")
    assert status == 200 and body["total"] == 2
    assert {g["name"] for g in body["groups"]} == {ALPHA, BETA}
    assert facet(body, "area") == {"Leyton ward": 2}
    assert facet(body, "topic")["tree planting"] == 1
    # Facet values are exactly the parameter values: following one narrows further.
    _, narrower = get(network, "/api/groups?topic=green%20spaces&kind=friends-group")
    assert [g["name"] for g in narrower["groups"]] == [BETA]


def test_topic_and_area_match_regardless_of_case(network):
    assert get(network, "/api/groups?topic=GREEN%20SPACES")[1]["total"] == 2
    assert get(network, "/api/groups?area=cann%20hall%20ward")[1]["total"] == 2


@pytest.mark.parametrize("q, names", [
    ("marsh", {ALPHA, BETA}),
    ("mars", {ALPHA, BETA}),                      # prefix
    ("marsh gate", {ALPHA}),                      # every word must match
    ("pantry", {FOOD}),                           # description
    ("tree planting", {BETA}),                    # topics
    ("cann hall", {FOOD, YOUTH}),                 # names and areas
])
def test_word_search(network, q, names):
    status, body = get(network, f"/api/groups?q={quote(q)}")
    assert status == 200
    assert {g["name"] for g in body["groups"]} == names
    assert body["total"] == len(names)


@pytest.mark.parametrize("q", ['"', "marsh*", "NEAR(marsh gate)", "name:marsh", "a OR b -c", "^marsh", "((", "'; DROP"])
def test_search_input_never_reaches_fts_syntax(network, q):
    status, body = get(network, f"/api/groups?q={quote(q)}")
    assert status == 200, body
    assert isinstance(body["total"], int)


def test_search_with_no_words_lists_everything(network):
    assert get(network, "/api/groups?q=%20%2A%20")[1]["total"] == CRAWLED_GROUPS


def test_near_filters_by_distance_and_orders_by_it(network):
    status, body = get(network, "/api/groups?near=51.5631,-0.0105&within_km=0.5")
    assert status == 200
    assert [g["name"] for g in body["groups"]] == [ALPHA, BETA, NETWORK]
    distances = [g["distance_km"] for g in body["groups"]]
    assert distances == sorted(distances) and distances[0] == 0
    assert 0.2 < distances[1] < 0.3
    # Without a radius: every group with coordinates, nearest first; youth has none.
    _, everyone = get(network, "/api/groups?near=51.5631,-0.0105")
    assert everyone["total"] == CRAWLED_GROUPS - 1
    assert YOUTH not in {g["name"] for g in everyone["groups"]}


def test_paging(network):
    _, first = get(network, "/api/groups?limit=4")
    assert len(first["groups"]) == 4 and first["total"] == CRAWLED_GROUPS
    assert first["next"] == "/api/groups?limit=4&offset=4"
    _, second = get(network, first["next"])
    assert len(second["groups"]) == 2 and second["next"] is None
    assert not {g["key"] for g in first["groups"]} & {g["key"] for g in second["groups"]}


@pytest.mark.parametrize("query, param", [
    ("near=abc", "near"), ("near=91,0", "near"), ("near=1,2,3", "near"), ("near=nan,0", "near"),
    ("within_km=5", "within_km"), ("near=51,0&within_km=-1", "within_km"),
    ("limit=0", "limit"), ("limit=abc", "limit"), ("limit=100000", "limit"), ("offset=-1", "offset"),
    ("q=" + "x" * 201, "q"),
])
def test_bad_parameters_are_400_naming_the_parameter(network, query, param):
    status, body = get(network, f"/api/groups?{query}")
    assert status == 400
    assert_error(body, 400, "bad_parameter")
    assert body["error"]["message"].startswith(f"{param}:")


# ---------------------------------------------------------------------- /api/groups/<key>
def test_group_detail_shape(network):
    alpha = network.group(ALPHA)
    for k in ("id", "key", "name", "description", "url", "kind", "topics", "area", "lat", "lon",
              "offers", "needs", "links", "linked_from", "source", "contacts"):
        assert k in alpha
    assert alpha["contacts"][0]["type"] == "first point of contact"
    assert alpha["contacts"][0]["email"] == "secretary@alpha.test"
    assert alpha["location"]["lat"] == 51.5631


def test_links_are_mutual_or_claimed(network):
    links = {(l["relation"], l["target"]): l["mutual"] for l in network.group(ALPHA)["links"]}
    g = network.fed.group_iri
    assert links == {("memberOf", g("network.test")): True,     # network lists alpha as a member
                     ("linkedTo", g("beta.test")): True,        # beta links back
                     ("vouchesFor", g("food.test")): False}     # food says nothing about alpha
    for l in network.group(ALPHA)["links"]:
        assert set(l) >= {"target", "relation", "mutual"}
    umbrella = {l["target"]: l["mutual"] for l in network.group(NETWORK)["links"]}
    assert umbrella == {g("alpha.test"): True, g("beta.test"): True, g("youth.test"): False}


def test_linked_from_names_the_groups_that_state_a_link(network):
    g = network.fed.group_iri
    incoming = {(l["source"], l["relation"]): l["mutual"] for l in network.group(NETWORK)["linked_from"]}
    assert incoming == {(g("alpha.test"), "memberOf"): True, (g("beta.test"), "memberOf"): True,
                        (g("food.test"), "memberOf"): False, (g("xss.test"), "memberOf"): False}
    food_from = network.group(FOOD)["linked_from"]
    assert [(l["source"], l["relation"], l["mutual"]) for l in food_from] == [(g("alpha.test"), "vouchesFor", False)]
    assert network.group(YOUTH)["linked_from"][0]["key"] == network.key(NETWORK)


def test_expired_offers_are_never_current(network):
    offers = {o["name"]: o for o in network.group(ALPHA)["offers"]}
    assert offers["Community room for hire"]["current"] is True
    assert offers["Community room for hire"]["expired"] is False
    assert offers["Christmas hall hire"]["expired"] is True
    assert offers["Christmas hall hire"]["current"] is False
    needs = network.group(ALPHA)["needs"]
    assert [(n["name"], n["current"], n["category"]) for n in needs] == [("Treasurer", True, ["skills"])]


def test_group_source_is_the_provenance_record(network):
    src = network.group(ALPHA)["source"]
    assert src["url"] == network.fed.url("alpha.test")
    assert src["status"] == "ok" and src["last_success"] and src["content_hash"]
    assert src["error_message"] is None


def test_group_by_percent_encoded_iri(network):
    iri = network.fed.group_iri("beta.test")
    status, body = get(network, "/api/groups/" + quote(iri, safe=""))
    assert status == 200
    assert body["key"] == network.key(BETA)


def test_unknown_group_is_404_json(network):
    status, body = get(network, "/api/groups/no-such-group")
    assert status == 404
    assert_error(body, 404, "not_found")


# ---------------------------------------------------------------------- errors and headers everywhere
@pytest.mark.parametrize("method, url, status, code", [
    ("get", "/api/nothing-here", 404, "not_found"),
    ("post", "/api/groups", 405, "method_not_allowed"),
    ("delete", "/api/groups/x", 405, "method_not_allowed"),
    ("get", "/ping", 405, "method_not_allowed"),
    ("post", "/health", 405, "method_not_allowed"),
])
def test_errors_use_the_one_json_shape(network, method, url, status, code):
    resp = getattr(network.client, method)(url)
    assert resp.status_code == status
    assert resp.content_type == "application/json"
    assert_error(resp.get_json(), status, code)
    if status == 405:
        assert "GET" in resp.headers["Allow"] or "POST" in resp.headers["Allow"]


def test_cors_only_when_enabled(network):
    assert "Access-Control-Allow-Origin" not in network.client.get("/api/groups").headers
    network.app.config["CORS"] = True
    try:
        for url in ("/api/groups", "/sources.json", "/export.geojson", "/health", "/dump.nq"):
            assert network.client.get(url).headers["Access-Control-Allow-Origin"] == "*", url
        assert "Access-Control-Allow-Origin" not in network.client.get("/").headers
    finally:
        network.app.config["CORS"] = False


def test_sources_json(network):
    status, body = get(network, "/sources.json")
    assert status == 200
    assert body["total"] == 7 and body["counts"]["ok"] == 6 and body["counts"]["failed"] == 1
    broken = body["sources"][0]                       # problems first
    assert broken["url"] == network.fed.url("broken.test")
    assert broken["status"] == "failed"
    assert broken["error_message"] == "the site answered HTTP 500 Internal Server Error"
    assert get(network, "/sources.json?status=failed")[1]["total"] == 1
    status, body = get(network, "/sources.json?status=bogus")
    assert status == 400 and body["error"]["message"].startswith("status:")
