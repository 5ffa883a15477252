"""Our terms and the directories we exchange groups with: Open Referral UK (HSDS 3.0) and Murmurations.

One place for each mapping, both ways where both exist: ``service`` writes a directory group as
an HSDS 3.0 service (``/export/openreferral.json``), ``hsds_records`` reads HSDS services and
organizations back (``hubnet-crawler import``), and ``murmurations_records`` reads Murmurations
profiles. Readers produce ``Record``s, the neutral form of one group as another directory describes
it; ``Record.document`` makes it a profile in our vocabulary, which then goes through the same safe
parse as a crawled profile (crawler/importer.py). Nothing here touches the store or the network.

Which HSDS record is a group: each service (what people look for: its name, words, contacts and
place, falling back to its organization's email, phone and website), and each organization that
offers no service in the file. Our own export is one organization offering one service per group,
so it reads back as the same groups.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field

# ----------------------------------------------------------------------------- the neutral record
CONTEXT = "https://w3id.org/hubnet/context.jsonld"
OPENREFERRAL, MURMURATIONS = "openreferral", "murmurations"
FORMAT_NAMES = {OPENREFERRAL: "Open Referral UK (HSDS)", MURMURATIONS: "Murmurations"}
MAX_TOPIC = 100   # characters of a taxonomy term or tag taken as a topic (longer ones are not topics)


@dataclass
class Record:
    """One group as an imported file describes it. ``ref`` says where in the file (for reports)."""

    id: str
    ref: str
    name: str = ""
    description: str = ""
    email: str = ""
    telephone: str = ""
    website: str = ""
    identities: list = field(default_factory=list)   # other addresses the file gives for the group
    postcode: str = ""
    street: str = ""
    locality: str = ""
    region: str = ""
    country: str = ""
    lat: float | None = None
    lon: float | None = None
    topics: list = field(default_factory=list)
    areas: list = field(default_factory=list)
    notes: list = field(default_factory=list)        # what was read but not used (reported per record)
    skip: str = ""                                   # why the record is not a group to import, if it is not

    @property
    def addresses(self) -> list:
        """The addresses the record gives for its group: the replacement rule matches on these."""
        return [a for a in dict.fromkeys([self.website, *self.identities]) if a]

    def document(self, group_iri: str, graph: str, max_values: int) -> dict:
        """The record as a profile in our vocabulary (JSON-LD with the pinned context). Every node
        has an IRI under the record's own graph, so the same record always gives the same statements."""
        doc = {"@context": CONTEXT, "@id": group_iri, "@type": "Organization", "name": self.name}
        for key, value in (("description", self.description), ("email", self.email),
                           ("telephone", self.telephone), ("url", self.website)):
            if value:
                doc[key] = value
        if self.identities:
            doc["sameAs"] = self.identities[:max_values]
        if self.topics:
            doc["knowsAbout"] = self.topics[:max_values]
        if self.areas:
            doc["areaServed"] = [{"@id": f"{graph}#area{i + 1}", "@type": "AdministrativeArea", "name": a}
                                 for i, a in enumerate(self.areas[:max_values])]
        address = {k: v for k, v in (("streetAddress", self.street), ("addressLocality", self.locality),
                                     ("addressRegion", self.region), ("addressCountry", self.country),
                                     ("postalCode", self.postcode)) if v}
        if address or self.lat is not None:
            place = {"@id": f"{graph}#place", "@type": "Place"}
            if address:
                place["address"] = {"@id": f"{graph}#address", "@type": "PostalAddress", **address}
            if self.lat is not None:
                place["geo"] = {"@id": f"{graph}#geo", "@type": "GeoCoordinates",
                                "latitude": self.lat, "longitude": self.lon}
            doc["location"] = place
        return doc


def _text(value) -> str:
    """A string field as text: strings and numbers only (anything else is not a value we read)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def _url(value) -> str:
    """An http(s) address; a bare domain (Murmurations' ``primary_url`` is often ``open.coop``) gets https."""
    text = _text(value)
    if not text or re.search(r"\s", text):
        return ""
    if "://" not in text:
        if not re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}(/\S*)?", text):
            return ""
        text = "https://" + text
    return text if text.lower().startswith(("http://", "https://")) else ""


