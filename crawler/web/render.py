"""Template filters: the only ways profile data reaches a page other than autoescaped text.

Every value from a profile is hostile (docs/threat-model.md). Jinja autoescapes text;
these filters decide when a value may become a link: only http(s) URLs (never
``javascript:`` or ``data:``), plain email addresses and telephone numbers.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote, urlencode, urlsplit

from flask import current_app, make_response, render_template, request

from hubnet.vocab.model import categories, kinds

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_PHONE = re.compile(r"\+?[0-9 ()./-]{3,30}")


def http_url(value) -> str | None:
    """The value if it is an absolute http(s) URL with a host, else None (render it as text)."""
    if not isinstance(value, str) or len(value) > 2083:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if any(c in value for c in "\x00\r\n\t <>\"'`\\"):
        return None
    return value.strip()


def area_label(area: dict) -> str:
    """An area's name as a page shows it: a name only groups' profiles give (anyone can publish one) is
    shown as theirs, after the code, so it never passes for the operator's or the geocoder's name."""
    if area.get("named_by") == "profiles" and area.get("name") != area.get("code"):
        return f"{area['code']} (named “{area['name']}” by groups)"
    return area.get("name") or area.get("code", "")


def mailto(value) -> str | None:
    value = (value or "").strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    return "mailto:" + value if _EMAIL.fullmatch(value) else None


def tel(value) -> str | None:
    value = (value or "").strip()
    return "tel:" + re.sub(r"[^0-9+]", "", value) if _PHONE.fullmatch(value) else None


def when(value) -> str:
    """``2026-11-22T04:41:21Z`` -> ``22 Nov 2026, 04:41 UTC``; anything else unchanged."""
    if not value:
        return ""
    if len(str(value)) == 10:  # a plain date (validThrough): no time to show
        try:
            d = dt.date.fromisoformat(str(value))
            return f"{d.day} {d:%b %Y}"
        except ValueError:
            return str(value)
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        try:
            d = dt.date.fromisoformat(str(value)[:10])
            return f"{d.day} {d:%b %Y}"
        except ValueError:
            return str(value)
    if t.tzinfo is None:
        return f"{t.day} {t:%b %Y, %H:%M}"
    t = t.astimezone(dt.timezone.utc)
    return f"{t.day} {t:%b %Y, %H:%M} UTC"


def kind_label(slug: str) -> str:
    return {c.slug: c.label for c in kinds()}.get(slug, slug)


def category_label(slug: str) -> str:
    return {c.slug: c.label for c in categories()}.get(slug, slug)


# How a link reads from the group that states it, and from the group it names.
_OUT = {"memberOf": "Member of", "member": "Has member", "linkedTo": "Linked to", "vouchesFor": "Vouches for",
        "parentOrganization": "Part of", "subOrganization": "Has sub-organisation"}
_IN = {"memberOf": "is a member of this group", "member": "lists this group as a member",
       "linkedTo": "links to this group", "vouchesFor": "vouches for this group",
       "parentOrganization": "names this group as its parent",
       "subOrganization": "names this group as a sub-organisation"}


def relation_out(name: str) -> str:
    return _OUT.get(name, name)


def relation_in(name: str) -> str:
    return _IN.get(name, f"says {name}")


def group_href(key: str) -> str:
    return "/groups/" + quote(key, safe="")


def register(app) -> None:
    app.add_template_filter(http_url)
    app.add_template_filter(mailto)
    app.add_template_filter(tel)
    app.add_template_filter(when)
    app.add_template_filter(kind_label)
    app.add_template_filter(category_label)
    app.add_template_filter(area_label)
    app.add_template_filter(group_href)
    app.add_template_filter(relation_out)
    app.add_template_filter(relation_in)
    app.add_template_global(urlencode, "urlencode_pairs")


# ------------------------------------------------------------------------- URLs and pages
def public_url(path: str) -> str:
    """An absolute URL on this server from the configured ``PUBLIC_URL``, never the request's Host."""
    from . import DEFAULTS  # an app with only the SPARQL blueprint has no PUBLIC_URL of its own

    return current_app.config.get("PUBLIC_URL", DEFAULTS["PUBLIC_URL"]).rstrip("/") + path


def alternate_url(path: str) -> str:
    """The JSON twin's URL with this request's parameters, re-encoded (safe in a ``Link`` header)."""
    query = urlencode(list(request.args.items(multi=True)))
    return path + ("?" + query if query else "")


def page(template: str, alternate: str, status: int = 200, **context):
    """A page naming its JSON twin in a ``Link: rel=alternate`` header (and to the template)."""
    resp = make_response(render_template(template, alternate=alternate, **context), status)
    resp.headers["Link"] = f'<{alternate}>; rel="alternate"; type="application/json"'
    return resp
