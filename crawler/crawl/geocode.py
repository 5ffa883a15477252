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

The geocoder is a URL the operator configured: it is connected to whatever its address
(loopback included), but only it, with the fetcher's other rules: no redirects followed, no
proxies or cookies, the crawl's time limits, and a bounded answer (``geocoder_max_body``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from urllib.parse import quote

import aiohttp
import pyoxigraph as ox

from hubnet.vocab import postcodes
from hubnet.vocab.model import GROUP_TYPES, HUBNET, PROV, SCHEMA
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import GRAPH_STATUSES, PROV_GRAPH, Store, now

log = logging.getLogger(__name__)

GEO_GRAPH = "https://w3id.org/hubnet/graph/geocoded"
AGGREGATOR = ox.NamedNode("https://w3id.org/hubnet/agent/aggregator")
_G = ox.NamedNode(GEO_GRAPH)
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


class GeocoderDown(Exception):
    """The geocoder could not be reached or gave no usable answer (the message says which)."""


def _iri(kind: str, key: str) -> ox.NamedNode:
    return ox.NamedNode(f"{GEO_GRAPH}/{kind}/{hashlib.sha256(key.encode()).hexdigest()[:24]}")


def _n(term: str) -> ox.NamedNode:
    return ox.NamedNode(term)


# --------------------------------------------------------------------------- what is wanted
def wanted(store: Store) -> dict:
    """{group IRI: (source URL, postcode text)} for groups with a postal code and no position of their own."""
    s = SCHEMA
    q = f"""
SELECT ?src ?status ?g ?pc WHERE {{
  GRAPH <{PROV_GRAPH.value}> {{ ?src <{HUBNET}graph> ?graph ; <{HUBNET}status> ?status }}
  GRAPH ?graph {{
    ?g a ?type ; (<{s}location>/<{s}address>?|<{s}address>)/<{s}postalCode> ?pc .
    VALUES ?type {{ {" ".join(f"<{t}>" for t in GROUP_TYPES)} }}
    FILTER NOT EXISTS {{ ?g <{s}location>/<{s}geo>?/<{s}latitude> ?lat }}
  }}
  FILTER(isIRI(?g) && isLiteral(?pc))
}}"""
    out: dict = {}
    for sol in store.query(q):
        if sol["status"].value in GRAPH_STATUSES:
            out.setdefault(sol["g"].value, (sol["src"].value, sol["pc"].value))
    return out


def cached(store: Store, codes) -> dict:
    """{postcode: (lat, lon) or None for unknown} of the answers already in the aggregator's graph."""
    out = {}
    for code in codes:
        node = _iri("postcode", code)
        answer = {q.predicate.value: q.object.value for q in store.oxigraph.quads_for_pattern(node, None, None, _G)}
        if HUBNET + "postcodeAnswer" in answer:
            found = answer[HUBNET + "postcodeAnswer"] == "found"
            out[code] = (float(answer[SCHEMA + "latitude"]), float(answer[SCHEMA + "longitude"])) if found else None
    return out


# --------------------------------------------------------------------------- asking the geocoder
async def lookup(codes: list, settings: Settings) -> dict:
    """{postcode: (lat, lon) or None (unknown)}; GeocoderDown if the geocoder cannot answer."""
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
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise GeocoderDown(f"it could not be reached ({type(exc).__name__}: {exc})") from None
    return out


async def _ask(request, settings: Settings, *, single: bool = False) -> dict:
    async with request as resp:
        if single and resp.status == 404:
            return {"result": None}   # postcodes.io: "Postcode not found" (or "Invalid postcode")
        if resp.status != 200:
            raise GeocoderDown(f"it answered HTTP {resp.status}")
        data = await resp.content.read(settings.geocoder_max_body + 1)
        if len(data) > settings.geocoder_max_body:
            raise GeocoderDown(f"its answer is larger than {settings.geocoder_max_body} bytes")
    try:
        body = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise GeocoderDown("its answer is not JSON") from None
    if not isinstance(body, dict):
        raise GeocoderDown("its answer is not a JSON object")
    return body


def _position(code: str, result) -> tuple | None:
    """The answer checked as untrusted input by the same code as the node's (vocab.postcodes)."""
    if not isinstance(result, dict):
        return None
    place = postcodes.place_from_result(code, result, "urn:x-unused:group")
    return None if place.latitude is None else (place.latitude, place.longitude)