def _coordinates(rec: Record, lat, lon) -> None:
    """Set the record's place when both are numbers on Earth; note it when they are given but not."""
    if lat in (None, "") and lon in (None, ""):
        return
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError):
        la = lo = math.nan
    if math.isfinite(la) and math.isfinite(lo) and -90 <= la <= 90 and -180 <= lo <= 180 and (la, lo) != (0, 0):
        rec.lat, rec.lon = la, lo
    else:
        rec.notes.append(f"coordinates {str(lat)[:30]}, {str(lon)[:30]} are not a place on Earth: not used")


def _topics(values) -> list:
    out = []
    for v in values:
        t = _text(v)
        if t and len(t) <= MAX_TOPIC and t.lower() not in {x.lower() for x in out}:
            out.append(t)
    return out


def _list(value) -> list:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ----------------------------------------------------------------------------- Open Referral UK out
def _id(iri: str, part: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{iri}#hubnet-oruk-{part}"))


def service(g: dict, page: str, contact: dict | None = None, second_hand: dict | None = None) -> dict:
    """One directory group (an index row) -> an HSDS 3.0 service with its organization, location,
    areas and contacts (``contact``: query.contacts' email and telephone). A second-hand group
    carries an HSDS ``metadata`` entry saying where it was imported from, and when."""
    iri = g["id"]
    contact = contact or {}
    org = {"id": _id(iri, "organization"), "name": g["name"], "description": g["description"] or g["name"],
           "website": g["url"], "uri": iri, "email": contact.get("email")}
    out = {"id": _id(iri, "service"), "organization_id": org["id"], "name": g["name"],
           "description": g["description"], "url": g["url"] or page, "email": contact.get("email"),
           "status": "active", "organization": org, "service_at_locations": [], "service_areas": [],
           "phones": []}
    if contact.get("telephone"):
        out["phones"].append({"id": _id(iri, "phone"), "service_id": out["id"], "number": contact["telephone"]})
    if g["lat"] is not None and g["lon"] is not None:
        location = {"id": _id(iri, "location"), "location_type": "physical", "name": g["name"],
                    "latitude": g["lat"], "longitude": g["lon"]}
        out["service_at_locations"].append({"id": _id(iri, "service-at-location"), "service_id": out["id"],
                                            "location_id": location["id"], "location": location})
    out["service_areas"] = [{"id": _id(iri, f"area-{i}"), "service_id": out["id"], "name": area}
                            for i, area in enumerate(g["area"])]
    if second_hand:
        out["metadata"] = [{"id": _id(iri, "imported"), "resource_id": out["id"], "resource_type": "service",
                            "last_action_date": second_hand["imported"], "last_action_type": "imported",
                            "field_name": "", "previous_value": "", "replacement_value": second_hand["from"] or "",
                            "updated_by": "hubnet import: second-hand, not the group's own words"}]
    return out


# ----------------------------------------------------------------------------- Open Referral UK in
HSDS_SERVICE_KEYS = frozenset({"organization", "organization_id", "service_at_locations", "service_areas",
                               "service_taxonomys", "attributes", "eligibility_description", "fees_description"})
HSDS_EXPORT_KEYS = frozenset({"services", "organizations"})


def looks_like_hsds(doc) -> bool:
    """The shapes we read: a /services page (``contents``), a full export (``services`` and/or
    ``organizations`` lists), or a bare list of services."""
    if isinstance(doc, dict):
        if isinstance(doc.get("contents"), list):
            return True
        return any(isinstance(doc.get(k), list) for k in HSDS_EXPORT_KEYS)
    return isinstance(doc, list) and bool(doc) and all(isinstance(s, dict) and HSDS_SERVICE_KEYS & set(s)
                                                       for s in doc)


def hsds_records(doc) -> list:
    """Records (one per service, and per organization without one) from any shape ``looks_like_hsds``."""
    if isinstance(doc, list):
        services, tables = doc, {}
    elif isinstance(doc.get("contents"), list):
        services, tables = doc["contents"], {}
    else:
        services, tables = doc.get("services") or [], doc
    services = [s if isinstance(s, dict) else {} for s in services] if isinstance(services, list) else []
    orgs = {_text(o.get("id")): o for o in _list(tables.get("organizations"))}
    nested = [_nest(s, tables, orgs) for s in services]
    per_org: dict = {}
    for n in nested:
        key = _text(n["organization"].get("id")) or _text(n["organization"].get("name"))
        per_org[key] = per_org.get(key, 0) + 1
    out, offered = [], set()
    for i, (s, n) in enumerate(zip(services, nested), 1):
        key = _text(n["organization"].get("id")) or _text(n["organization"].get("name"))
        offered.add(_text(n["organization"].get("id")))
        ref = f"service {i}" + (f" ({_text(s.get('id'))[:60]})" if s.get("id") else "")
        out.append(_service_record(n, ref, sole=bool(key) and per_org[key] == 1))
    for i, o in enumerate(_list(tables.get("organizations")), 1):
        if _text(o.get("id")) not in offered or not o.get("id"):
            ref = f"organization {i}" + (f" ({_text(o.get('id'))[:60]})" if o.get("id") else "")
            out.append(_service_record({"organization": o, "name": o.get("name"), "id": None,
                                        "_org_only": True, **_children(o, tables, "organization_id")}, ref, sole=True))
    return out


def _by(tables: dict, table: str, key: str, value: str) -> list:
    return [r for r in _list(tables.get(table)) if value and _text(r.get(key)) == value]


def _children(row: dict, tables: dict, key: str) -> dict:
    """A full export's flat tables -> the nested lists of one service (or organization)."""
    rid = _text(row.get("id"))
    found = {"contacts": _by(tables, "contacts", key, rid), "phones": _by(tables, "phones", key, rid)}
    terms = {_text(t.get("id")): t for t in _list(tables.get("taxonomy_terms"))}
    found["attributes"] = [dict(a, taxonomy_term=a.get("taxonomy_term") or terms.get(_text(a.get("taxonomy_term_id")), {}))
                           for a in _by(tables, "attributes", "link_id", rid)]
    locations = {_text(loc.get("id")): _located(loc, tables) for loc in _list(tables.get("locations"))}
    sals = _by(tables, "service_at_locations", "service_id", rid) if key == "service_id" else \
        [{"location": locations[_text(loc.get("id"))]} for loc in _by(tables, "locations", "organization_id", rid)]
    found["service_at_locations"] = [dict(sal, location=sal.get("location") or locations.get(_text(sal.get("location_id")), {}))
                                     for sal in sals]
    found["service_areas"] = _by(tables, "service_areas", key, rid)
    return {k: v for k, v in found.items() if v}


def _located(loc: dict, tables: dict) -> dict:
    """A location with its addresses (a full export keeps them in tables of their own)."""
    lid = _text(loc.get("id"))
    found = _by(tables, "addresses", "location_id", lid) + _by(tables, "physical_addresses", "location_id", lid)
    return dict(loc, addresses=_list(loc.get("addresses")) + found) if found else loc


def _nest(s: dict, tables: dict, orgs: dict) -> dict:
    """A service with its organization, contacts, phones, locations and terms nested, whatever the shape."""
    nested = dict(s)
    if tables:
        for k, v in _children(s, tables, "service_id").items():
            nested.setdefault(k, v)
    org = s.get("organization") if isinstance(s.get("organization"), dict) else orgs.get(_text(s.get("organization_id")), {})
    if tables and org:   # the organization's own contacts and phones, for a service that gives none
        found = _children(org, tables, "organization_id")
        org = dict(org, **{k: found[k] for k in ("contacts", "phones") if k in found and k not in org})
    nested["organization"] = org
    return nested


def _addresses(location: dict) -> list:
    found = _list(location.get("addresses")) + _list(location.get("physical_addresses"))
    return [a for a in found if _text(a.get("address_type") or "physical") in ("physical", "")] or found


def _service_record(s: dict, ref: str, sole: bool) -> Record:
    """``sole``: the service is all its organization offers in the file, so the organization's website
    and ``uri`` are the group's too. Otherwise they are not: an organization's own profile must not
    replace each of its services (store/secondhand.py matches on these addresses)."""
    org = s.get("organization") or {}
    rid = _text(s.get("id")) or (f"organization:{_text(org.get('id'))}" if s.get("_org_only") and org.get("id") else "")
    name = _text(s.get("name")) or (_text(org.get("name")) if s.get("_org_only") else "")
    rec = Record(id=("service:" + rid if rid and not s.get("_org_only") else rid) or f"name:{name}", ref=ref, name=name)
    rec.description = _text(s.get("description")) or _text(org.get("description"))
    if rec.description == rec.name:
        rec.description = ""
    contacts = _list(s.get("contacts")) + _list(org.get("contacts"))
    phones = _list(s.get("phones")) + [p for c in contacts for p in _list(c.get("phones"))] + _list(org.get("phones"))
    rec.email = _text(s.get("email")) or next((_text(c.get("email")) for c in contacts if _text(c.get("email"))), "") \
        or _text(org.get("email"))
    rec.telephone = next((_text(p.get("number")) for p in phones if _text(p.get("number"))), "")
    rec.website = _url(s.get("url")) or (_url(org.get("website")) or _url(org.get("url")) if sole else "")
    if sole and _url(org.get("uri")) and _url(org.get("uri")) != rec.website:
        rec.identities.append(_url(org.get("uri")))
    for sal in _list(s.get("service_at_locations")):
        loc = sal.get("location") if isinstance(sal.get("location"), dict) else {}
        if rec.lat is None:
            _coordinates(rec, loc.get("latitude"), loc.get("longitude"))
        for a in _addresses(loc):
            if not rec.postcode:
                rec.postcode, rec.street = _text(a.get("postal_code")), _text(a.get("address_1"))
                rec.locality, rec.region = _text(a.get("city")), _text(a.get("state_province"))
                rec.country = _text(a.get("country"))
    terms = [a.get("taxonomy_term") for a in _list(s.get("attributes"))] + \
        [t.get("taxonomy") for t in _list(s.get("service_taxonomys"))] + _list(s.get("taxonomy_terms"))
    rec.topics = _topics(t.get("name") for t in terms if isinstance(t, dict))
    rec.areas = _topics(a.get("name") for a in _list(s.get("service_areas")))
    status = _text(s.get("status")).lower()
    if status in ("inactive", "defunct"):
        rec.skip = f"the service is {status}"
    return rec


# ----------------------------------------------------------------------------- Murmurations in
ORGANIZATION_SCHEMAS = ("organizations_schema", "organization_schema")


def _is_profile(item) -> bool:
    return isinstance(item, dict) and ("linked_schemas" in item or "profile_url" in item)


def looks_like_murmurations(doc) -> bool:
    """One profile, a list of profiles, or the index API's answer (``{"data": [...]}``)."""
    if isinstance(doc, dict):
        if isinstance(doc.get("data"), list):
            return all(_is_profile(p) for p in doc["data"])
        return "linked_schemas" in doc
    return isinstance(doc, list) and bool(doc) and all(_is_profile(p) for p in doc)


def murmurations_records(doc) -> list:
    if isinstance(doc, dict):
        profiles = doc["data"] if isinstance(doc.get("data"), list) else [doc]
    else:
        profiles = doc
    return [_profile_record(p if isinstance(p, dict) else {}, f"profile {i}") for i, p in enumerate(profiles, 1)]


def _profile_record(p: dict, ref: str) -> Record:
    profile_url = _url(p.get("profile_url"))
    name = _text(p.get("name"))
    rec = Record(id=profile_url or _url(p.get("primary_url")) or f"name:{name}",
                 ref=ref + (f" ({profile_url[:80]})" if profile_url else ""), name=name)
    rec.description = _text(p.get("description")) or _text(p.get("tagline")) or _text(p.get("mission"))
    contact = p.get("contact_details") if isinstance(p.get("contact_details"), dict) else {}
    rec.email = _text(contact.get("email")) or _text(p.get("email"))
    rec.telephone = _text(p.get("telephone"))
    rec.website = _url(p.get("primary_url")) or next((_url(u.get("url")) for u in _list(p.get("urls"))
                                                       if _url(u.get("url"))), "")
    if profile_url:
        rec.identities.append(profile_url)
    geo = p.get("geolocation") if isinstance(p.get("geolocation"), dict) else {}
    _coordinates(rec, p.get("latitude", geo.get("lat")), p.get("longitude", geo.get("lon")))
    rec.locality, rec.region = _text(p.get("locality")), _text(p.get("region"))
    rec.country = _text(p.get("country_name")) or _text(p.get("country_iso_3166")) or _text(p.get("country"))
    rec.postcode = _text(p.get("postal_code"))
    rec.topics = _topics(p.get("tags") if isinstance(p.get("tags"), list) else [])
    schemas = p.get("linked_schemas")
    if isinstance(schemas, list) and schemas and not any(isinstance(s, str) and s.startswith(ORGANIZATION_SCHEMAS)
                                                         for s in schemas):
        rec.skip = ("not an organization profile (linked_schemas: " + ", ".join(str(s)[:40] for s in schemas[:3])
                    + ")")
    return rec
