"""The aggregator geocodes groups that give a postcode but no coordinates (issue 14).

After each crawl, groups whose own graph has a postal code and no ``geo`` position are
looked up with a postcodes.io-compatible geocoder (``Settings.geocoder``; ``off`` turns it
off): ``GET /postcodes/<postcode>`` for one, the bulk ``POST /postcodes`` for several (at most
``geocoder_batch`` a request). Answers (found or unknown) are cached in the aggregator's own
graph, so a postcode is asked for once. What is derived (a position, from which postcode,
when, by this aggregator) goes in that graph too (``GEO_GRAPH``), never in the group's graph;
the text index and the map read it (``service.Aggregator.refresh``). An unknown postcode or
a geocoder that cannot be reached leaves the group off the map with a plain note on its
source's health (``SourceRecord.geocode_note``); the crawl itself never fails for it.

Every group that gives a postcode (with a position of its own or not) also gets the areas of
its postcode's answer (issue 15): its ward, with the ward's local authority and region, kept
as ``hubnet:ward``/``hubnet:district``/``hubnet:region`` ("code<TAB>name") on the cached answer
and one membership record per group (``hubnet:postcodeOf``); ``derived_areas`` reads them for
the index (``via: "postcode"``, crawler/store/areas.py). The answer's areas are untrusted: only
GSS codes with a short name are kept (``vocab.postcodes``), anything else is left out and logged.

The geocoder is a URL the operator configured: it is connected to whatever its address
(loopback included), but only it, with the fetcher's other rules: no redirects followed, no
proxies or cookies, the crawl's time limits, and a bounded answer (``geocoder_max_body``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
import pyoxigraph as ox

from hubnet.vocab import postcodes
from hubnet.vocab.model import GROUP_TYPES, HUBNET, PROV, SCHEMA
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.areas import MAX_NAME, region_code
from hubnet.crawler.store.graph import GRAPH_STATUSES, PROV_GRAPH, Store, now

log = logging.getLogger(__name__)

GEO_GRAPH = "https://w3id.org/hubnet/graph/geocoded"
AGGREGATOR = ox.NamedNode("https://w3id.org/hubnet/agent/aggregator")
_G = ox.NamedNode(GEO_GRAPH)
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


class GeocoderDown(Exception):
    """The geocoder could not be reached or gave no usable answer (the message says which).

    ``answers`` holds what earlier bulk requests of the same lookup did answer: they are used."""

    def __init__(self, message: str, answers: dict | None = None):
        super().__init__(message)
        self.answers = answers or {}


def _iri(kind: str, key: str) -> ox.NamedNode:
    return ox.NamedNode(f"{GEO_GRAPH}/{kind}/{hashlib.sha256(key.encode()).hexdigest()[:24]}")


def _n(term: str) -> ox.NamedNode:
    return ox.NamedNode(term)


# --------------------------------------------------------------------------- what is wanted
def wanted(store: Store) -> dict:
    """{group IRI: (source URL, postcode text, has a position of its own)} for groups with a postal code.

    All of them are looked up for their postcode's areas; only those without a position get one."""
    s = SCHEMA
    q = f"""
SELECT ?src ?status ?g ?pc ?located WHERE {{
  GRAPH <{PROV_GRAPH.value}> {{ ?src <{HUBNET}graph> ?graph ; <{HUBNET}status> ?status }}
  GRAPH ?graph {{
    ?g a ?type ; (<{s}location>/<{s}address>?|<{s}address>)/<{s}postalCode> ?pc .
    VALUES ?type {{ {" ".join(f"<{t}>" for t in GROUP_TYPES)} }}
    BIND(EXISTS {{ ?g <{s}location>/<{s}geo>?/<{s}latitude> ?lat }} AS ?located)
  }}
  FILTER(isIRI(?g) && isLiteral(?pc))
}}"""
    out: dict = {}
    for sol in store.query(q):
        if sol["status"].value in GRAPH_STATUSES:
            out.setdefault(sol["g"].value, (sol["src"].value, sol["pc"].value, sol["located"].value == "true"))
    return out


@dataclass(frozen=True)
class Answer:
    """A found postcode: its position and its areas, each (code, name) or None."""

    lat: float
    lon: float
    ward: tuple | None = None
    district: tuple | None = None
    region: tuple | None = None


AREA_FIELDS = ("ward", "district", "region")
LEVELS = ("ward", "borough", "region")   # the levels of AREA_FIELDS in the area tree (store/areas.py)
# The GSS prefixes of each level (ONS's register of entity codes): a ward is never taken for a district.
PREFIXES = (("E05", "W05", "S13", "N08"), ("E06", "E07", "E08", "E09", "W06", "S12", "N09"), ("E12",))


