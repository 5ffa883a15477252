"""UK postcodes -> a place on the map and the official areas it lies in (no network here).

A postcodes.io-compatible geocoder (``GET /postcodes/<postcode>``) answers
``{"status": 200, "result": {...}}``; ``place_from_result`` turns that result
into coordinates and ``areaServed`` nodes, and ``apply`` writes them into a
profile. The group's node (``hubnet-node init``, the editor) and the aggregator
share this, so both derive the same areas from the same answer.

Each area is a node of the group's own (an ``@id`` on the group's site, e.g.
``https://ourgroup.org/#area-ward``) with the GSS code as ``identifier`` and
the ONS linked-data IRI as ``sameAs``: naming the node with the ONS IRI
itself would make the group's words statements about another site's subject,
which the authority rule drops.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from urllib.parse import urldefrag

ONS_GEOGRAPHY = "http://statistics.data.gov.uk/id/statistical-geography/"
GSS_CODE = re.compile(r"[A-Z][0-9]{8}")  # the same rule as shapes.ttl (shape:AreaDetail)
MAX_NAME = 200                            # shapes.ttl: an area's name
# The UK postcode format (outward code, then inward code: digit + two letters), e.g. E10 5AA, SW1A 1AA.
_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})")

# (the result's name field, its code field, the area node's fragment)
AREAS = (("admin_ward", "admin_ward", "area-ward"), ("admin_district", "admin_district", "area-district"))
OUR_FRAGMENTS = tuple(fragment for _, _, fragment in AREAS)


def normalise(text: str) -> str:
    """``" e105aa "`` -> ``"E10 5AA"``. Raises ValueError with a plain reason."""
    squeezed = re.sub(r"\s+", "", str(text or "")).upper()
    match = _POSTCODE.fullmatch(squeezed)
    if not match:
        raise ValueError(f"{str(text or '').strip()!r} is not a UK postcode (it should look like E10 5AA)")
    return f"{match.group(1)} {match.group(2)}"


@dataclass
class Place:
    postcode: str
    latitude: float | None = None
    longitude: float | None = None
    areas: list = field(default_factory=list)   # areaServed nodes, ward first
    region: str = ""

    def summary(self) -> list[str]:
        """What was found, in lines a volunteer can check before saving."""
        lines = []
        if self.latitude is not None:
            lines.append(f"on the map at {self.latitude:.5f}, {self.longitude:.5f}")
        for area in self.areas:
            lines.append(f"{area['name']} ({area['identifier']})")
        if self.region:
            lines.append(f"region: {self.region}")
        return lines


def _coordinate(value, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and -limit <= number <= limit else None


def _area_node(result: dict, codes: dict, name_key: str, code_key: str, fragment: str, base: str) -> dict | None:
    name, code = result.get(name_key), codes.get(code_key)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        return None
    if not isinstance(code, str) or not GSS_CODE.fullmatch(code):
        return None
    return {"@id": f"{base}#{fragment}", "@type": "AdministrativeArea", "name": name.strip(),
            "identifier": code, "sameAs": ONS_GEOGRAPHY + code}


def place_from_result(postcode: str, result, group_iri: str) -> Place:
    """A postcodes.io ``result`` -> Place, with area nodes named under the group's own address.

    The answer is checked as untrusted input: coordinates out of range, a name
    that is not a short text or a code that is not a GSS code are left out.
    """
    result = result if isinstance(result, dict) else {}
    codes = result.get("codes") if isinstance(result.get("codes"), dict) else {}
    base = urldefrag(group_iri)[0]
    lat, lon = _coordinate(result.get("latitude"), 90), _coordinate(result.get("longitude"), 180)
    if lat is None or lon is None:
        lat = lon = None
    areas = [a for a in (_area_node(result, codes, n, c, f, base) for n, c, f in AREAS) if a]
    region = result.get("region") if isinstance(result.get("region"), str) else ""
    return Place(normalise(postcode), lat, lon, areas, region[:MAX_NAME])


def _ours(area, base: str) -> bool:
    return isinstance(area, dict) and area.get("@id") in {f"{base}#{f}" for f in OUR_FRAGMENTS}


def apply(doc: dict, place: Place) -> dict:
    """A copy of the group ``doc`` with the postcode, its coordinates and its areas written in.

    The first ``location`` gets the postcode and (when found) the geo position;
    ``areaServed`` nodes written from an earlier postcode (or naming one of the
    same GSS codes) are replaced, any others the group wrote (an estate's
    name...) are kept after them.
    """
    doc = copy.deepcopy(doc)
    locations = doc.get("location")
    locations = locations if isinstance(locations, list) else ([locations] if locations else [])
    place_node = copy.deepcopy(locations[0]) if locations and isinstance(locations[0], dict) else {"@type": "Place"}
    address = place_node.get("address")
    address = dict(address) if isinstance(address, dict) else {"@type": "PostalAddress"}
    address["postalCode"] = place.postcode
    place_node["address"] = address
    if place.latitude is not None:
        place_node["geo"] = {"@type": "GeoCoordinates", "latitude": place.latitude, "longitude": place.longitude}
    rest = locations[1:] if locations and isinstance(locations[0], dict) else locations
    doc["location"] = place_node if not rest else [place_node, *rest]

    base = urldefrag(str(doc.get("@id", "")))[0]
    served = doc.get("areaServed")
    served = served if isinstance(served, list) else ([served] if served else [])
    codes = {a["identifier"] for a in place.areas}
    kept = [a for a in served if not _ours(a, base)
            and not (isinstance(a, dict) and a.get("identifier") in codes)]  # the same area, now in full
    areas = [*place.areas, *kept]
    if areas:
        doc["areaServed"] = areas[0] if len(areas) == 1 else areas
    return doc
