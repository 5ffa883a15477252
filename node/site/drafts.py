"""A hosted group's first profile from the fields a hub holds about it (``site add``, ``site import``).

The same rules as the group's own tools: addresses and emails are read by
``node.starter`` (what ``hubnet-node init`` uses), the postcode by
``vocab.postcodes`` (the editor's lookup), the kind must be one of
``vocab.kinds()`` (the editor's list), and the result must pass
``vocab.validate`` at the group's address on the site (what the editor,
``hubnet-node validate`` and aggregators check). A problem names its column.
"""

from __future__ import annotations

import re
import unicodedata

from hubnet import vocab

from .. import starter

FIELDS = ("name", "description", "email", "phone", "website", "postcode", "kind", "topics", "umbrella", "slug")
# The validator's field (its first part) -> the column a hub would fix.
_COLUMN_OF = {"name": "name", "description": "description", "contactPoint": "email", "email": "email",
              "telephone": "phone", "url": "website", "location": "postcode", "additionalType": "kind",
              "knowsAbout": "topics", "memberOf": "umbrella", "contact": "email or phone",
              "postalCode": "postcode"}


class Problems(ValueError):
    """What could not be used, as ``(column, message)`` pairs."""

    def __init__(self, problems: list):
        super().__init__("; ".join(f"{c}: {m}" for c, m in problems))
        self.problems = problems


def _column(field: str) -> str:
    for part in reversed(field.split(".")):
        if part in _COLUMN_OF:
            return _COLUMN_OF[part]
    return field


def slug_for(name: str) -> str:
    """``"St Mark's Lunch Club"`` -> ``"st-marks-lunch-club"`` (ASCII, at most 40 characters)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    ascii_name = ascii_name.replace("'", "").replace("\u2019", "")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:40].strip("-")


def _kind(value: str) -> str:
    wanted = value.strip().lower()
    for k in vocab.kinds():
        if wanted in (k.slug, k.label.lower()):
            return k.slug
    raise ValueError(f"{value.strip()!r} is not one of hubnet's kinds of group "
                     f"({', '.join(k.slug for k in vocab.kinds())})")


def _topics(value: str) -> list:
    return [t.strip() for t in re.split(r"[;,]", value or "") if t.strip()]


def build(values: dict, group_url: str) -> dict:
    """The draft profile for the group at ``group_url`` (``https://hub/<slug>/``). Raises Problems."""
    v = {k: (values.get(k) or "").strip() for k in FIELDS}
    problems = []

    def read(column, check):
        if not v[column]:
            return ""
        try:
            return check(v[column])
        except ValueError as exc:
            problems.append((column, str(exc)))
            return ""

    if not v["name"]:
        problems.append(("name", "missing: every group needs a name"))
    email = read("email", starter.email)
    website = read("website", starter.site_url)
    umbrella = read("umbrella", starter.link)
    postcode = read("postcode", vocab.postcodes.normalise)
    kind = read("kind", _kind)
    if problems:
        raise Problems(problems)
    doc = starter.build(name=v["name"], url=group_url, email=email or "x@x.invalid", postcode=postcode,
                        topics=_topics(v["topics"]), description=v["description"], kind=kind,
                        member_of=[umbrella] if umbrella else [])
    contact = doc["contactPoint"]
    if not email:
        del contact["email"]
    if v["phone"]:
        contact["telephone"] = v["phone"]
    if len(contact) == 2:  # only @type and contactType: no contact at all
        del doc["contactPoint"]
    if website:
        doc["url"] = website
    else:
        del doc["url"]  # the hub's page is not a way to reach the group
    report = vocab.validate(doc, published_at=group_url + "profile.jsonld")
    if not report.conforms:
        raise Problems([(_column(i.field), i.message) for i in report.errors])
    return doc
