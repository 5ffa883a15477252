"""The editor form <-> the profile dict, and validation messages -> form fields.

The form is flat: one input per field, a textarea (one per line) for lists,
and numbered blocks (``offer-0-name``...) for contact points, offers and
needs. Two rules keep hand-written profiles intact through the editor:

* a field whose submitted value equals what the form was filled with keeps
  the original JSON exactly (lists, ``{"@value": ...}``, an ImageObject...);
* nested objects are edited in place, so keys the form does not show
  (``addressRegion``, an offer's ``price``...) survive a save.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from dataclasses import dataclass, field

from hubnet import vocab
from hubnet.vocab import CONTEXT_IRI, GROUP_TYPES

from .doc import as_list, iri, text, texts

CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"
MAX_BLOCKS = 50

SIMPLE = ("name", "description", "email", "telephone", "foundingDate", "identifier")
LINKLIKE = ("url", "logo", "image", "license")
LISTS = ("sameAs", "knowsAbout", "memberOf", "member", "parentOrganization", "subOrganization",
         "linkedTo", "vouchesFor")
ALWAYS_LIST = ("sameAs", "knowsAbout")
LOCATION = ("place_name", "street", "locality", "postcode", "latitude", "longitude")
AREA = ("area_name", "area_code")
# The "list us on hubs" checkbox (hubnet:indexing). An unticked checkbox is not sent at all, so the
# form also sends LISTED_SHOWN: a request without it (an older form) leaves the consent as it was.
LISTED, LISTED_SHOWN = "listed", "listed-shown"

# prefix -> (profile key, @type of a new item, its fields)
BLOCKS = {
    "contact": ("contactPoint", "ContactPoint", ("name", "contactType", "email", "telephone", "availableLanguage")),
    "offer": ("makesOffer", "Offer", ("name", "description", "category", "area", "validThrough")),
    "need": ("seeks", "Demand", ("name", "description", "category", "area", "validThrough")),
}
SPARE_BLOCKS = {"contact": 1, "offer": 2, "need": 2}
_BLOCK_KEY = {"area": "areaServed"}  # form field -> profile term, where they differ

TYPE_CHOICES = tuple(str(t).rsplit("/", 1)[-1] for t in GROUP_TYPES)


@dataclass
class FormData:
    values: dict = field(default_factory=dict)   # input name -> text, exactly as in the form
    counts: dict = field(default_factory=dict)   # block prefix -> number of blocks shown
    base: str = ""                               # fingerprint of the profile the form was filled from


def fingerprint(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()[:20]


def _clean(value) -> str:
    return (value or "").replace("\r\n", "\n").strip()


def _lines(value) -> list[str]:
    return [ln.strip() for ln in _clean(value).split("\n") if ln.strip()]


def _show_number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return text(value)


def _number(value: str):
    """Text from a form -> a JSON number when it is one, else the text (validation will say why)."""
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return int(number) if re.fullmatch(r"[+-]?\d+", value) else number


def _slug(value) -> str:
    return vocab.slug_of(iri(value) or text(value)) if value else ""


# ------------------------------------------------------------------ profile -> form
def _block_values(prefix: str, i: int, item) -> dict:
    if not isinstance(item, dict):
        return {f"{prefix}-{i}-name": text(item)}
    out = {}
    for f in BLOCKS[prefix][2]:
        raw = item.get(_BLOCK_KEY.get(f, f))
        if f == "category":
            out[f"{prefix}-{i}-{f}"] = _slug(as_list(raw)[0]) if raw else ""
        elif f == "availableLanguage":
            out[f"{prefix}-{i}-{f}"] = "\n".join(texts(raw))
        else:
            out[f"{prefix}-{i}-{f}"] = text(raw)
    return out


def from_profile(doc: dict | None, data: bytes | None = None) -> FormData:
    g = doc or {}
    v = {"id": iri(g.get("@id")), "type": text(as_list(g.get("@type"))[:1]) or "Organization",
         "kind": _slug(as_list(g.get("additionalType"))[0]) if g.get("additionalType") else ""}
    for key in SIMPLE:
        v[key] = text(g.get(key))
    for key in LINKLIKE:
        first = as_list(g.get(key))[:1]
        v[key] = (iri(first[0]) or text(first[0])) if first else ""
    if not doc:
        v["license"] = CC0
    v[LISTED] = "" if g.get("indexing") in (False, "false") else "1"
    for key in LISTS:
        v[key] = "\n".join(iri(x) or text(x) for x in as_list(g.get(key)))

    place = (as_list(g.get("location")) or [None])[0]
    if isinstance(place, str):
        place = {"name": place}
    place = place if isinstance(place, dict) else {}
    address = place.get("address")
    address = address if isinstance(address, dict) else {"streetAddress": address}
    geo = place.get("geo") if isinstance(place.get("geo"), dict) else {}
    v.update(place_name=text(place.get("name")), street=text(address.get("streetAddress")),
             locality=text(address.get("addressLocality")), postcode=text(address.get("postalCode")),
             latitude=_show_number(geo.get("latitude")), longitude=_show_number(geo.get("longitude")))

    area = (as_list(g.get("areaServed")) or [None])[0]
    area = area if isinstance(area, dict) else {"name": area}
    v.update(area_name=text(area.get("name")), area_code=text(area.get("identifier")))

    counts = {}
    for prefix, (key, _type, _fields) in BLOCKS.items():
        items = as_list(g.get(key))
        for i, item in enumerate(items):
            v.update(_block_values(prefix, i, item))
        counts[prefix] = len(items) + SPARE_BLOCKS[prefix]
    return FormData(v, counts, fingerprint(data))


def from_request(form) -> FormData:
    """The submitted form (a MultiDict); block counts are clamped so a request cannot ask for millions."""
    values = {k: form.get(k, "") for k in form.keys()}
    counts = {}
    for prefix in BLOCKS:
        try:
            counts[prefix] = max(0, min(MAX_BLOCKS, int(form.get(f"{prefix}-count", "0"))))
        except ValueError:
            counts[prefix] = 0
    return FormData(values, counts, form.get("base", ""))


# ------------------------------------------------------------------ form -> profile
@dataclass
class Built:
    doc: dict
    blocks: dict   # prefix -> [(form block index, item name)] in the order written to the profile


def _put(d: dict, key: str, value) -> None:
    if value in (None, "", [], {}):
        d.pop(key, None)
    else:
        d[key] = value


def _meaningful(d: dict) -> bool:
    return any(k != "@type" for k in d)


def build(form: FormData, base_doc: dict | None) -> Built:
    """The profile the form describes, starting from (and preserving what the form does not show in) base_doc."""
    doc = copy.deepcopy(base_doc) if base_doc else {}
    orig = from_profile(base_doc).values if base_doc else {}  # a new profile: every filled field is new
    v = {k: _clean(val) for k, val in form.values.items()}

    def changed(*names) -> bool:
        return any(v.get(n, "") != orig.get(n, "") for n in names)

    if changed("id"):
        _put(doc, "@id", v.get("id"))
    if changed("type") or "@type" not in doc:
        _put(doc, "@type", v.get("type") or "Organization")
    for key in SIMPLE + LINKLIKE:
        if changed(key):
            _put(doc, key, v.get(key))
    if changed("kind"):
        _put(doc, "additionalType", v.get("kind"))
    for key in LISTS:
        if changed(key):
            lines = _lines(form.values.get(key))
            _put(doc, key, lines if key in ALWAYS_LIST or len(lines) != 1 else lines[0])
    if v.get(LISTED_SHOWN) and changed(LISTED):
        # Absent means listed: only a withdrawal is written.
        _put(doc, "indexing", None if v.get(LISTED) else False)
    if changed(*LOCATION):
        _location(doc, v)
    if changed(*AREA):
        _area(doc, v)
    blocks = {prefix: _blocks(doc, prefix, form, v, orig) for prefix in BLOCKS}

    head = {"@context": doc.pop("@context", CONTEXT_IRI)}
    for key in ("@id", "@type"):
        if key in doc:
            head[key] = doc.pop(key)
    return Built({**head, **doc}, blocks)


def _first_and_rest(value):
    items = as_list(value)
    return (items[0] if items else None), items[1:]


def _location(doc: dict, v: dict) -> None:
    first, rest = _first_and_rest(doc.get("location"))
    place = copy.deepcopy(first) if isinstance(first, dict) else {"@type": "Place"}
    if isinstance(first, str):
        place["name"] = first
    _put(place, "name", v.get("place_name"))
    address = place.get("address")
    address = dict(address) if isinstance(address, dict) else {"@type": "PostalAddress"}
    _put(address, "streetAddress", v.get("street"))
    _put(address, "addressLocality", v.get("locality"))
    _put(address, "postalCode", v.get("postcode"))
    _put(place, "address", address if _meaningful(address) else None)
    lat, lon = v.get("latitude", ""), v.get("longitude", "")
    if lat or lon:
        geo = dict(place["geo"]) if isinstance(place.get("geo"), dict) else {"@type": "GeoCoordinates"}
        _put(geo, "latitude", _number(lat) if lat else None)
        _put(geo, "longitude", _number(lon) if lon else None)
        place["geo"] = geo
    else:
        place.pop("geo", None)
    items = ([place] if _meaningful(place) else []) + rest
    _put(doc, "location", items[0] if len(items) == 1 else items)


def _area(doc: dict, v: dict) -> None:
    first, rest = _first_and_rest(doc.get("areaServed"))
    area = copy.deepcopy(first) if isinstance(first, dict) else {"@type": "AdministrativeArea"}
    _put(area, "name", v.get("area_name"))
    _put(area, "identifier", v.get("area_code"))
    items = ([area] if _meaningful(area) else []) + rest
    _put(doc, "areaServed", items[0] if len(items) == 1 else items)


def _blocks(doc: dict, prefix: str, form: FormData, v: dict, orig: dict) -> list:
    key, type_name, fields = BLOCKS[prefix]
    existing = as_list(doc.get(key))
    items, placed = [], []
    for i in range(form.counts.get(prefix, 0)):
        names = [f"{prefix}-{i}-{f}" for f in fields]
        base = existing[i] if i < len(existing) else None
        if v.get(f"{prefix}-{i}-remove"):
            continue
        if base is not None and all(v.get(n, "") == orig.get(n, "") for n in names):
            items.append(base)  # untouched: keep exactly as written
        elif any(v.get(n) for n in names):
            item = copy.deepcopy(base) if isinstance(base, dict) else {"@type": type_name}
            for f, n in zip(fields, names):
                if f == "availableLanguage":
                    _put(item, f, _lines(form.values.get(n)))
                else:
                    _put(item, _BLOCK_KEY.get(f, f), v.get(n))
            items.append(item)
        else:
            continue  # a blank (or emptied) block
        placed.append((i, text(items[-1].get("name")) if isinstance(items[-1], dict) else text(items[-1])))
    items += existing[form.counts.get(prefix, 0):]  # beyond the form's blocks (MAX_BLOCKS): kept, not lost
    if items == existing:
        return placed  # nothing changed: keep the original spelling (one object or a list)
    if key == "contactPoint" and len(items) == 1:
        _put(doc, key, items[0])
    else:
        _put(doc, key, items)
    return placed


# ------------------------------------------------------------------ validation messages -> fields
_SEGMENT = re.compile(r"([@\w]+)(?:\[(.*?)\](?=\.|$))?(?:\.|$)")
_DIRECT = {"@id": "id", "@type": "type", "contact": "email", "additionalType": "kind",
           **{k: k for k in SIMPLE + LINKLIKE + LISTS}}
_BLOCK_OF = {key: prefix for prefix, (key, _t, _f) in BLOCKS.items()}


def _segments(path: str) -> list[tuple[str, str | None]]:
    out, pos = [], 0
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if not m:
            return []
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    return out


def _field_for(segs, built: Built) -> list[str]:
    head, label = segs[0]
    rest = [s for s, _ in segs[1:]]
    if head in _DIRECT and not rest:
        return [_DIRECT[head]]
    if head == "location":
        if rest[:1] == ["geo"]:
            return ["longitude" if rest[1:2] == ["longitude"] else "latitude"]
        if rest[:1] == ["address"]:
            sub = rest[1:2]
            return [{"addressLocality": "locality", "postalCode": "postcode"}.get(sub[0] if sub else "", "street")]
        return ["place_name"]
    if head == "areaServed":
        return ["area_code" if rest[:1] == ["identifier"] else "area_name"]
    if head in _BLOCK_OF:
        prefix = _BLOCK_OF[head]
        placed = built.blocks.get(prefix, [])
        if label is None:
            indexes = [placed[0][0]] if len(placed) == 1 else []
        else:
            indexes = [i for i, name in placed if name == label]
        sub = rest[0] if rest else ""
        sub = {"areaServed": "area"}.get(sub, sub)
        if sub not in BLOCKS[prefix][2]:
            sub = "name"
        return [f"{prefix}-{i}-{sub}" for i in indexes]
    return []


def errors_for_form(report, built: Built) -> tuple[dict, list]:
    """({input name: [message]}, [messages with no field]) for a failed validation."""
    by_field, general = {}, []
    for issue in report.errors:
        segs = _segments(issue.field)
        names = _field_for(segs, built) if segs else []
        if not names:
            general.append(issue.message)
            continue
        short = issue.message
        if short.startswith(issue.field + ": "):
            short = short[len(issue.field) + 2:]
        for name in names:
            by_field.setdefault(name, []).append(short)
    return by_field, general
