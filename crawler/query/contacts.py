"""First points of contact: who to call about a topic in an area.

The text index finds and ranks the groups; this module adds how to reach
each one, preferring its ``contactPoint`` marked "first point of contact",
then any contact point, then the group's own email, telephone and website.
"""

from __future__ import annotations

from collections import defaultdict

import pyoxigraph as ox

from hubnet.vocab.model import SCHEMA

FIRST = "first point of contact"

_Q = f"""
SELECT ?g ?cp ?type ?cname ?email ?tel ?lang ?gemail ?gtel ?gurl WHERE {{
  VALUES ?g {{ %s }}
  GRAPH ?src {{
    {{ ?g <{SCHEMA}contactPoint> ?cp .
       OPTIONAL {{ ?cp <{SCHEMA}contactType> ?type }}
       OPTIONAL {{ ?cp <{SCHEMA}name> ?cname }}
       OPTIONAL {{ ?cp <{SCHEMA}email> ?email }}
       OPTIONAL {{ ?cp <{SCHEMA}telephone> ?tel }}
       OPTIONAL {{ ?cp <{SCHEMA}availableLanguage> ?lang }} }}
    UNION {{ ?g <{SCHEMA}email> ?gemail }}
    UNION {{ ?g <{SCHEMA}telephone> ?gtel }}
    UNION {{ ?g <{SCHEMA}url> ?gurl }}
  }}
}}"""


def _is_iri(value: str) -> bool:
    try:
        ox.NamedNode(value)  # the one IRI check that decides what reaches query text
    except ValueError:
        return False
    return True


def _strip_mailto(v: str) -> str:
    return v[7:] if v.lower().startswith("mailto:") else v


def contact_details(store, iris) -> dict:
    """{group IRI: {"name", "email", "telephone", "languages", "type", "url"}} for the given groups."""
    iris = [i for i in iris if i]
    if not iris:
        return {}
    values = " ".join(str(ox.NamedNode(i)) for i in iris if _is_iri(i))
    points: dict = defaultdict(dict)
    own: dict = defaultdict(dict)
    for r in store.query(_Q % values):
        g = r["g"].value
        if r["cp"] is not None:
            p = points[g].setdefault(r["cp"].value, {"languages": set()})
            for key, var in (("type", "type"), ("name", "cname"), ("email", "email"), ("telephone", "tel")):
                if r[var] is not None:
                    p.setdefault(key, r[var].value)
            if r["lang"] is not None:
                p["languages"].add(r["lang"].value)
        for key, var in (("email", "gemail"), ("telephone", "gtel"), ("url", "gurl")):
            if r[var] is not None:
                own[g].setdefault(key, r[var].value)
    out = {}
    for g in iris:
        cps = list(points.get(g, {}).values())
        cps.sort(key=lambda p: (str(p.get("type", "")).lower() != FIRST, p.get("name", "")))
        best = cps[0] if cps else {}
        mine = own.get(g, {})
        out[g] = {
            "type": best.get("type"),
            "name": best.get("name"),
            "email": _strip_mailto(best.get("email") or mine.get("email") or "") or None,
            "telephone": best.get("telephone") or mine.get("telephone"),
            "languages": sorted(best.get("languages", ())),
            "url": mine.get("url"),
        }
    return out
