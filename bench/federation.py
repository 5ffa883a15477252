"""A synthetic federation of community-group profiles, for the benchmarks.

Everything about group ``i`` depends only on (seed, i); its links depend on
(seed, n, i) and always point inside [0, n), so each size is a closed network.

Two layouts:

- ``distinct``: every group on its own site, ``http://g00042.bench.test:PORT/``
  (the profile at ``/``, the group ``/#group``), like groups publishing on
  their own web space. The benchmark crawl uses this one.
- ``shared``: many groups on few hosts, ``http://s03.bench.test:PORT/g/00042.jsonld``
  (the group ``...jsonld#group``), like profiles hosted by a few umbrella bodies.
  The politeness check uses it to show the per-host delay bounding the rate.

The link graph is a 4-ary tree (``member`` down, ``memberOf`` up) from group 0,
plus random ``org:linkedTo`` / ``hubnet:vouchesFor`` links up to 2-5 links per
profile, so a crawl seeded with group 0 reaches every group.

Profiles use the hubnet context by reference (``https://w3id.org/hubnet/context.jsonld``,
which the crawler reads from its pinned local copy), as real ones do.
"""

from __future__ import annotations

import json
import os
import random
from collections import deque
from dataclasses import dataclass
from pathlib import Path

CONTEXT_IRI = "https://w3id.org/hubnet/context.jsonld"
DOMAIN = "bench.test"
SEED = 20240601

# Greater London, roughly the GLA boundary's bounding box.
BBOX = (51.28, -0.51, 51.69, 0.33)   # (south, west, north, east)

