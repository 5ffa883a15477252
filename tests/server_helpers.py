"""A small hand-built network of groups on loopback, crawled for real, for the server tests.

``build_sites(fed)`` puts eight sites on a ``federation.Federation`` (one HTTP
server, sites chosen by the Host header, mapped with ``Settings.resolve``):

- network.test: an umbrella listing alpha, beta and youth as members;
- alpha.test: memberOf network (mutual), linkedTo beta (beta links back: mutual),
  vouchesFor food (food says nothing back: claimed); a current offer, an
  expired offer and a need;
- beta.test, food.test (memberOf network, which does not list it: claimed);
- youth.test: no coordinates;
- xss.test: hostile name, description, topic, area and a javascript: url;
- broken.test: answers 500, so /sources has a failure to explain;
- late.test: not linked from anyone; tests ping it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation

XSS_NAME = "<script>alert(1)</script>"
XSS_URL = "javascript:alert(1)"
XSS_DESCRIPTION = '<img src=x onerror="alert(2)">'
XSS_TOPIC = "<b>bold</b>"
XSS_AREA = "</script><script>alert(3)</script>"

HOSTS = ("network.test", "alpha.test", "beta.test", "food.test", "youth.test", "xss.test", "broken.test",
         "late.test")
CRAWLED_GROUPS = 6   # network, alpha, beta, food, youth, xss


def place(lat, lon, locality="Leyton"):
    return {"@type": "Place", "address": {"@type": "PostalAddress", "addressLocality": locality},
            "geo": {"@type": "GeoCoordinates", "latitude": lat, "longitude": lon}}


def build_sites(fed) -> list:
    """Put the sites on ``fed``; return the seed URLs of the first crawl."""
    g = fed.group_iri

    def put(host, doc):
        fed.put(host, "/", {"@context": "https://w3id.org/hubnet/context.jsonld",
                            "@id": g(host), "@type": "Organization", **doc})

    put("network.test", {
        "name": "Leyton Community Network",
        "description": "An umbrella for groups across Leyton: meetings, news and shared training.",
        "url": fed.url("network.test"),
        "additionalType": "civic-network",
        "knowsAbout": ["networking", "community"],
        "areaServed": {"@type": "AdministrativeArea", "name": "Leyton ward"},
        "location": place(51.5610, -0.0120),
        "member": [g("alpha.test"), g("beta.test"), g("youth.test")],
    })
    put("alpha.test", {
        "name": "Marsh Gate Residents' Association",
        "description": "Residents of the Marsh Gate estate working together on repairs and green spaces.",
        "url": fed.url("alpha.test"),
        "email": "hello@alpha.test",
        "additionalType": "residents-association",
        "knowsAbout": ["housing repairs", "community lunch", "green spaces"],
        "areaServed": {"@type": "AdministrativeArea", "name": "Leyton ward"},
        "location": place(51.5631, -0.0105),
        "contactPoint": {"@type": "ContactPoint", "contactType": "first point of contact",
                         "email": "secretary@alpha.test", "availableLanguage": ["English", "Bengali"]},
        "memberOf": g("network.test"),
        "linkedTo": g("beta.test"),
        "vouchesFor": g("food.test"),
        "makesOffer": [
            {"@type": "Offer", "name": "Community room for hire", "description": "Seats 30, step-free.",
             "category": "meeting-space", "validThrough": "2099-06-30"},
            {"@type": "Offer", "name": "Christmas hall hire", "description": "Only for Christmas 2020.",
             "category": "meeting-space", "validThrough": "2020-12-31"},
        ],
        "seeks": [{"@type": "Demand", "name": "Treasurer", "description": "Two hours a month.",
                   "category": "skills"}],
    })
    put("beta.test", {
        "name": "Friends of Marsh Park",
        "description": "Volunteers looking after Marsh Park: tree planting and litter picks.",
        "url": fed.url("beta.test"),
        "additionalType": ["friends-group", "environmental-group"],
        "knowsAbout": ["green spaces", "tree planting"],
        "areaServed": {"@type": "AdministrativeArea", "name": "Leyton ward"},
        "location": place(51.5650, -0.0090),
        "memberOf": g("network.test"),
        "linkedTo": g("alpha.test"),
    })
    put("food.test", {
        "name": "Cann Hall Foodbank",
        "description": "Emergency food parcels and a weekly community pantry.",
        "url": fed.url("food.test"),
        "additionalType": ["food-project", "charity"],
        "knowsAbout": ["food", "community lunch"],
        "areaServed": {"@type": "AdministrativeArea", "name": "Cann Hall ward"},
        "location": place(51.5560, 0.0100, "Leytonstone"),
        "memberOf": g("network.test"),
    })
    put("youth.test", {
        "name": "Leyton Youth Club",
        "description": "Tuesday and Thursday evenings for 11 to 18 year olds.",
        "url": fed.url("youth.test"),
        "additionalType": "youth-group",
        "knowsAbout": ["youth work"],
        "areaServed": {"@type": "AdministrativeArea", "name": "Cann Hall ward"},
    })
    put("xss.test", {
        "name": XSS_NAME,
        "description": XSS_DESCRIPTION,
        "url": XSS_URL,
        "additionalType": "community-group",
        "knowsAbout": [XSS_TOPIC],
        "areaServed": {"@type": "AdministrativeArea", "name": XSS_AREA},
        "location": place(51.5700, -0.0200),
        "sameAs": XSS_URL,
        "memberOf": g("network.test"),
    })
    fed.put("broken.test", "/", b"oops", content_type="text/plain", status=500)
    put("late.test", {
        "name": "Latecomers Allotment Society",
        "description": "Found by a ping, not by a link.",
        "url": fed.url("late.test"),
        "additionalType": "environmental-group",
        "knowsAbout": ["allotments"],
        "location": place(51.5800, -0.0300),
    })
    return [fed.url("network.test"), fed.url("food.test"), fed.url("xss.test"), fed.url("broken.test")]


def crawl_settings(fed, **kw) -> Settings:
    return fed.settings(*HOSTS, **kw)


def crawl(fed, store, seeds, **kw):
    return Crawler(store, crawl_settings(fed)).crawl(seeds, **kw)


# --------------------------------------------------------------------------- apps over a crawled store
@dataclass
class Network:
    """A crawled store, the app serving it, and ways to find the fixture groups in it."""

    fed: Federation
    path: Path
    app: object = None
    keys: dict = field(default_factory=dict)    # group name -> key

    @property
    def client(self):
        return self.app.test_client()

    @property
    def hub(self):
        return self.app.extensions["hubnet"]

    def key(self, name: str) -> str:
        if name not in self.keys:
            groups = self.client.get("/api/groups?limit=1000").get_json()["groups"]
            self.keys.update({g["name"]: g["key"] for g in groups})
        return self.keys[name]

    def group(self, name: str) -> dict:
        resp = self.client.get(f"/api/groups/{self.key(name)}")
        assert resp.status_code == 200, resp.data
        return resp.get_json()

    def close(self) -> None:
        if self.app is not None:
            self.hub.close()
            self.app = None


def crawled_store(fed, path: Path, seeds=None) -> Path:
    """Crawl the fixture network into a store at ``path`` and release it (as a CLI crawl would)."""
    store = Store(path)
    try:
        crawl(fed, store, seeds if seeds is not None else build_sites(fed))
    finally:
        store.close()
    return path


def make_app(fed, path, **config):
    from hubnet.crawler.web import create_app

    base = {"STORE": str(path), "CRAWL_SETTINGS": crawl_settings(fed), "QUERY_WORKERS": 1, "TESTING": True}
    base.update(config)
    return create_app(base)


def open_network(tmp_path, **config) -> Network:
    fed = Federation()
    path = crawled_store(fed, Path(tmp_path) / "store")
    net = Network(fed, path)
    try:
        net.app = make_app(fed, path, **config)
    except BaseException:
        fed.close()
        raise
    return net


def crawler_command() -> list:
    """The installed ``hubnet-crawler`` beside this Python (or the same through ``-c``)."""
    exe = Path(sys.executable).with_name("hubnet-crawler")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from hubnet.crawler.cli import main; main()"]


def read_lines(stream, out) -> None:
    """Copy a subprocess's output lines into a queue (None at the end), for a reader thread."""
    for line in iter(stream.readline, ""):
        out.put(line)
    out.put(None)


def index_snapshot(index) -> dict:
    """Everything a text index sync writes, without the row ids (they follow the order of the inserts)."""
    from hubnet.crawler.store.index import Search

    conn = index._conn()
    return {
        "groups": sorted(tuple(r) for r in conn.execute(
            "SELECT key, iri, source, source_hash, name, description, url, topics, kinds, areas, lat, lon, "
            "authority, dup FROM groups")),
        "facets": sorted(tuple(r) for r in conn.execute(
            "SELECT g.iri, g.source, f.facet, f.value FROM facets f JOIN groups g ON g.id = f.gid")),
        "sources": sorted(tuple(r) for r in conn.execute("SELECT graph, version FROM sources")),
        "tombstones": sorted(tuple(r) for r in conn.execute("SELECT key, iri, source, reason FROM tombstones")),
        "search": [g["id"] for g in index.search(Search(q="marsh", limit=100))["groups"]],
        "facet_counts": index.search(Search())["facets"],
    }