# --------------------------------------------------------------------------- one pass after a crawl
async def geocode(store: Store, settings: Settings, run_in_writer) -> dict:
    """Geocode what needs it; write cache, positions and notes with ``run_in_writer(fn)``. Returns counts."""
    todo = await run_in_writer(wanted, store)
    codes, notes = {}, {}
    for group, (src, text) in todo.items():
        try:
            codes[group] = postcodes.normalise(text)
        except ValueError as exc:
            notes[src] = f"not on the map: the postcode {exc}"
    known = await run_in_writer(cached, store, sorted(set(codes.values())))
    ask = sorted(set(codes.values()) - set(known))
    answers: dict = {}
    down = None
    if ask:
        try:
            answers = await lookup(ask, settings)
        except GeocoderDown as exc:
            down = f"not on the map yet: the postcode lookup ({settings.geocoder}) {exc}; the hub tries again " \
                   "at its next crawl"
    for group, code in codes.items():
        src = todo[group][0]
        if code in known or code in answers:
            if (known.get(code) if code in known else answers.get(code)) is None:
                notes[src] = f"not on the map: the postcode lookup does not know the postcode {code}"
        elif down:
            notes[src] = down
    await run_in_writer(_write, store, todo, codes, known, answers, notes)
    return {"groups": len(todo), "asked": len(ask), "down": bool(down), "notes": len(notes)}


def _write(store: Store, todo: dict, codes: dict, known: dict, answers: dict, notes: dict) -> None:
    stamp = ox.Literal(now(), datatype=ox.NamedNode(XSD + "dateTime"))
    adds, removes = [], []
    for code, pos in answers.items():   # the cache: asked once
        node = _iri("postcode", code)
        adds += [ox.Quad(node, _n(HUBNET + "postalCode"), ox.Literal(code), _G),
                 ox.Quad(node, _n(HUBNET + "postcodeAnswer"), ox.Literal("found" if pos else "unknown"), _G),
                 ox.Quad(node, _n(PROV + "generatedAtTime"), stamp, _G)]
        if pos:
            adds += [ox.Quad(node, _n(SCHEMA + "latitude"), ox.Literal(repr(pos[0]), datatype=_n(XSD + "double")), _G),
                     ox.Quad(node, _n(SCHEMA + "longitude"), ox.Literal(repr(pos[1]), datatype=_n(XSD + "double")),
                             _G)]
    positions = {**known, **answers}
    want = {group: code for group, code in codes.items() if positions.get(code)}
    # A derived position stays as it is while the group still gives the same postcode and no
    # position of its own; one for a group that now gives its own, changed postcode or left goes.
    for q in store.oxigraph.quads_for_pattern(None, _n(HUBNET + "forGroup"), None, _G):
        group = q.object.value
        held = next(store.oxigraph.quads_for_pattern(q.subject, _n(HUBNET + "fromPostcode"), None, _G), None)
        if held is not None and want.get(group) == held.object.value:
            del want[group]
            continue
        removes += list(store.oxigraph.quads_for_pattern(q.subject, None, None, _G))
        removes += list(store.oxigraph.quads_for_pattern(ox.NamedNode(q.subject.value + "-geo"), None, None, _G))
        removes += [ox.Quad(q.object, _n(SCHEMA + "location"), q.subject, _G)]
    for group, code in want.items():
        pos = positions[code]
        place, g = _iri("place", group), _n(group)
        geo = ox.NamedNode(place.value + "-geo")
        adds += [ox.Quad(g, _n(SCHEMA + "location"), place, _G),
                 ox.Quad(place, _n(HUBNET + "forGroup"), g, _G),
                 ox.Quad(place, _n(RDF_TYPE), _n(SCHEMA + "Place"), _G),
                 ox.Quad(place, _n(SCHEMA + "geo"), geo, _G),
                 ox.Quad(geo, _n(SCHEMA + "latitude"), ox.Literal(repr(pos[0]), datatype=_n(XSD + "double")), _G),
                 ox.Quad(geo, _n(SCHEMA + "longitude"), ox.Literal(repr(pos[1]), datatype=_n(XSD + "double")), _G),
                 ox.Quad(place, _n(HUBNET + "fromPostcode"), ox.Literal(code), _G),
                 ox.Quad(place, _n(PROV + "wasAttributedTo"), AGGREGATOR, _G),
                 ox.Quad(place, _n(PROV + "wasDerivedFrom"), _iri("postcode", code), _G),
                 ox.Quad(place, _n(PROV + "generatedAtTime"), stamp, _G)]
    store.write_own_graph(removes, adds)
    noted = {q.subject.value for q in store.oxigraph.quads_for_pattern(None, _n(HUBNET + "geocodeNote"), None,
                                                                         PROV_GRAPH)}
    sources = {src for src, _ in todo.values()} | set(notes) | noted   # | noted: clear notes that no longer hold
    for url in sources:
        rec = store.source(url)
        if rec is not None and rec.geocode_note != notes.get(url):
            rec.geocode_note = notes.get(url)
            store.update_record(rec)


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