# (neighbourhood, borough, latitude, longitude, postcode district)
PLACES = [
    ("Leyton", "Waltham Forest", 51.5600, -0.0100, "E10"),
    ("Walthamstow", "Waltham Forest", 51.5830, -0.0200, "E17"),
    ("Chingford", "Waltham Forest", 51.6310, 0.0000, "E4"),
    ("Leytonstone", "Waltham Forest", 51.5680, 0.0080, "E11"),
    ("Hackney Wick", "Hackney", 51.5430, -0.0250, "E9"),
    ("Dalston", "Hackney", 51.5460, -0.0750, "E8"),
    ("Stoke Newington", "Hackney", 51.5620, -0.0740, "N16"),
    ("Homerton", "Hackney", 51.5470, -0.0420, "E9"),
    ("Stratford", "Newham", 51.5410, -0.0030, "E15"),
    ("Forest Gate", "Newham", 51.5490, 0.0240, "E7"),
    ("East Ham", "Newham", 51.5390, 0.0510, "E6"),
    ("Canning Town", "Newham", 51.5140, 0.0080, "E16"),
    ("Bow", "Tower Hamlets", 51.5290, -0.0200, "E3"),
    ("Poplar", "Tower Hamlets", 51.5080, -0.0170, "E14"),
    ("Whitechapel", "Tower Hamlets", 51.5190, -0.0600, "E1"),
    ("Bethnal Green", "Tower Hamlets", 51.5270, -0.0550, "E2"),
    ("Islington", "Islington", 51.5380, -0.1030, "N1"),
    ("Holloway", "Islington", 51.5530, -0.1170, "N7"),
    ("Archway", "Islington", 51.5650, -0.1350, "N19"),
    ("Kentish Town", "Camden", 51.5500, -0.1400, "NW5"),
    ("Kilburn", "Camden", 51.5470, -0.1910, "NW6"),
    ("Somers Town", "Camden", 51.5310, -0.1330, "NW1"),
    ("Tottenham", "Haringey", 51.5880, -0.0720, "N17"),
    ("Wood Green", "Haringey", 51.5970, -0.1090, "N22"),
    ("Hornsey", "Haringey", 51.5870, -0.1180, "N8"),
    ("Edmonton", "Enfield", 51.6150, -0.0670, "N9"),
    ("Enfield Town", "Enfield", 51.6520, -0.0810, "EN1"),
    ("Palmers Green", "Enfield", 51.6180, -0.1090, "N13"),
    ("Barnet", "Barnet", 51.6530, -0.2000, "EN5"),
    ("Finchley", "Barnet", 51.6010, -0.1930, "N3"),
    ("Hendon", "Barnet", 51.5830, -0.2260, "NW4"),
    ("Edgware", "Barnet", 51.6130, -0.2750, "HA8"),
    ("Harrow", "Harrow", 51.5800, -0.3370, "HA1"),
    ("Wembley", "Brent", 51.5520, -0.2960, "HA9"),
    ("Willesden", "Brent", 51.5490, -0.2370, "NW10"),
    ("Harlesden", "Brent", 51.5360, -0.2570, "NW10"),
    ("Ealing", "Ealing", 51.5130, -0.3050, "W5"),
    ("Southall", "Ealing", 51.5110, -0.3760, "UB1"),
    ("Acton", "Ealing", 51.5080, -0.2730, "W3"),
    ("Hounslow", "Hounslow", 51.4680, -0.3610, "TW3"),
    ("Brentford", "Hounslow", 51.4870, -0.3090, "TW8"),
    ("Uxbridge", "Hillingdon", 51.5460, -0.4780, "UB8"),
    ("Hayes", "Hillingdon", 51.5120, -0.4210, "UB3"),
    ("Hammersmith", "Hammersmith and Fulham", 51.4930, -0.2240, "W6"),
    ("Fulham", "Hammersmith and Fulham", 51.4730, -0.2000, "SW6"),
    ("North Kensington", "Kensington and Chelsea", 51.5200, -0.2100, "W10"),
    ("Paddington", "Westminster", 51.5160, -0.1750, "W2"),
    ("Pimlico", "Westminster", 51.4890, -0.1340, "SW1V"),
    ("Battersea", "Wandsworth", 51.4700, -0.1700, "SW11"),
    ("Tooting", "Wandsworth", 51.4270, -0.1680, "SW17"),
    ("Putney", "Wandsworth", 51.4610, -0.2160, "SW15"),
    ("Brixton", "Lambeth", 51.4620, -0.1150, "SW2"),
    ("Stockwell", "Lambeth", 51.4720, -0.1230, "SW9"),
    ("Norwood", "Lambeth", 51.4300, -0.1030, "SE27"),
    ("Peckham", "Southwark", 51.4740, -0.0690, "SE15"),
    ("Bermondsey", "Southwark", 51.4980, -0.0630, "SE16"),
    ("Camberwell", "Southwark", 51.4740, -0.0930, "SE5"),
    ("Deptford", "Lewisham", 51.4790, -0.0260, "SE8"),
    ("Catford", "Lewisham", 51.4450, -0.0200, "SE6"),
    ("Sydenham", "Lewisham", 51.4270, -0.0540, "SE26"),
    ("Woolwich", "Greenwich", 51.4900, 0.0690, "SE18"),
    ("Eltham", "Greenwich", 51.4510, 0.0520, "SE9"),
    ("Charlton", "Greenwich", 51.4860, 0.0390, "SE7"),
    ("Bexleyheath", "Bexley", 51.4570, 0.1390, "DA6"),
    ("Erith", "Bexley", 51.4810, 0.1780, "DA8"),
    ("Bromley", "Bromley", 51.4060, 0.0150, "BR1"),
    ("Orpington", "Bromley", 51.3740, 0.0980, "BR6"),
    ("Penge", "Bromley", 51.4150, -0.0560, "SE20"),
    ("Croydon", "Croydon", 51.3720, -0.1000, "CR0"),
    ("Thornton Heath", "Croydon", 51.3990, -0.1080, "CR7"),
    ("Purley", "Croydon", 51.3370, -0.1140, "CR8"),
    ("Sutton", "Sutton", 51.3610, -0.1940, "SM1"),
    ("Mitcham", "Merton", 51.4030, -0.1680, "CR4"),
    ("Wimbledon", "Merton", 51.4210, -0.2060, "SW19"),
    ("Kingston", "Kingston upon Thames", 51.4120, -0.3000, "KT1"),
    ("Twickenham", "Richmond upon Thames", 51.4470, -0.3290, "TW1"),
    ("Richmond", "Richmond upon Thames", 51.4610, -0.3030, "TW9"),
    ("Romford", "Havering", 51.5750, 0.1830, "RM1"),
    ("Hornchurch", "Havering", 51.5560, 0.2180, "RM12"),
    ("Dagenham", "Barking and Dagenham", 51.5400, 0.1480, "RM10"),
    ("Barking", "Barking and Dagenham", 51.5360, 0.0810, "IG11"),
    ("Ilford", "Redbridge", 51.5590, 0.0740, "IG1"),
    ("Woodford", "Redbridge", 51.6070, 0.0340, "IG8"),
]

