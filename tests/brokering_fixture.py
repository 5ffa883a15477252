"""A hand-built federation with known brokering answers, crawled into a real store.

    U (umbrella) --member--> A, B, C        A --memberOf--> U      (U-A mutual, U-B and U-C claimed)
    A <--linkedTo--> B                       (mutual)
    B --vouchesFor--> D --vouchesFor--> E    each confirmed: D linkedTo B, E linkedTo D
                                             (trust chain: A to E is 3 hops: A-B-D-E)
    E --linkedTo--> G                        (claimed by E)
    F                                        (isolated)

Trust (introductions, bridges, isolation) is the confirmed links only: the chain
U-A-B-D-E. C and G are only claimed by others, so they count as isolated too.

Offers and needs (all near lat 51.56, lon -0.01 unless said):
    A needs  meeting-space                -> B's hall (1.1 km) matches;
                                             C's hall (~30 km) too far; D's room expired; A's own room is self;
                                             E's volunteers wrong category
    G needs  volunteers, area "Leyton"    -> E's volunteers (no coordinates, area Leyton) match by area
"""

from __future__ import annotations


from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation

HOSTS = ("u.test", "a.test", "b.test", "c.test", "d.test", "e.test", "f.test", "g.test")


def place(lat, lon):
    return {"@type": "Place", "geo": {"@type": "GeoCoordinates", "latitude": lat, "longitude": lon}}


def build(fed) -> dict:
    g = fed.group_iri
    fed.put_profile("u.test", "Umbrella Network", path="/", member=[g("a.test"), g("b.test"), g("c.test")],
                    location=place(51.56, -0.02))
    fed.put_profile("a.test", "Alpha Residents", path="/", memberOf=g("u.test"), linkedTo=g("b.test"),
                    location=place(51.560, -0.010),
                    seeks=[{"@type": "Demand", "name": "Room on Tuesdays", "category": "meeting-space"}],
                    makesOffer=[{"@type": "Offer", "name": "Our own room", "category": "meeting-space"}])
    fed.put_profile("b.test", "Beta Church", path="/", linkedTo=g("a.test"), vouchesFor=g("d.test"),
                    location=place(51.570, -0.010),
                    makesOffer=[{"@type": "Offer", "name": "Church hall", "category": "meeting-space",
                                 "validThrough": "2099-06-30"}])
    fed.put_profile("c.test", "Gamma Far Away", path="/", location=place(51.830, -0.010),
                    makesOffer=[{"@type": "Offer", "name": "Distant hall", "category": "meeting-space"}])
    fed.put_profile("d.test", "Delta Youth", path="/", vouchesFor=g("e.test"), linkedTo=g("b.test"),
                    location=place(51.561, -0.011),
                    makesOffer=[{"@type": "Offer", "name": "Old room", "category": "meeting-space",
                                 "validThrough": "2020-01-31"}])
    fed.put_profile("e.test", "Epsilon Volunteers", path="/", linkedTo=[g("g.test"), g("d.test")],
                    areaServed={"@type": "AdministrativeArea", "name": "Leyton"},
                    makesOffer=[{"@type": "Offer", "name": "Saturday volunteers", "category": "volunteers"}])
    fed.put_profile("f.test", "Foxtrot Allotments", path="/", location=place(51.565, -0.012))
    fed.put_profile("g.test", "Golf Food Bank", path="/", knowsAbout=["food poverty", "community"],
                    contactPoint={"@type": "ContactPoint", "contactType": "first point of contact",
                                  "email": "coordinator@g.test", "telephone": "020 7946 0999"},
                    seeks=[{"@type": "Demand", "name": "Volunteers for Saturday", "category": "volunteers",
                            "areaServed": "Leyton"}])
    return {h.split(".")[0].upper(): g(h) for h in HOSTS}


def crawl_into(fed, store) -> None:
    Crawler(store, fed.settings(*HOSTS)).crawl([fed.url("u.test", "/"), fed.url("f.test", "/")])