def cached(store: Store, codes) -> dict:
    """{postcode: Answer or None for unknown} of the answers already in the aggregator's graph.

    A found answer cached before areas were read from answers (no ``hubnet:areasRead``) counts
    as not cached, so it is asked once more."""
    out = {}
    for code in codes:
        node = _iri("postcode", code)
        answer = {q.predicate.value: q.object.value for q in store.oxigraph.quads_for_pattern(node, None, None, _G)}
        if HUBNET + "postcodeAnswer" not in answer:
            continue
        if answer[HUBNET + "postcodeAnswer"] != "found":
            out[code] = None
        elif HUBNET + "areasRead" in answer:
            out[code] = Answer(float(answer[SCHEMA + "latitude"]), float(answer[SCHEMA + "longitude"]),
                               **{f: _pair(answer.get(HUBNET + f)) for f in AREA_FIELDS})
    return out


def _pair(text):
    if not text:
        return None
    code, _, name = text.partition("\t")
    return (code, name)


# --------------------------------------------------------------------------- asking the geocoder
async def lookup(codes: list, settings: Settings) -> dict:
    """{postcode: Answer or None (unknown)}; GeocoderDown if the geocoder cannot answer."""
    base = settings.geocoder.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=settings.total_timeout, sock_connect=settings.connect_timeout,
                                    sock_read=settings.read_timeout)
    headers = {"User-Agent": settings.user_agent, "Accept": "application/json"}
    out: dict = {}
    try:
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False, headers=headers,
                                         cookie_jar=aiohttp.DummyCookieJar()) as session:
            if len(codes) == 1:
                body = await _ask(session.get(f"{base}/postcodes/{quote(codes[0], safe='')}",
                                              allow_redirects=False), settings, single=True)
                out[codes[0]] = _position(codes[0], body.get("result"))
                return out
            for i in range(0, len(codes), settings.geocoder_batch):
                chunk = codes[i:i + settings.geocoder_batch]
                body = await _ask(session.post(f"{base}/postcodes", json={"postcodes": chunk},
                                               allow_redirects=False), settings)
                answers = body.get("result")
                if not isinstance(answers, list):
                    raise GeocoderDown("its bulk answer holds no result list")
                for item in answers:
                    if isinstance(item, dict) and item.get("query") in chunk:
                        out[item["query"]] = _position(item["query"], item.get("result"))
    except GeocoderDown as exc:
        raise GeocoderDown(str(exc), out) from None
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise GeocoderDown(f"it could not be reached ({type(exc).__name__}: {exc})", out) from None
    return out


async def _ask(request, settings: Settings, *, single: bool = False) -> dict:
    async with request as resp:
        if single and resp.status == 404:
            return {"result": None}   # postcodes.io: "Postcode not found" (or "Invalid postcode")
        if resp.status != 200:
            raise GeocoderDown(f"it answered HTTP {resp.status}")
        data = await _read_bounded(resp, settings.geocoder_max_body)
    try:
        body = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise GeocoderDown("its answer is not JSON") from None
    if not isinstance(body, dict):
        raise GeocoderDown("its answer is not a JSON object")
    return body


async def _read_bounded(resp, limit: int) -> bytes:
    """The whole body, to its end, or GeocoderDown past ``limit`` bytes. (``content.read(n)`` is not
    this: it returns what has arrived so far, so an answer that comes in pieces was cut short.)"""
    data = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise GeocoderDown(f"its answer is larger than {limit} bytes")
    return bytes(data)


def _position(code: str, result) -> Answer | None:
    """The answer checked as untrusted input by the same code as the node's (vocab.postcodes): a
    position, and the ward (then its district, then the district's region) when each is a GSS code
    of its level's prefixes with a short name. Areas that are not are left out, and logged."""
    if not isinstance(result, dict):
        return None
    place = postcodes.place_from_result(code, result, "urn:x-unused:group")
    if place.latitude is None:
        return None
    found = {a["@id"].rsplit("#area-", 1)[-1]: (a["identifier"], _clean(a["name"])) for a in place.areas}
    region = (region_code(place.region), _clean(place.region)) if region_code(place.region) else None
    kept: list = []
    for pair, prefixes in zip([found.get("ward"), found.get("district"), region], PREFIXES):
        if pair is None or not pair[1] or not pair[0].startswith(prefixes):
            break   # the chain stops at the first missing or unusable level
        kept.append(pair)
    level = AREA_FIELDS[len(kept)] if len(kept) < 3 else None
    if level and result.get({"ward": "admin_ward", "district": "admin_district"}.get(level, level)):
        log.info("the postcode lookup's answer for %s: its %s and the areas above it are left out (each must be "
                 "a GSS code of its level with a name of at most %d characters, a region one of England's): %.300r",
                 code, level, MAX_NAME, {f: result.get(f) for f in ("admin_ward", "admin_district", "region", "codes")})
    kept += [None] * (3 - len(kept))
    return Answer(place.latitude, place.longitude, *kept)