TOPICS = [
    # food
    "food bank", "community fridge", "community kitchen", "lunch club", "breakfast club", "surplus food",
    "holiday hunger", "cookery classes", "food growing", "allotments", "community garden", "orchard",
    "seed swap", "beekeeping", "composting", "community cafe", "soup kitchen", "meals on wheels",
    # environment
    "tree planting", "litter picking", "river clean-up", "wildlife", "nature reserve", "park improvements",
    "climate action", "energy saving", "solar panels", "cycling", "walking", "clean air", "rewilding",
    "pond restoration", "bird watching", "green roofs", "street trees", "repair cafe", "upcycling",
    "tool library", "library of things", "swap shop", "zero waste", "flood resilience", "bat walks",
    # housing and neighbourhood
    "housing repairs", "tenant rights", "estate regeneration", "anti-social behaviour", "planning applications",
    "neighbourhood plan", "street parties", "community safety", "neighbourhood watch", "road safety",
    "play streets", "estate management", "leaseholder support", "damp and mould", "rent arrears",
    "homelessness", "rough sleeping", "night shelter", "temporary accommodation", "local history",
    "heritage", "blue plaques", "community land trust", "co-operative housing", "right to manage",
    # people and care
    "older people", "loneliness", "befriending", "dementia support", "carers support", "disability rights",
    "mental health", "wellbeing", "peer support", "bereavement support", "domestic abuse support",
    "refugee support", "asylum seekers", "migrant rights", "english classes", "conversation clubs",
    "advice sessions", "benefits advice", "debt advice", "legal advice", "immigration advice",
    "employment support", "cv workshops", "digital inclusion", "computer classes", "phone help",
    "hospital visiting", "health checks", "first aid", "sexual health", "drug and alcohol recovery",
    "parent and toddler", "baby bank", "breastfeeding support", "school uniform exchange", "dads groups",
    "single parents", "lgbtq+ support", "women's groups", "men's sheds", "veterans",
    # young people
    "youth club", "homework club", "mentoring", "youth voice", "knife crime prevention", "holiday activities",
    "scouts", "girlguiding", "duke of edinburgh", "careers advice", "apprenticeships", "coding club",
    "chess club", "debating", "youth football", "boxing", "dance", "street art",
    # arts and culture
    "community choir", "music lessons", "brass band", "steel band", "theatre", "film screenings",
    "photography", "creative writing", "book club", "poetry", "painting", "pottery", "knitting",
    "sewing", "crafts", "festivals", "carnival", "community radio", "local newspaper", "oral history",
    "museum volunteering", "heritage open days", "open studios", "murals", "dance classes",
    # sport and activity
    "running club", "parkrun", "walking football", "cricket", "netball", "swimming", "yoga", "tai chi",
    "chair exercise", "table tennis", "badminton", "martial arts", "rowing", "cycling lessons",
    "bike repair", "skateboarding", "climbing", "bowls",
    # faith and community
    "interfaith dialogue", "faith community", "mosque open days", "church hall", "gurdwara langar",
    "temple events", "community events", "volunteering", "fundraising", "community centre",
    "room hire", "transport", "community minibus", "shopping help", "prescription collection",
    "welcome spaces", "warm spaces", "cost of living", "fuel poverty", "period poverty",
    "community organising", "campaigning", "local democracy", "voter registration", "ward forums",
    "participatory budgeting", "community research", "translation", "interpreting", "social prescribing",
]
assert len(TOPICS) >= 200, len(TOPICS)

