"""Pages people can use (issue 16, item 5), over HTTP: the 404 page helps a person, Downloads explains
each export, the SPARQL page's default query lists groups, an empty hub says how to start, and the
brokering views take group names. (tests/test_browser.py checks the same pages in a real browser.)"""

from __future__ import annotations

import html
import itertools
import re
from urllib.parse import quote

import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.crawler.web.brokering import layout
from server_helpers import CRAWLED_GROUPS, make_app  # noqa: F401  (fixture)

ALPHA, BETA, NETWORK = "Marsh Gate Residents' Association", "Friends of Marsh Park", "Leyton Community Network"


def text(resp) -> str:
    return resp.get_data(as_text=True)


# ---------------------------------------------------------------------- 404 for people
@pytest.mark.parametrize("path", ["/groups/no-such-group", "/no/such/page", "/groups/" + quote("https://x.test/#g", safe="")])
def test_the_404_page_offers_a_search_box_and_the_directory_not_the_api(network, path):
    resp = network.client.get(path, headers={"Accept": "text/html"})
    assert resp.status_code == 404
    body = text(resp)
    assert '<form class="search" method="get" action="/"' in body and 'name="q"' in body
    assert 'href="/">browse every group in the directory</a>' in body
    assert "/api/" not in body.split("<footer")[0]


def test_a_machine_still_gets_the_json_error_for_a_missing_group(network):
    resp = network.client.get("/api/groups/no-such-group")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


# ---------------------------------------------------------------------- Downloads
def test_the_menu_opens_a_downloads_page_that_explains_every_export(network):
    home = text(network.client.get("/"))
    assert '<a href="/downloads">Downloads</a>' in home and ">Data</a>" not in home
    body = text(network.client.get("/downloads"))
    for href in ("/export.csv", "/api/contacts.csv", "/export.geojson", "/dump.nq", "/sparql", "/.well-known/void",
                 "/api/groups", "/sources.json"):
        assert f'href="{href}"' in body, href
    assert f"{CRAWLED_GROUPS} groups" in body
    for word in ("spreadsheet", "QGIS", "named graph", "SPARQL", "VoID"):
        assert word in body, word


@pytest.mark.parametrize("path,ctype", [("/.well-known/void", "text/turtle"), ("/export.csv", "text/csv"),
                                        ("/export.geojson", "application/geo+json"),
                                        ("/dump.nq", "application/n-quads")])
def test_the_old_data_routes_still_answer(network, path, ctype):
    resp = network.client.get(path)
    assert resp.status_code == 200 and resp.mimetype == ctype


