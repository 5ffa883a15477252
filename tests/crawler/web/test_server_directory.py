"""The pages for people: search with facet links, group pages, the map without JavaScript,
source health, and hostile profile text escaped everywhere."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from server_helpers import CRAWLED_GROUPS, XSS_AREA, XSS_DESCRIPTION, XSS_NAME, XSS_TOPIC

ALPHA, BETA, NETWORK = "Marsh Gate Residents' Association", "Friends of Marsh Park", "Leyton Community Network"
FOOD, YOUTH = "Cann Hall Foodbank", "Leyton Youth Club"


class Page(HTMLParser):
    """Just enough of a DOM: links (href, text), text of headings, script blocks, form labels."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.links, self.scripts, self.labels, self.ids, self.text = [], [], [], set(), []
        self._a = self._script = None
        self.lang = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "a":
            self._a = [a.get("href"), ""]
        if tag == "script":
            self._script = [a, ""]
        if tag == "label":
            self.labels.append(a.get("for"))

    def handle_endtag(self, tag):
        if tag == "a" and self._a:
            self.links.append((self._a[0], self._a[1].strip()))
            self._a = None
        if tag == "script" and self._script:
            self.scripts.append(tuple(self._script))
            self._script = None

    def handle_data(self, data):
        if self._a:
            self._a[1] += data
        if self._script:
            self._script[1] += data
        self.text.append(data)

    def link_to(self, text):
        return [h for h, t in self.links if t == text]


def html(network, url, status=200):
    resp = network.client.get(url)
    assert resp.status_code == status, (url, resp.status_code)
    assert resp.content_type == "text/html; charset=utf-8"
    return resp, resp.get_data(as_text=True)


# ---------------------------------------------------------------------- the directory
def test_front_page_lists_groups_with_facets(network):
    resp, body = html(network, "/")
    page = Page(body)
    assert page.lang == "en"
    assert f"{CRAWLED_GROUPS} groups" in body
    for name in (ALPHA, BETA, NETWORK, FOOD, YOUTH):
        assert page.link_to(name) == ["/groups/" + network.key(name)]
    assert resp.headers["Link"] == '</api/groups>; rel="alternate"; type="application/json"'
    assert "q" in page.labels and "area" in page.labels   # every input has a label


def test_facet_links_filter_and_show_counts(network):
    _, body = html(network, "/")
    page = Page(body)
    (href,) = page.link_to("green spaces")
    assert parse_qs(urlsplit(href).query) == {"topic": ["green spaces"]}
    assert re.search(r">green spaces</a>\s*<span class=\"count\">2</span>", body)
    assert re.search(r">Charity</a>\s*<span class=\"count\">1</span>", body)   # kinds by label
    _, filtered = html(network, href)
    fpage = Page(filtered)
    assert "2 groups" in filtered
    assert {t for _, t in fpage.links} >= {ALPHA, BETA}
    assert NETWORK not in {t for _, t in fpage.links}
    # Another facet link keeps the first filter; the active filter can be removed.
    (both,) = fpage.link_to("Friends-of group")
    assert parse_qs(urlsplit(both).query) == {"topic": ["green spaces"], "kind": ["friends-group"]}
    assert "/" in fpage.link_to("remove filter topic")


def test_word_search_page_and_bad_parameter(network):
    _, body = html(network, "/?q=marsh")
    assert "2 groups" in body
    _, body = html(network, "/?near=somewhere", status=400)
    assert "near: must be LAT,LON" in body


def test_directory_pages_when_more_than_a_page(network):
    network.app.config["PAGE_SIZE"] = 4
    try:
        _, body = html(network, "/")
        page = Page(body)
        assert "(showing 1–4)" in body
        (nxt,) = page.link_to("Next page")
        _, second = html(network, nxt)
        assert "(showing 5–6)" in second
        assert Page(second).link_to("Previous page") == ["/"]
    finally:
        network.app.config["PAGE_SIZE"] = 20


# ---------------------------------------------------------------------- a group's page
def section(body: str, heading_id: str) -> str:
    m = re.search(rf'<section aria-labelledby="{heading_id}"[^>]*>(.*?)</section>', body, re.S)
    assert m, heading_id
    return m.group(1)


def test_group_page_profile(network):
    resp, body = html(network, "/groups/" + network.key(ALPHA))
    assert resp.headers["Link"].startswith(f"</api/groups/{network.key(ALPHA)}>")
    assert f"<h1>{ALPHA.replace(chr(39), '&#39;')}</h1>" in body
    assert "Residents&#39; association" in body                  # the kind, by label
    assert "Leyton ward" in section(body, "where")
    contact = section(body, "contact")
    assert "First point of contact" in contact
    assert 'href="mailto:secretary@alpha.test"' in contact
    assert "Bengali" in contact


def test_group_page_offers_and_needs_never_show_expired_as_current(network):
    _, body = html(network, "/groups/" + network.key(ALPHA))
    offers = section(body, "offers")
    assert "Community room for hire" in offers
    assert "Christmas hall hire" not in offers
    assert "Treasurer" in section(body, "needs")
    past = section(body, "past")
    assert "Christmas hall hire" in past and "Expired" in past and "31 Dec 2020" in past


