"""First points of contact: who to call about a topic in an area.

The text index finds and ranks the groups; this module adds how to reach
each one, preferring its ``contactPoint`` marked "first point of contact",
then any contact point, then the group's own email, telephone and website.
"""

from __future__ import annotations

from collections import defaultdict

import pyoxigraph as ox

from hubnet.crawler.budget import UNLIMITED, Budget
from hubnet.crawler.store import profiles as P

# One value per row (issue 12, finding 2): each property is its own UNION branch, so a contact
# point with k names and k emails gives 2k rows, never the k**5 of five OPTIONALs side by side.
_CP = f"?g <{P.CONTACT_POINT}> ?cp ."
_Q = f"""
SELECT ?g ?cp ?f ?v WHERE {{
  VALUES ?g {{ %s }}
  GRAPH ?src {{
    {{ {_CP} BIND("cp" AS ?f) }}
    UNION {{ {_CP} ?cp <{P.CONTACT_TYPE}> ?v BIND("type" AS ?f) }}
    UNION {{ {_CP} ?cp <{P.NAME}> ?v BIND("name" AS ?f) }}
    UNION {{ {_CP} ?cp <{P.EMAIL}> ?v BIND("email" AS ?f) }}
    UNION {{ {_CP} ?cp <{P.TELEPHONE}> ?v BIND("telephone" AS ?f) }}
    UNION {{ {_CP} ?cp <{P.LANGUAGES}> ?v BIND("lang" AS ?f) }}
    UNION {{ ?g <{P.EMAIL}> ?v BIND("gemail" AS ?f) }}
    UNION {{ ?g <{P.TELEPHONE}> ?v BIND("gtel" AS ?f) }}
    UNION {{ ?g <{P.URL}> ?v BIND("gurl" AS ?f) }}
  }}
}}"""
_OWN = {"gemail": "email", "gtel": "telephone", "gurl": "url"}


def _is_iri(value: str) -> bool:
    try:
        ox.NamedNode(value)  # the one IRI check that decides what reaches query text
    except ValueError:
        return False
    return True


def _strip_mailto(v: str) -> str:
    return v[7:] if v.lower().startswith("mailto:") else v


def _first_values(fields: dict) -> dict:
    """One value per field (the least, so the same whatever order rows come in; a "first point
    of contact" type before any other); every language."""
    out = {k: min(v) for k, v in fields.items() if k != "lang" and v}
    firsts = [t for t in fields.get("type", ()) if P.is_first_contact(t)]
    if firsts:
        out["type"] = firsts[0]
    out["languages"] = set(fields.get("lang", ()))
    return out


def contact_details(store, iris, budget: Budget = UNLIMITED) -> dict:
    """{group IRI: {"name", "email", "telephone", "languages", "type", "url"}} for the given groups."""
    iris = [i for i in iris if i]
    if not iris:
        return {}
    values = " ".join(str(ox.NamedNode(i)) for i in iris if _is_iri(i))
    points: dict = defaultdict(dict)           # group -> contact point -> {field: [values]}
    own: dict = defaultdict(lambda: defaultdict(list))
    for r in budget.rows(store, _Q % values):
        g, f, v = r["g"].value, r["f"].value, r["v"]
        if f in _OWN:
            own[g][_OWN[f]].append(v.value)
            continue
        p = points[g].setdefault(r["cp"].value, defaultdict(list))
        if v is not None:
            p[f].append(v.value)
    points = {g: [_first_values(p) for p in cps.values()] for g, cps in points.items()}
    own = {g: _first_values(fields) for g, fields in own.items()}
    out = {}
    for g in iris:
        cps = points.get(g, [])
        cps.sort(key=lambda p: (not P.is_first_contact(p.get("type")), p.get("name", "")))
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
