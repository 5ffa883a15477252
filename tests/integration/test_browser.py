"""The pages in a real browser (tests/browser_helpers.py says how): a volunteer's edit travels from
the node's editor to the aggregator; people search, open a group, the map and SPARQL; every page
type passes axe-core's WCAG 2.2 A/AA checks (no serious or critical violation), logs no console
error, makes no request off the machine and fits a 375 px phone screen."""

from __future__ import annotations

import subprocess
import time
from urllib.parse import urlencode

import pytest

from browser_helpers import NODE_NAME, NODE_PASSWORD, axe_problems, overflow
from browser_helpers import browser, editor_state, hubnet, tab, tab_factory  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def _pages(h) -> dict:
    """Every page type: name -> (url, HTTP status, needs the editor's login)."""
    alpha, beta = "Marsh Gate Residents' Association", "Friends of Marsh Park"
    return {
        "node-public": (h.node_url + "/", 200, False),
        "node-login": (h.node_url + "/login", 200, False),
        "node-editor": (h.node_url + "/edit", 200, True),
        "home": (h.agg_url + "/", 200, False),
        "directory-search": (h.agg_url + "/?" + urlencode({"q": "green spaces"}), 200, False),
        "group": (h.group_url(alpha), 200, False),
        "map": (h.agg_url + "/map", 200, False),
        "sources": (h.agg_url + "/sources", 200, False),
        "contacts": (h.agg_url + "/contacts?topic=community", 200, False),
        "matches": (h.agg_url + "/matches", 200, False),
        "introductions": (h.agg_url + "/introductions?" + urlencode({"from": alpha, "to": beta}), 200, False),
        "network": (h.agg_url + "/network", 200, False),
        "network-group": (h.agg_url + "/network?" + urlencode({"group": alpha}), 200, False),
        "sparql": (h.agg_url + "/sparql", 200, False),
        "downloads": (h.agg_url + "/downloads", 200, False),
        "not-found": (h.agg_url + "/groups/no-such-group", 404, False),
    }


PAGE_TYPES = ["node-public", "node-login", "node-editor", "home", "directory-search", "group", "map", "sources",
              "contacts", "matches", "introductions", "network", "network-group", "sparql", "downloads",
              "not-found"]


def _open(tab_factory, hubnet, editor_state, name: str, **context):
    url, status, login = _pages(hubnet)[name]
    t = tab_factory(**({"storage_state": editor_state} if login else {}), **context)
    if status == 404:   # the browser reports the page's own status as a failed resource: that is the point
        t.allowed_errors.append("status of 404")
    t.open(url, status)
    return t


@pytest.mark.parametrize("name", PAGE_TYPES)
def test_every_page_type_passes_wcag_22_aa_and_logs_no_error(tab_factory, hubnet, editor_state, name):
    t = _open(tab_factory, hubnet, editor_state, name)
    if name == "map":
        t.page.wait_for_selector(".leaflet-marker-icon")
    t.shot("desktop")
    problems = axe_problems(t.page)
    assert not problems, "\n".join(problems)
    t.check_clean()


@pytest.mark.parametrize("name", PAGE_TYPES)
def test_every_page_type_fits_a_phone_screen(tab_factory, hubnet, editor_state, name):
    t = _open(tab_factory, hubnet, editor_state, name, viewport={"width": 375, "height": 812},
              is_mobile=True, has_touch=True)
    t.shot("phone")
    assert overflow(t.page) is None, overflow(t.page)
    t.check_clean()