KIND_NAMES = {
    "residents-association": ["{p} Residents' Association", "{s} Estate Residents", "{p} Residents Forum"],
    "tenants-association": ["{p} Tenants' Association", "{s} House Tenants and Residents", "{p} TRA"],
    "friends-group": ["Friends of {p} Park", "Friends of {p} Library", "Friends of {s} Green",
                      "Friends of {p} Common"],
    "food-project": ["{p} Food Bank", "{p} Community Fridge", "{p} Community Kitchen", "{s} Street Pantry"],
    "mutual-aid-group": ["{p} Mutual Aid", "{s} Neighbours Network", "{p} Good Neighbours"],
    "youth-group": ["{p} Youth Club", "{p} Young People's Forum", "{s} Youth Project"],
    "sports-club": ["{p} Running Club", "{p} Community Football Club", "{p} Cricket Club", "{s} Boxing Club"],
    "arts-group": ["{p} Community Choir", "{p} Arts Collective", "{s} Theatre Group", "{p} Photography Club"],
    "environmental-group": ["{p} Climate Action", "{p} Tree Wardens", "{s} Wildlife Group", "{p} Repair Cafe"],
    "faith-group": ["{p} Interfaith Forum", "St {sa}'s Community Project", "{p} Mosque Community Association",
                    "{p} Gurdwara Seva Group"],
    "civic-network": ["{b} Voluntary Action", "{p} Community Network", "{b} Community Hub"],
    "charity": ["{p} Community Trust", "{p} Advice Centre", "{s} Foundation"],
    "social-enterprise": ["{p} Community Interest Company", "{s} Bike Workshop", "{p} Co-operative Cafe"],
    "volunteer-centre": ["{b} Volunteer Centre", "{p} Volunteering Hub"],
    "community-group": ["{p} Community Association", "{s} Street Group", "{p} Over-60s Club",
                        "{p} Women's Group"],
}
KINDS = list(KIND_NAMES)
STREETS = ["Marsh Gate", "Church", "High", "Station", "Victoria", "Albert", "Mill", "Park", "Chestnut",
           "Elm", "Oak", "Willow", "Cedar", "Queens", "Kings", "Grove", "Manor", "Priory", "Abbey",
           "Orchard", "Brook", "Canal", "Wharf", "Bridge", "Market", "Windmill", "Forest", "Meadow"]
STREET_TYPES = ["Road", "Street", "Lane", "Avenue", "Close", "Gardens", "Way", "Terrace"]
SAINTS = ["Mary", "John", "Paul", "Peter", "Michael", "Luke", "Margaret", "Anne", "James", "Andrew"]
VENUES = ["Community Room", "Community Centre", "Church Hall", "Library", "Youth Centre", "Tenants' Hall",
          "Pavilion", "Neighbourhood Centre"]
LANGUAGES = ["English", "Bengali", "Urdu", "Polish", "Turkish", "Somali", "Portuguese", "Arabic",
             "Gujarati", "Romanian", "Spanish", "Tamil", "Yoruba", "Twi", "Lithuanian"]

