"""Which statements make up a group: the one reading of a profile's RDF that every reader shares.

The text index, the group page and API (query/groups.py), contacts, matching and the network
all read groups from the store. What counts as a group, which predicates carry its name, kinds,
topics, areas and place, where its coordinates come from, and how a link property is named are
decided here once (the review of issue 13 found them written five times, and one bug already
came from two copies disagreeing on a place's own latitude/longitude).

Readers still write their own queries (each reads only what it needs, within its budget), built
from the pieces below; every piece reads one value per row, never a join of two multi-valued
properties (issue 12, finding 2).
"""

from __future__ import annotations

import math

from hubnet.vocab.model import GROUP_TYPES, KIND, LINK_PROPERTIES, SCHEMA

# A group's own fields (predicate IRIs).
NAME = f"{SCHEMA}name"
DESCRIPTION = f"{SCHEMA}description"
URL = f"{SCHEMA}url"
KINDS = f"{SCHEMA}additionalType"     # values in the kind namespace; see kind_slugs
TOPICS = f"{SCHEMA}knowsAbout"        # a literal, or a node with a name
AREAS = f"{SCHEMA}areaServed"         # a literal, or a node with a name (and a GSS code: docs/areas.md)
IDENTIFIER = f"{SCHEMA}identifier"    # an area node's GSS code
SAME_AS = f"{SCHEMA}sameAs"           # an area node's ONS IRI
LOCATION = f"{SCHEMA}location"
ADDRESS = f"{SCHEMA}address"
LOCALITY = f"{SCHEMA}addressLocality"
GEO = f"{SCHEMA}geo"
LATITUDE = f"{SCHEMA}latitude"
LONGITUDE = f"{SCHEMA}longitude"
OFFERS = f"{SCHEMA}makesOffer"
NEEDS = f"{SCHEMA}seeks"
EMAIL = f"{SCHEMA}email"
TELEPHONE = f"{SCHEMA}telephone"
CONTACT_POINT = f"{SCHEMA}contactPoint"
CONTACT_TYPE = f"{SCHEMA}contactType"
LANGUAGES = f"{SCHEMA}availableLanguage"
# The contactType of the contact point a newcomer should write to (shown and chosen first).
FIRST_CONTACT = "first point of contact"

# A group's place: the node its ``location`` names, or that node's ``geo``. A Place may carry
# latitude/longitude itself or through a GeoCoordinates node; both count.
PLACE_PATH = f"<{LOCATION}>/<{GEO}>?"
GROUP_TYPE_VALUES = " ".join(f"<{t}>" for t in GROUP_TYPES)
LINK_IRIS = tuple(str(p) for p in LINK_PROPERTIES)


def is_group(var: str = "?g") -> str:
    """A SPARQL filter: ``var`` is declared a group. A FILTER EXISTS, not a join: a join would
    repeat every value once per type the group declares."""
    return f"FILTER EXISTS {{ {var} a ?_type . VALUES ?_type {{ {GROUP_TYPE_VALUES} }} }}"


def coordinate_branches(group: str = "?g", place: str = "?place") -> str:
    """Two UNION branches: one row per latitude and per longitude of each of the group's places,
    the value in ``?v``, ``?f`` = "lat" or "lon", the place in ``place`` (see ``coordinates``)."""
    return (f"{{ {group} {PLACE_PATH} {place} . {place} <{LATITUDE}> ?v BIND(\"lat\" AS ?f) }}\n"
            f"    UNION {{ {group} {PLACE_PATH} {place} . {place} <{LONGITUDE}> ?v BIND(\"lon\" AS ?f) }}")


def _number(value, low: float, high: float) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and low <= x <= high else None


def located(places: dict) -> tuple[str, float, float] | None:
    """(place, lat, lon) of a group from ``{place: (latitudes, longitudes)}`` (values as strings).

    The first place (by IRI) with a valid pair, and within it the least latitude and longitude
    that are valid: never a latitude from one place with the longitude of another, and the same
    answer whatever order the store returns rows in.
    """
    for place, (lats, lons) in sorted(places.items(), key=lambda kv: str(kv[0])):
        lat = next((x for x in (_number(v, -90, 90) for v in sorted(lats)) if x is not None), None)
        lon = next((x for x in (_number(v, -180, 180) for v in sorted(lons)) if x is not None), None)
        if lat is not None and lon is not None:
            return place, lat, lon
    return None


def coordinates(places: dict) -> tuple[float, float] | None:
    """A group's (lat, lon) as ``located`` chooses them, or None."""
    found = located(places)
    return found[1:] if found else None


def is_first_contact(contact_type) -> bool:
    return str(contact_type or "").strip().lower() == FIRST_CONTACT


def kind_slugs(values) -> list[str]:
    """The kind slugs among ``additionalType`` values (IRIs in the kind namespace), sorted."""
    return sorted({v[len(KIND):] for v in values if v.startswith(KIND)})


def relation_name(predicate: str) -> str:
    """``http://schema.org/memberOf`` -> ``memberOf``: how a link property is named in pages and JSON."""
    return predicate.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