def _clean(text: str) -> str:
    """One line, no control characters (names are shown on pages and in CSV)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:MAX_NAME]


# --------------------------------------------------------------------------- one pass after a crawl
async def geocode(store: Store, settings: Settings, run_in_writer) -> dict:
    """Geocode what needs it; write cache, positions and notes with ``run_in_writer(fn)``. Returns counts."""
    todo = await run_in_writer(wanted, store)
    codes, notes = {}, {}
    for group, (src, text, located) in todo.items():
        try:
            codes[group] = postcodes.normalise(text)
        except ValueError as exc:
            if not located:
                notes[src] = f"not on the map: the postcode {exc}"
    known = await run_in_writer(cached, store, sorted(set(codes.values())))
    ask = sorted(set(codes.values()) - set(known))
    answers: dict = {}
    down = None
    if ask:
        try:
            answers = await lookup(ask, settings)
        except GeocoderDown as exc:
            answers = exc.answers   # what the requests before the failing one answered is kept
            down = f"not on the map yet: the postcode lookup ({settings.geocoder}) {exc}; the hub tries again " \
                   "at its next crawl"
            log.warning("the postcode lookup at %s failed (%s): %d of %d postcodes not looked up; they are asked "
                        "again at the next crawl", settings.geocoder, exc, len(set(ask) - set(answers)), len(ask))
    for group, code in codes.items():
        src, _, located = todo[group]
        if located:
            continue
        if code in known or code in answers:
            if (known.get(code) if code in known else answers.get(code)) is None:
                notes[src] = f"not on the map: the postcode lookup does not know the postcode {code}"
        elif down:
            notes[src] = down
    await run_in_writer(_write, store, todo, codes, known, answers, notes)
    return {"groups": len(todo), "asked": len(ask), "down": bool(down), "notes": len(notes)}


def _literal(value: float) -> ox.Literal:
    return ox.Literal(repr(value), datatype=_n(XSD + "double"))


def _write(store: Store, todo: dict, codes: dict, known: dict, answers: dict, notes: dict) -> None:
    stamp = ox.Literal(now(), datatype=ox.NamedNode(XSD + "dateTime"))
    adds, removes = [], []
    for code, found in answers.items():   # the cache: asked once (an answer cached without its areas, again)
        node = _iri("postcode", code)
        removes += list(store.oxigraph.quads_for_pattern(node, None, None, _G))
        adds += [ox.Quad(node, _n(HUBNET + "postalCode"), ox.Literal(code), _G),
                 ox.Quad(node, _n(HUBNET + "postcodeAnswer"), ox.Literal("found" if found else "unknown"), _G),
                 ox.Quad(node, _n(PROV + "generatedAtTime"), stamp, _G)]
        if found:
            adds += [ox.Quad(node, _n(SCHEMA + "latitude"), _literal(found.lat), _G),
                     ox.Quad(node, _n(SCHEMA + "longitude"), _literal(found.lon), _G),
                     ox.Quad(node, _n(HUBNET + "areasRead"), ox.Literal("true"), _G)]
            adds += [ox.Quad(node, _n(HUBNET + f), ox.Literal(f"{pair[0]}\t{pair[1]}"), _G)
                     for f in AREA_FIELDS if (pair := getattr(found, f))]
    answered = {**known, **answers}
    want = {group: code for group, code in codes.items() if answered.get(code) and not todo[group][2]}
    removes += _derived(store, HUBNET + "forGroup", want, ("-geo",), (SCHEMA + "location",))
    for group, code in want.items():
        found = answered[code]
        place, g = _iri("place", group), _n(group)
        geo = ox.NamedNode(place.value + "-geo")
        adds += [ox.Quad(g, _n(SCHEMA + "location"), place, _G),
                 ox.Quad(place, _n(HUBNET + "forGroup"), g, _G),
                 ox.Quad(place, _n(RDF_TYPE), _n(SCHEMA + "Place"), _G),
                 ox.Quad(place, _n(SCHEMA + "geo"), geo, _G),
                 ox.Quad(geo, _n(SCHEMA + "latitude"), _literal(found.lat), _G),
                 ox.Quad(geo, _n(SCHEMA + "longitude"), _literal(found.lon), _G),
                 ox.Quad(place, _n(HUBNET + "fromPostcode"), ox.Literal(code), _G),
                 ox.Quad(place, _n(PROV + "wasAttributedTo"), AGGREGATOR, _G),
                 ox.Quad(place, _n(PROV + "wasDerivedFrom"), _iri("postcode", code), _G),
                 ox.Quad(place, _n(PROV + "generatedAtTime"), stamp, _G)]
    # The areas of every group's postcode (a position of its own or not): one record per group.
    in_areas = {group: code for group, code in codes.items() if answered.get(code) and answered[code].ward}
    removes += _derived(store, HUBNET + "postcodeOf", in_areas)
    for group, code in in_areas.items():
        record = _iri("areas", group)
        adds += [ox.Quad(record, _n(HUBNET + "postcodeOf"), _n(group), _G),
                 ox.Quad(record, _n(HUBNET + "fromPostcode"), ox.Literal(code), _G),
                 ox.Quad(record, _n(PROV + "wasAttributedTo"), AGGREGATOR, _G),
                 ox.Quad(record, _n(PROV + "wasDerivedFrom"), _iri("postcode", code), _G),
                 ox.Quad(record, _n(PROV + "generatedAtTime"), stamp, _G)]
    store.write_own_graph(removes, adds)
    noted = {q.subject.value for q in store.oxigraph.quads_for_pattern(None, _n(HUBNET + "geocodeNote"), None,
                                                                         PROV_GRAPH)}
    sources = {src for src, _, _ in todo.values()} | set(notes) | noted   # | noted: clear notes that no longer hold
    for url in sources:
        rec = store.source(url)
        if rec is not None and rec.geocode_note != notes.get(url):
            rec.geocode_note = notes.get(url)
            store.update_record(rec)


def _derived(store: Store, link: str, want: dict, suffixes=(), back=()) -> list:
    """The quads of derived records (``?record <link> ?group``) that no longer hold; a record that still
    holds (same group, same postcode) stays as it is, and its group is taken out of ``want``."""
    removes = []
    for q in store.oxigraph.quads_for_pattern(None, _n(link), None, _G):
        group = q.object.value
        held = next(store.oxigraph.quads_for_pattern(q.subject, _n(HUBNET + "fromPostcode"), None, _G), None)
        if held is not None and want.get(group) == held.object.value:
            del want[group]
            continue
        removes += list(store.oxigraph.quads_for_pattern(q.subject, None, None, _G))
        for suffix in suffixes:
            removes += list(store.oxigraph.quads_for_pattern(ox.NamedNode(q.subject.value + suffix), None, None, _G))
        removes += [ox.Quad(q.object, _n(p), q.subject, _G) for p in back]
    return removes


def derived_positions(store: Store) -> dict:
    """{group IRI: (lat, lon)} of every position this aggregator derived (for the index)."""
    out = {}
    for q in store.oxigraph.quads_for_pattern(None, _n(HUBNET + "forGroup"), None, _G):
        geo = ox.NamedNode(q.subject.value + "-geo")
        vals = {t.predicate.value: t.object.value for t in store.oxigraph.quads_for_pattern(geo, None, None, _G)}
        try:
            out[q.object.value] = (float(vals[SCHEMA + "latitude"]), float(vals[SCHEMA + "longitude"]))
        except (KeyError, ValueError):
            continue
    return out


def derived_areas(store: Store) -> tuple[dict, dict]:
    """The areas of groups' postcodes, for the index: ({code: (name, level, parent code)} learned from
    the answers, {group IRI: ward code}). Each level's codes have their own prefixes (``_position``),
    so a parent is always a level up and the tree has no circle."""
    answers: dict = {}
    members: dict = {}
    for q in store.oxigraph.quads_for_pattern(None, _n(HUBNET + "postcodeOf"), None, _G):
        held = next(store.oxigraph.quads_for_pattern(q.subject, _n(HUBNET + "fromPostcode"), None, _G), None)
        if held is None:
            continue
        code = held.object.value
        if code not in answers:
            answers[code] = cached(store, [code]).get(code)
        if answers[code] is not None and answers[code].ward:
            members[q.object.value] = answers[code].ward[0]
    learned: dict = {}
    for _, found in sorted(answers.items()):
        chain = [getattr(found, f) for f in AREA_FIELDS] if found else []
        for i, (pair, level) in enumerate(zip(chain, LEVELS)):
            if pair is None:
                break
            parent = chain[i + 1][0] if i < 2 and chain[i + 1] else None
            entry = (pair[1], level, parent)   # two answers disagreeing: the least, whatever their order
            if pair[0] not in learned or entry < learned[pair[0]]:
                learned[pair[0]] = entry
    return learned, members