OFFERS = {
    "meeting-space": [("Community room for hire", "Seats {k}, step-free, kitchen. Weekday evenings."),
                      ("Hall free for other groups", "Our hall is free on {d} mornings for local groups.")],
    "equipment": [("Gazebos and tables to lend", "Two gazebos, six trestle tables and a PA system."),
                  ("Tools to borrow", "Gardening tools, a ladder and a pressure washer, by arrangement.")],
    "food": [("Surplus food to share", "Fresh surplus collected {d}s; other groups welcome to a share."),
             ("Hot meals for events", "We can cook for up to {k} people for community events.")],
    "skills": [("Help with funding bids", "Experienced volunteers read and improve small grant bids."),
               ("Translation help", "Volunteers who speak {l} can help with leaflets and meetings.")],
    "training": [("First aid training", "Free one-day first aid course for volunteers, {k} places."),
                 ("Safeguarding training", "Basic safeguarding training for small groups, twice a year.")],
    "transport": [("Community minibus", "A {k}-seat accessible minibus with a trained driver.")],
    "mentoring": [("Mentoring for new groups", "We pair new groups with an experienced organiser.")],
    "funding-advice": [("Funding advice sessions", "Monthly drop-in on grants, budgets and accounts.")],
    "volunteers": [("Volunteers for your event", "Our members can help set up and run local events.")],
    "other": [("Noticeboard space", "Space on our noticeboard and in our monthly newsletter.")],
}
NEEDS = {
    "volunteers": [("Volunteers on {d}s", "Two hours a week helping at our {t} sessions."),
                   ("Treasurer", "A volunteer to keep our accounts, about two hours a month.")],
    "meeting-space": [("Room for monthly meetings", "A step-free room for {k} people one evening a month.")],
    "equipment": [("A laptop and projector", "For our {t} workshops; a loan would do.")],
    "funding-advice": [("Help with a grant application", "We are applying for money for {t}.")],
    "skills": [("A volunteer with web skills", "To keep our profile and website up to date.")],
    "food": [("Fresh food donations", "For our {t} on {d}s.")],
    "transport": [("Van for a day", "To move furniture for our {t} project.")],
    "training": [("Food hygiene training", "For the volunteers who run our {t}.")],
    "mentoring": [("A mentor for our committee", "Someone who has run a charity to advise us.")],
    "other": [("Storage space", "A lock-up or cupboard for our equipment near {p}.")],
}
SLOGANS = ["Neighbours helping neighbours in {p}", "Making {p} a better place to live",
           "{t} for everyone in {p}", "Small group, big heart", "Run by local people, for local people"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
LINK_PROPS = ("linkedTo", "vouchesFor")
BRANCHING = 4


def _zipf_weights(n: int, s: float = 0.9) -> list:
    return [1.0 / (r + 1) ** s for r in range(n)]


_TOPIC_WEIGHTS = _zipf_weights(len(TOPICS))
_TOPIC_CUM = []
_acc = 0.0
for _w in _TOPIC_WEIGHTS:
    _acc += _w
    _TOPIC_CUM.append(_acc)


@dataclass
class Federation:
    """A federation of ``n`` groups; ``hosts`` > 0 puts them on that many shared hosts."""

    n: int
    port: int = 80
    seed: int = SEED
    hosts: int = 0                  # 0: distinct layout (one host per group)
    scheme: str = "http"

    def __post_init__(self):
        self.width = max(5, len(str(max(self.n - 1, 0))))
        self._links: dict | None = None

    # ------------------------------------------------------------------ names
    @property
    def layout(self) -> str:
        return "shared" if self.hosts else "distinct"

    def host(self, i: int) -> str:
        if self.hosts:
            return f"s{i % self.hosts:02d}.{DOMAIN}"
        return f"g{i:0{self.width}d}.{DOMAIN}"

    def path(self, i: int) -> str:
        return f"/g/{i:0{self.width}d}.jsonld" if self.hosts else "/"

    def origin(self, i: int) -> str:
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{self.host(i)}{port}"

    def doc_url(self, i: int) -> str:
        return self.origin(i) + self.path(i)

    def iri(self, i: int) -> str:
        return self.doc_url(i) + "#group"

    def all_hosts(self) -> list:
        return [self.host(i) for i in range(self.hosts)] if self.hosts else [self.host(i) for i in range(self.n)]

    def resolve_map(self, address: str = "127.0.0.1") -> dict:
        return {(h, self.port): address for h in self.all_hosts()}

    def seeds(self) -> list:
        return [self.doc_url(0)]

    def file_path(self, root: Path, i: int) -> Path:
        """Where the static server finds group i: ``root/<host>/index.jsonld`` or ``root/<host>/g/NNNNN.jsonld``."""
        sub = "index.jsonld" if self.path(i) == "/" else self.path(i).lstrip("/")
        return Path(root) / self.host(i) / sub

    # ------------------------------------------------------------------ links
    def links(self, i: int) -> list:
        """[(property, target index)]: the tree links, then random extras up to 2-5 in all."""
        if self._links is None:
            self._links = {}
        got = self._links.get(i)
        if got is not None:
            return got
        rng = random.Random(f"{self.seed}:{self.n}:links:{i}")
        out = []
        if i > 0:
            out.append(("memberOf", (i - 1) // BRANCHING))
        for c in range(BRANCHING * i + 1, min(BRANCHING * i + BRANCHING + 1, self.n)):
            out.append(("member", c))
        want = rng.randint(2, 5)
        used = {j for _, j in out} | {i}
        tries = 0
        while len(out) < want and len(used) < self.n and tries < 50:
            tries += 1
            j = rng.randrange(self.n)
            if j in used:
                continue
            used.add(j)
            out.append((rng.choice(LINK_PROPS), j))
        self._links[i] = out
        return out

    def depth_from_seed(self) -> int:
        """Longest shortest path (in links) from group 0: the crawl's max depth."""
        depth = [-1] * self.n
        depth[0] = 0
        todo = deque([0])
        while todo:
            i = todo.popleft()
            for _, j in self.links(i):
                if depth[j] < 0:
                    depth[j] = depth[i] + 1
                    todo.append(j)
        if min(depth) < 0:
            raise AssertionError("the federation is not connected from group 0")
        return max(depth)

    # ------------------------------------------------------------------ profiles
    def profile(self, i: int) -> dict:
        rng = random.Random(f"{self.seed}:group:{i}")
        place, borough, lat0, lon0, district = PLACES[rng.randrange(len(PLACES))]
        kind = KINDS[rng.randrange(len(KINDS))]
        street = rng.choice(STREETS)
        name = rng.choice(KIND_NAMES[kind]).format(p=place, s=street, b=borough, sa=rng.choice(SAINTS))
        topics = _pick_topics(rng, rng.randint(3, 5))
        host = self.host(i)
        site = self.origin(i) + ("/" if self.path(i) == "/" else self.path(i).rsplit(".", 1)[0] + "/")
        lat = min(max(lat0 + rng.uniform(-0.018, 0.018), BBOX[0]), BBOX[2])
        lon = min(max(lon0 + rng.uniform(-0.028, 0.028), BBOX[1]), BBOX[3])
        street_name = f"{street} {rng.choice(STREET_TYPES)}"
        doc = {
            "@context": CONTEXT_IRI,
            "@id": self.iri(i),
            "@type": "NGO" if kind in ("charity", "social-enterprise") else "Organization",
            "name": name,
            "description": _description(rng, name, place, topics),
            "url": site,
            "slogan": rng.choice(SLOGANS).format(p=place, t=topics[0]),
            "email": f"hello@{host}",
            "logo": f"{site}images/logo.png",
            "additionalType": kind,
            "knowsAbout": topics,
            "foundingDate": f"{rng.randint(1965, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "location": {
                "@type": "Place",
                "name": f"{place} {rng.choice(VENUES)}",
                "address": {
                    "@type": "PostalAddress",
                    "streetAddress": f"{rng.randint(1, 240)} {street_name}",
                    "addressLocality": place,
                    "postalCode": f"{district} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                                  f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
                },
                "geo": {"@type": "GeoCoordinates", "latitude": round(lat, 5), "longitude": round(lon, 5)},
            },
            "areaServed": [{"@type": "AdministrativeArea", "name": f"{place} ward"}]
            + ([{"@type": "AdministrativeArea", "name": f"London Borough of {borough}"}] if rng.random() < 0.5 else []),
            "contactPoint": {
                "@type": "ContactPoint",
                "contactType": "first point of contact",
                "email": f"{rng.choice(['secretary', 'chair', 'info', 'volunteers'])}@{host}",
                "availableLanguage": ["English"] + rng.sample(LANGUAGES[1:], rng.randint(0, 1)),
            },
            "sameAs": [f"https://www.facebook.com/{host.split('.')[0]}.{place.lower().replace(' ', '')}.example"],
        }
        by_prop: dict = {}
        for prop, j in self.links(i):
            by_prop.setdefault(prop, []).append(self.iri(j))
        for prop, targets in by_prop.items():
            doc[prop] = targets[0] if len(targets) == 1 else targets
        offers = []
        for _ in range(rng.choice((0, 1, 1, 2))):
            cat = rng.choice(list(OFFERS))
            offers.append(_offer(rng, "Offer", cat, OFFERS[cat], place, topics))
        if offers:
            doc["makesOffer"] = offers
        needs = []
        for _ in range(rng.choice((0, 0, 1, 1, 2)) if len(offers) < 2 else 0):
            cat = rng.choice(list(NEEDS))
            needs.append(_offer(rng, "Demand", cat, NEEDS[cat], place, topics))
        if needs:
            doc["seeks"] = needs
        doc["license"] = "https://creativecommons.org/publicdomain/zero/1.0/"
        return doc

    def body(self, i: int) -> bytes:
        return json.dumps(self.profile(i), indent=2, ensure_ascii=False).encode("utf-8")

    # ------------------------------------------------------------------ on disk
    def write(self, root, *, mtime: float = 1_700_000_000.0) -> int:
        """Write every profile under ``root`` for the static server; return total bytes.

        A fixed mtime keeps nginx's ETag (mtime-size) the same on every run.
        """
        total = 0
        made = set()
        for i in range(self.n):
            p = self.file_path(root, i)
            if p.parent not in made:
                p.parent.mkdir(parents=True, exist_ok=True)
                made.add(p.parent)
            data = self.body(i)
            p.write_bytes(data)
            os.utime(p, (mtime, mtime))
            total += len(data)
        return total


def _pick_topics(rng: random.Random, k: int) -> list:
    out = []
    while len(out) < k:
        x = rng.random() * _TOPIC_CUM[-1]
        lo, hi = 0, len(_TOPIC_CUM) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if _TOPIC_CUM[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        t = TOPICS[lo]
        if t not in out:
            out.append(t)
    return out


def _description(rng: random.Random, name: str, place: str, topics: list) -> str:
    first = rng.choice([
        f"{name} brings neighbours in {place} together around {topics[0]} and {topics[1]}.",
        f"We are a volunteer-run group in {place} working on {topics[0]}, {topics[1]} and {topics[2]}.",
        f"Set up by local residents, we run {topics[0]} sessions across {place} and nearby.",
    ])
    more = [
        "Everyone is welcome; sessions are free and step-free access is available.",
        f"We meet every {rng.choice(DAYS)} and work closely with other groups in the area.",
        f"Our volunteers speak several languages and can help with {topics[-1]}.",
        "We are always looking for new volunteers and ideas from people who live locally.",
        f"Last year we supported more than {rng.randint(40, 900)} local people.",
        f"You can find us at our {rng.choice(VENUES).lower()} in {place}, near the bus stop and the shops.",
        "Our committee is elected every year at an open meeting; minutes are on our website.",
        "We are funded by small grants, local businesses and our own fundraising.",
        "New members can just turn up to a session or send us an email; there is no waiting list.",
        "We share what we learn with other groups and are happy to help anyone starting something similar.",
        f"In {rng.randint(2015, 2025)} we won a borough award for our work on {topics[1]}.",
        "Children and families are welcome, and we can arrange help for anyone who finds it hard to get here.",
    ]
    return " ".join([first] + rng.sample(more, rng.randint(5, 9)))


def _offer(rng, typ, cat, choices, place, topics) -> dict:
    title, text = rng.choice(choices)
    fill = dict(k=rng.choice([12, 20, 30, 45, 60]), d=rng.choice(DAYS), l=rng.choice(LANGUAGES[1:]),
                t=topics[0], p=place)
    item = {"@type": typ, "name": title.format(**fill), "description": text.format(**fill), "category": cat}
    if rng.random() < 0.7:
        item["validThrough"] = f"{rng.randint(2026, 2028)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return item
