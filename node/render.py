"""The public profile page, as one function both the server and ``export`` call.

It uses its own Jinja environment (autoescaping on, no Flask request needed)
so the static export is byte-for-byte the page the node serves. Everything
shown comes from the profile through ``view()``, which turns the free-form
JSON into plain strings and vetted links: only absolute http(s) URLs become
``href``s; anything else (``javascript:``...) is shown as inert text.
"""

from __future__ import annotations

import json
from functools import lru_cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from hubnet import __version__, vocab

from .doc import as_list, group_node, iri, safe_href, text, texts

LICENSES = {
    "https://creativecommons.org/publicdomain/zero/1.0/": "CC0 1.0 (public domain)",
    "https://creativecommons.org/licenses/by/4.0/": "CC BY 4.0",
}

# (profile term, heading on the page), in the order a reader cares about.
LINKS = (
    ("memberOf", "Member of"),
    ("parentOrganization", "Part of"),
    ("member", "Members"),
    ("subOrganization", "Sub-groups"),
    ("linkedTo", "Works with"),
    ("vouchesFor", "Vouches for"),
)


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(loader=PackageLoader("hubnet.node", "templates"),
                       autoescape=select_autoescape(["html"], default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


def script_json(doc) -> Markup:
    """JSON for inside ``<script type="application/ld+json">``.

    ``<``, ``>`` and ``&`` become ``\\u003c`` etc.: still the same JSON value,
    but no string in the profile (``</script><script>...``) can end the block.
    """
    body = json.dumps(doc, indent=2, ensure_ascii=False)
    body = body.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(body)


def _concept_label(value, concepts) -> str:
    slug = vocab.slug_of(iri(value) or text(value))
    for c in concepts:
        if c.slug == slug:
            return c.label
    return slug


def _link(value) -> dict:
    """A thing that may be a URL: {"text", "href"}; href is None unless http(s)."""
    target = iri(value) or text(value)
    name = text(value) if isinstance(value, dict) else ""
    return {"text": name or target, "href": safe_href(target)}


def _number(value):
    try:
        return float(text(value) if not isinstance(value, (int, float)) else value)
    except (TypeError, ValueError):
        return None


def _place(value) -> dict | None:
    if isinstance(value, str):
        return {"name": value, "lines": [], "map": None}
    if not isinstance(value, dict):
        return None
    address = value.get("address")
    if isinstance(address, dict):
        lines = [text(address.get(k)) for k in
                 ("streetAddress", "addressLocality", "addressRegion", "postalCode", "addressCountry")]
    else:
        lines = [text(address)]
    geo = value.get("geo") if isinstance(value.get("geo"), dict) else {}
    lat, lon = _number(geo.get("latitude")), _number(geo.get("longitude"))
    map_href = None
    if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
        map_href = f"https://www.openstreetmap.org/?mlat={lat:.5f}&mlon={lon:.5f}#map=17/{lat:.5f}/{lon:.5f}"
    return {"name": text(value.get("name")), "lines": [ln for ln in lines if ln], "map": map_href}


def _area(value) -> str:
    if isinstance(value, dict):
        name, code = text(value.get("name")), text(value.get("identifier"))
        return f"{name} ({code})" if name and code else name or code
    return text(value)


def _contact(value) -> dict | None:
    if not isinstance(value, dict):
        return None
    return {"name": text(value.get("name")), "type": text(value.get("contactType")),
            "emails": [e.removeprefix("mailto:") for e in texts(value.get("email"))],
            "telephones": texts(value.get("telephone")),
            "languages": texts(value.get("availableLanguage")),
            "url": _link(value["url"]) if value.get("url") else None}


def _offer(value) -> dict | None:
    if not isinstance(value, dict):
        return None
    return {"name": text(value.get("name")), "description": text(value.get("description")),
            "category": _concept_label(value.get("category"), vocab.categories()) if value.get("category") else "",
            "area": "; ".join(_area(a) for a in as_list(value.get("areaServed"))),
            "until": text(value.get("validThrough"))}


def view(doc) -> dict:
    """The profile as plain values for the template."""
    g = group_node(doc)
    contacts = [c for c in map(_contact, as_list(g.get("contactPoint"))) if c]
    return {
        "name": text(g.get("name")) or "(this group has not given its name)",
        "description": text(g.get("description")),
        "kinds": [_concept_label(k, vocab.kinds()) for k in as_list(g.get("additionalType"))],
        "url": _link(g["url"]) if g.get("url") else None,
        "logo": safe_href(iri(g.get("logo")) or text(g.get("logo"))),
        "emails": [e.removeprefix("mailto:") for e in texts(g.get("email"))],
        "telephones": texts(g.get("telephone")),
        "founded": text(g.get("foundingDate")),
        "identifier": text(g.get("identifier")),
        "topics": texts(g.get("knowsAbout")),
        "places": [p for p in map(_place, as_list(g.get("location"))) if p],
        "areas": [a for a in map(_area, as_list(g.get("areaServed"))) if a],
        "contacts": contacts,
        "offers": [o for o in map(_offer, as_list(g.get("makesOffer"))) if o],
        "needs": [o for o in map(_offer, as_list(g.get("seeks"))) if o],
        "links": [(heading, [_link(v) for v in as_list(g.get(term))]) for term, heading in LINKS if g.get(term)],
        "same_as": [_link(v) for v in as_list(g.get("sameAs"))],
        "license": _license(g.get("license")),
        "id": iri(g.get("@id")),
    }


def _license(value) -> dict | None:
    if not value:
        return None
    link = _link(value)
    link["text"] = LICENSES.get(iri(value) or text(value), link["text"])
    return link


def turtle(data, base_iri: str | None) -> bytes:
    """The profile as Turtle, with the usual prefixes (``schema:`` for http://schema.org/)."""
    graph = vocab.load(data, base_iri=base_iri)
    graph.bind("schema", str(vocab.SCHEMA), override=True, replace=True)
    return graph.serialize(format="turtle").encode("utf-8")


def profile_page(doc, *, alternate_href: str = "profile.jsonld", turtle_href: str | None = "profile.ttl") -> str:
    """The accessible HTML page for a profile, with the profile embedded as JSON-LD."""
    template = environment().get_template("profile.html")
    return template.render(p=view(doc), jsonld=script_json(doc), alternate_href=alternate_href,
                           turtle_href=turtle_href, version=__version__)
