"""The first profile ``hubnet-node init`` writes from a volunteer's few answers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from hubnet.vocab import CONTEXT_IRI
from hubnet.vocab.validate import group_pattern

CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"
_HOST = re.compile(r"[\w.-]+")


def site_url(text: str) -> str:
    """``ourgroup.org`` -> ``https://ourgroup.org/``. Raises ValueError with a plain reason."""
    text = (text or "").strip()
    if not text:
        raise ValueError("a web address is needed, e.g. https://ourgroup.org/")
    given = text
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    try:
        host, _port = parts.hostname or "", parts.port  # .port raises ValueError on "host:junk"
    except ValueError:
        host = ""
    if (parts.scheme.lower() not in ("http", "https") or not _HOST.fullmatch(host)
            or ("." not in host and host != "localhost") or " " in text or parts.username):
        raise ValueError(f"{given!r} is not a web address (it should look like https://ourgroup.org/)")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def link(text: str) -> str:
    """Another group's or a network's address, e.g. ``network.org/#group`` -> ``https://network.org/#group``."""
    text = (text or "").strip()
    if not text:
        raise ValueError("a web address is needed, e.g. https://ournetwork.org/#group")
    parts = urlsplit(text if "://" in text else "https://" + text)
    base = site_url(urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")))
    return base + (f"#{parts.fragment}" if parts.fragment else "")


def email(text: str) -> str:
    text = (text or "").strip().removeprefix("mailto:")
    if not group_pattern("email").search(text):
        raise ValueError(f"{text!r} is not an email address")
    return text


def build(*, name: str, url: str, email: str, postcode: str = "", locality: str = "", area: str = "",
          topics=(), description: str = "", kind: str = "", member_of=()) -> dict:
    """A compact profile in the canonical shape of examples/profile.jsonld."""
    site = site_url(url)
    doc = {"@context": CONTEXT_IRI, "@id": site + "#group", "@type": "Organization", "name": name.strip()}
    if description.strip():
        doc["description"] = description.strip()
    doc["url"] = site
    if kind:
        doc["additionalType"] = kind
    topics = [t.strip() for t in topics if t and t.strip()]
    if topics:
        doc["knowsAbout"] = topics
    address = {"@type": "PostalAddress"}
    if locality.strip():
        address["addressLocality"] = locality.strip()
    if postcode.strip():
        address["postalCode"] = postcode.strip().upper()
    if len(address) > 1:
        doc["location"] = {"@type": "Place", "address": address}
    if area.strip():
        doc["areaServed"] = {"@type": "AdministrativeArea", "name": area.strip()}
    member_of = [link(m) for m in member_of if m and m.strip()]
    if member_of:
        doc["memberOf"] = member_of[0] if len(member_of) == 1 else member_of
    doc["contactPoint"] = {"@type": "ContactPoint", "contactType": "first point of contact", "email": email}
    doc["license"] = CC0
    return doc