def test_an_edit_goes_from_the_editor_to_the_public_page_and_the_aggregator(tab, hubnet):
    page = tab.page
    tab.open(hubnet.node_url + "/login")
    page.fill("#password", NODE_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/edit")
    # An impossible latitude: nothing is saved (HTTP 422, which the browser logs), and the error sits
    # beside its field.
    tab.allowed_errors.append("status of 422")
    page.fill("#latitude", "515.61")
    page.click("form[action='/edit'] button[value=save]")
    error = page.locator("#latitude-error")
    error.wait_for()
    assert "latitude" in error.inner_text()
    assert "latitude-error" in page.get_attribute("#latitude", "aria-describedby")
    assert page.get_attribute("#latitude", "aria-invalid") == "true"
    field, message = page.locator("#latitude").bounding_box(), error.bounding_box()
    assert 0 <= field["y"] - (message["y"] + message["height"]) < 40, (field, message)  # right above it
    assert "Nothing was saved" in page.locator(".summary").inner_text()
    tab.shot("invalid")
    # Fixed, with a new topic: saved, on the public page, and (after the node's ping) at the hub.
    page.fill("#latitude", "51.5601")
    page.fill("#knowsAbout", "street parties\ntool library\npavement planters")
    page.click("form[action='/edit'] button[value=save]")
    page.wait_for_selector("text=Saved.")
    tab.open(hubnet.node_url + "/")
    assert "pavement planters" in page.inner_text("main")
    tab.open(hubnet.group_url(NODE_NAME))
    deadline = time.monotonic() + 20
    while "pavement planters" not in page.inner_text("main"):
        assert time.monotonic() < deadline, "the aggregator never showed the edit"
        time.sleep(0.3)
        page.reload()
    tab.shot("aggregator")
    tab.check_clean()


def test_directory_search_finds_groups_and_opens_one(tab, hubnet):
    page = tab.page
    tab.open(hubnet.agg_url + "/")
    page.fill("#q", "tree planting")
    page.click("form.search button[type=submit]")
    page.wait_for_url("**/?q=tree+planting*")
    names = page.locator("ol.groups h3").all_inner_texts()
    assert names == ["Friends of Marsh Park"]
    page.click("ol.groups h3 a")
    page.wait_for_selector("h1:has-text('Friends of Marsh Park')")
    assert "Marsh Gate Residents' Association" in page.inner_text("#links ~ ul")
    tab.shot("group")
    tab.check_clean()


def test_the_map_shows_a_marker_per_located_group_with_tiles_from_loopback(tab, hubnet):
    located = [g for g in hubnet.api("/api/groups?limit=1000")["groups"] if g["lat"] is not None]
    before = len(hubnet.tiles.requests)
    tab.open(hubnet.agg_url + "/map")
    tab.page.wait_for_selector(".leaflet-marker-icon")
    assert _groups_on_map(tab.page) == len(located) >= 5   # each a marker, or counted in a cluster
    tab.page.wait_for_selector(".leaflet-tile-loaded")
    assert len(hubnet.tiles.requests) > before
    tab.page.locator(".leaflet-marker-icon:not(.map-cluster)").first.click()
    assert tab.page.locator(".leaflet-popup-content a").count() == 1
    tab.shot("map")
    tab.check_clean()


def _groups_on_map(page) -> int:
    """Single markers plus the counts the clusters show."""
    singles = page.locator(".leaflet-marker-icon:not(.map-cluster)").count()
    return singles + sum(int(c) for c in page.locator(".map-cluster").all_inner_texts())


@pytest.fixture(scope="module")
def dense(browser, hubnet, tmp_path_factory):
    """An aggregator over 12 groups at one spot and one a few miles off (crawled with the CLI)."""
    from browser_helpers import _wait_http, command, free_port
    from hubnet.testing import Federation

    work = tmp_path_factory.mktemp("dense")
    fed = Federation()
    spot = lambda lat, lon: {"@type": "Place", "geo": {"@type": "GeoCoordinates", "latitude": lat,  # noqa: E731
                                                       "longitude": lon}}
    groups = [{"@id": fed.url("dense.test", f"/#g{n}"), "@type": "Organization", "name": f"Estate group {n}",
               "location": spot(51.5600, -0.0150)} for n in range(12)]
    groups.append({"@id": fed.url("dense.test", "/#far"), "@type": "Organization", "name": "Far group",
                   "location": spot(51.6100, -0.1000)})
    fed.put("dense.test", "/", {"@context": "https://w3id.org/hubnet/context.jsonld", "@graph": groups})
    resolve = ["--resolve", f"dense.test:{fed.port}:127.0.0.1", "--allow-private"]
    store, port = work / "store", free_port()
    subprocess.run(command("hubnet-crawler") + ["crawl", fed.url("dense.test"), "--store", str(store), "--delay",
                                                "0", "--geocoder", "off", *resolve], check=True, capture_output=True)
    log = work / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command("hubnet-crawler") + [
            "serve", "--store", str(store), "--port", str(port), *resolve, "--geocoder", "off",
            "--tiles", hubnet.tiles.url, "--tile-attribution", "Test tiles"], cwd=work, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(proc, f"http://127.0.0.1:{port}/health", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        fed.close()


def test_dense_markers_are_clustered_with_their_count_and_open_by_click_or_keyboard(tab, dense):
    tab.open(dense + "/map")
    page = tab.page
    page.wait_for_selector(".map-cluster")
    cluster = page.locator(".map-cluster")
    assert cluster.count() == 1 and cluster.inner_text() == "12"
    assert cluster.get_attribute("aria-label") == "12 groups here: zoom in"
    assert page.locator(".leaflet-marker-icon:not(.map-cluster)").count() == 1 and _groups_on_map(page) == 13
    cluster.focus()                       # a keyboard user reaches it by Tab and opens it with Enter
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('.map-cluster').length === 0")
    # Zoomed in to the spot (as far as the map goes: they share it), each group is its own marker.
    assert page.locator(".leaflet-marker-icon:not(.map-cluster)").count() == 13
    tab.shot("map-dense")
    tab.check_clean()


def test_the_sparql_page_runs_its_query_and_shows_rows(tab, hubnet):
    page = tab.page
    tab.open(hubnet.agg_url + "/sparql")
    page.click("#query-form button[type=submit]")
    page.wait_for_selector("#results table tbody tr")
    assert page.locator("#results tbody tr").count() >= 5
    assert " rows in " in page.inner_text("#status")
    tab.shot("sparql")
    tab.check_clean()


def test_introductions_take_names_suggested_as_you_type(tab, hubnet):
    page = tab.page
    tab.open(hubnet.agg_url + "/")
    page.click("header nav >> text=Introductions")
    page.wait_for_url("**/introductions")
    page.locator("#from").press_sequentially("Marsh Ga", delay=20)
    page.wait_for_function("() => [...document.querySelectorAll('#from-names option')]"
                           ".some(o => o.value === \"Marsh Gate Residents' Association\")")
    page.fill("#from", "Marsh Gate Residents' Association")
    page.locator("#to").press_sequentially("Friends of", delay=20)
    page.wait_for_function("() => [...document.querySelectorAll('#to-names option')]"
                           ".some(o => o.value === 'Friends of Marsh Park')")
    page.fill("#to", "Friends of Marsh Park")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("ol.chains li")
    assert page.locator("ol.chains li").first.inner_text() == \
        "Marsh Gate Residents' Association → Friends of Marsh Park"
    tab.shot("chain")
    tab.check_clean()


def test_the_network_drawing_labels_do_not_overlap_and_links_are_listed_by_name(tab, hubnet):
    page = tab.page
    tab.open(hubnet.group_url("Leyton Community Network"))
    page.click("text=Its network")
    page.wait_for_selector("svg.network text")
    boxes = page.evaluate("""() => {
      const svg = document.querySelector('svg.network'), size = svg.viewBox.baseVal.width;
      return {size, boxes: [...svg.querySelectorAll('text')].map(t => {
        const b = t.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height, t.textContent]; })};
    }""")
    labels = boxes["boxes"]
    assert len(labels) == page.locator("svg.network circle").count() >= 5   # every group labelled
    for i, a in enumerate(labels):
        assert a[0] >= 0 and a[1] >= 0 and a[2] <= boxes["size"] and a[3] <= boxes["size"], a   # not clipped
        for b in labels[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    links = page.locator("ul.links").inner_text()
    assert "Marsh Gate Residents' Association" in links and "http" not in links
    tab.shot("network")
    tab.check_clean()