# ---------------------------------------------------------------------- SPARQL's default query
def test_the_sparql_pages_default_query_returns_the_groups_and_nothing_else(network):
    from hubnet.crawler.web.sparql import load_examples

    default = load_examples()[0]
    page = text(network.client.get("/sparql", headers={"Accept": "text/html"}))
    shown = re.search(r'<textarea id="query"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert html.unescape(shown) == default["query"] and default["name"] == "groups"
    resp = network.client.post("/sparql", data={"query": default["query"]},
                               headers={"Accept": "application/sparql-results+json"})
    rows = resp.get_json()["results"]["bindings"]
    groups = {g["id"] for g in network.client.get("/api/groups?limit=100").get_json()["groups"]}
    assert {r["group"]["value"] for r in rows} == groups       # every group, no need or offer among them


# ---------------------------------------------------------------------- an empty hub
def test_an_empty_hub_says_how_to_start_a_crawl(tmp_path):
    from hubnet.crawler.web import create_app

    app = create_app({"STORE": str(tmp_path / "empty"), "BACKGROUND": False, "QUERY_WORKERS": 1,
                      "PUBLIC_URL": "https://hub.test", "TESTING": True})
    try:
        body = text(app.test_client().get("/"))
        assert "This directory is empty" in body
        assert "curl -d url=https://ourgroup.example.org/ https://hub.test/ping" in body
        assert "hubnet-crawler crawl https://ourgroup.example.org/ --store" in body
        # a search that finds nothing on an empty hub is still a search
        assert "This directory is empty" not in text(app.test_client().get("/?q=garden"))
    finally:
        app.extensions["hubnet"].close()


def test_a_hub_with_groups_shows_no_getting_started_text_for_a_search_that_finds_nothing(network):
    body = text(network.client.get("/?q=zzzzzz"))
    assert "No groups found" in body and "This directory is empty" not in body


# ---------------------------------------------------------------------- group names in the brokering views
@pytest.mark.parametrize("how", ["name", "lower-case name", "key", "iri"])
def test_introductions_and_network_take_a_name_a_key_or_an_iri(network, how):
    def ref(name):
        row = network.group(name)
        return {"name": name, "lower-case name": name.lower(), "key": row["key"], "iri": row["id"]}[how]

    data = network.client.get("/api/introductions", query_string={"from": ref(ALPHA), "to": ref(BETA)}).get_json()
    assert [[g["name"] for g in p] for p in data["paths"]] == [[ALPHA, BETA]]
    page = text(network.client.get("/introductions", query_string={"from": ref(ALPHA), "to": ref(BETA)}))
    assert "1 shortest chain from" in page
    ego = network.client.get("/api/network", query_string={"group": ref(NETWORK), "depth": 1}).get_json()
    assert ego["center"] == network.group(NETWORK)["id"]


def test_an_unknown_name_is_a_404_pointing_at_the_directory_search(network):
    resp = network.client.get("/network", query_string={"group": "Nobody Here"}, headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert "no group called &#39;Nobody Here&#39;" in text(resp) and "/?q=Nobody+Here" in text(resp)


def test_a_name_two_groups_share_is_refused_naming_both_keys(fed, tmp_path):
    for host in ("twin1.test", "twin2.test"):
        fed.put_profile(host, "Same Name Group", path="/")
    store = Store(tmp_path / "store")
    settings = Settings(allow_private=True, per_host_delay=0.0, retries=0,
                        resolve=fed.resolve_map("twin1.test", "twin2.test"))
    try:
        Crawler(store, settings).crawl([fed.url("twin1.test"), fed.url("twin2.test")])
    finally:
        store.close()
    app = make_app(fed, tmp_path / "store", CRAWL_SETTINGS=settings, BACKGROUND=False)
    try:
        resp = app.test_client().get("/api/network", query_string={"group": "same name group"})
        keys = [g["key"] for g in app.test_client().get("/api/groups").get_json()["groups"]]
        assert resp.status_code == 400 and len(keys) == 2
        message = resp.get_json()["error"]["message"]
        assert message.startswith("group: 2 groups are called") and all(k in message for k in keys)
    finally:
        app.extensions["hubnet"].close()


def test_introductions_and_network_are_linked_from_the_menu_and_each_group_page(network):
    home = text(network.client.get("/"))
    assert '<a href="/introductions">Introductions</a>' in home and '<a href="/network">Network</a>' in home
    page = text(network.client.get("/groups/" + quote(network.key(ALPHA), safe="")))
    assert 'href="/introductions?to=Marsh+Gate+Residents\'+Association"' in html.unescape(page)
    assert "Who can introduce us?" in page and "/network?group=" in page


def test_the_forms_suggest_names_from_the_directorys_json_twin(network):
    for path in ("/introductions", "/network"):
        body = text(network.client.get(path))
        assert "data-suggest-groups" in body and "<datalist" in body and "/static/groups.js" in body
    assert "/api/groups?" in text(network.client.get("/static/groups.js"))


# ---------------------------------------------------------------------- the network drawing
def _ego(rings, name_length):
    nodes = [{"id": "c", "name": "C" * name_length, "distance": 0}]
    for d, n in enumerate(rings, 1):
        nodes += [{"id": f"{d}-{i}", "name": (f"G{d}-{i} " + "x" * name_length)[:name_length], "distance": d}
                  for i in range(n)]
    return {"nodes": nodes, "edges": []}


@pytest.mark.parametrize("rings,name_length", list(itertools.product(
    [(1,), (3,), (8,), (16,), (24,), (4, 8), (6, 12), (8, 20), (3, 6, 12)], [10, 24, 36, 60])))
def test_network_labels_never_overlap_and_stay_inside_the_drawing(rings, name_length):
    drawing = layout(_ego(rings, name_length))
    size = drawing["size"]
    boxes = [n["label"]["box"] for n in drawing["nodes"] if n["label"]]
    for i, a in enumerate(boxes):
        assert a[0] >= 0 and a[1] >= 0 and a[2] <= size and a[3] <= size, a
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    # up to 16 groups in a ring, every group gets a label (shortened when long)
    if max(rings) <= 16:
        assert len(boxes) == len(drawing["nodes"])


def test_the_network_page_lists_links_by_group_name(network):
    body = text(network.client.get("/network", query_string={"group": NETWORK, "depth": 1}))
    links = body.split("<h2>Links</h2>")[1].split("</ul>")[0]
    assert ALPHA.replace("'", "&#39;") in links and "Has member" in links
    assert "#group" not in links   # names, not IRIs (the links go to the groups' pages by key)