def test_group_page_marks_links_mutual_or_claimed(network):
    _, body = html(network, "/groups/" + network.key(ALPHA))
    items = re.findall(r"<li>(.*?)</li>", section(body, "links"), re.S)
    marks = {Page(i).links[0][1]: ("mutual" if 'badge mutual' in i else "claimed") for i in items}
    assert marks == {BETA: "mutual", NETWORK: "mutual", FOOD: "claimed"}
    incoming = section(body, "linked-from")
    assert NETWORK in incoming and "lists this group as a member" in incoming
    assert FOOD not in incoming


def test_group_page_source_health(network):
    _, body = html(network, "/groups/" + network.key(FOOD))
    src = section(body, "source")
    assert network.fed.url("food.test") in src
    assert "status-ok" in src and "Last fetched successfully" in src


def test_unknown_group_page_is_404_html(network):
    _, body = html(network, "/groups/nobody-00000000", status=404)
    assert "no group with the key" in body


# ---------------------------------------------------------------------- the map
def test_map_lists_located_groups_without_javascript(network):
    resp, body = html(network, "/map")
    page = Page(body)
    listed = section(body, "list-heading")
    for name in (ALPHA, BETA, NETWORK, FOOD):
        assert f'href="/groups/{network.key(name)}"' in listed
    assert YOUTH not in listed                                   # no coordinates
    assert "1 group does not" in body
    scripts = [a.get("src") for a, _ in page.scripts if a.get("src")]
    assert scripts == ["/static/leaflet/leaflet.js", "/static/map.js"]     # vendored, never a CDN
    assert "tile.openstreetmap.org" in resp.headers["Content-Security-Policy"]
    (data,) = [json.loads(text) for a, text in page.scripts if a.get("type") == "application/json"]
    assert data["tiles"] == "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert data["attribution"] == "© OpenStreetMap contributors"
    assert len(data["groups"]) == CRAWLED_GROUPS - 1
    alpha = next(g for g in data["groups"] if g["name"] == ALPHA)
    assert (alpha["lat"], alpha["lon"], alpha["href"]) == (51.5631, -0.0105, "/groups/" + network.key(ALPHA))


def test_map_takes_the_directory_filters(network):
    _, body = html(network, "/map?topic=green%20spaces")
    (data,) = [json.loads(t) for a, t in Page(body).scripts if a.get("type") == "application/json"]
    assert {g["name"] for g in data["groups"]} == {ALPHA, BETA}


def test_vendored_leaflet_is_served(network):
    for path, kind in (("/static/leaflet/leaflet.js", "javascript"), ("/static/leaflet/leaflet.css", "css"),
                       ("/static/leaflet/images/marker-icon.png", "png"), ("/static/map.js", "javascript"),
                       ("/static/hubnet.css", "css")):
        resp = network.client.get(path)
        assert resp.status_code == 200 and kind in resp.content_type, path
        resp.close()


# ---------------------------------------------------------------------- sources
def test_sources_page_explains_failures(network):
    resp, body = html(network, "/sources")
    assert resp.headers["Link"].startswith("</sources.json>")
    assert "the site answered HTTP 500 Internal Server Error" in body
    assert "status-failed" in body
    assert network.fed.url("broken.test") in body
    _, only_failed = html(network, "/sources?status=failed")
    assert "1 source" in only_failed and network.fed.url("alpha.test") not in only_failed
    _, paged = html(network, "/sources?limit=3")
    (nxt,) = Page(paged).link_to("Next page")
    assert parse_qs(urlsplit(nxt).query) == {"limit": ["3"], "offset": ["3"]}
    assert "showing 4–6" in html(network, nxt)[1]


# ---------------------------------------------------------------------- hostile profile text
XSS_PAGES = ["/", "/?q=script", "/?topic=" + quote(XSS_TOPIC), "/map", "/sources", "/groups/{xss}",
             "/groups/{network}", "/?area=" + quote(XSS_AREA)]


@pytest.mark.parametrize("url", XSS_PAGES)
def test_profile_text_is_escaped_everywhere(network, url):
    url = url.format(xss=network.key(XSS_NAME), network=network.key(NETWORK))
    _, body = html(network, url)
    for raw in (XSS_NAME, XSS_DESCRIPTION, XSS_TOPIC, XSS_AREA, "<img", "alert(3)</script>"):
        assert raw not in body, (url, raw)
    assert 'href="javascript' not in body.lower() and 'src="javascript' not in body.lower()
    page = Page(body)
    # The only scripts are ours: files from /static and the JSON data block.
    for attrs, text in page.scripts:
        assert attrs.get("src", "").startswith("/static/") or attrs.get("type") == "application/json"


def test_xss_group_page_shows_the_text_and_links_nothing_hostile(network):
    _, body = html(network, "/groups/" + network.key(XSS_NAME))
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in body
    page = Page(body)
    assert XSS_DESCRIPTION in "".join(page.text)                 # readable as text
    assert "javascript:alert(1)" in "".join(page.text)
    for href, _ in page.links:
        assert href.startswith(("/", "#", "http://", "https://", "mailto:", "tel:")), href


def test_map_data_block_cannot_close_its_script(network):
    _, body = html(network, "/map")
    block = re.search(r'<script type="application/json" id="map-data">(.*?)</script>', body, re.S).group(1)
    assert "<" not in block and ">" not in block
    data = json.loads(block)
    assert XSS_NAME in {g["name"] for g in data["groups"]}      # the same text, safely encoded
