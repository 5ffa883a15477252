"""Great-circle distance, the one formula the directory's search (store/index.py, in Python and as SQL)
and matching (query/brokering/matching.py) use. Below both sides; imports nothing of hubnet."""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088  # the mean Earth radius (IUGG)


def haversine_km(lat1, lon1, lat2, lon2) -> float | None:
    """Distance in km between two points in degrees; None when a coordinate is missing."""
    if None in (lat1, lon1, lat2, lon2):
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return EARTH_RADIUS_KM * 2 * math.asin(min(1.0, math.sqrt(a)))


def haversine_sql(lat: str, lon: str) -> str:
    """The same distance as an SQLite expression from columns ``lat``, ``lon`` to the parameters
    (?, ?, ?) = (lat, lat, lon) of the other point (SQLite's math functions)."""
    return (f"({2 * EARTH_RADIUS_KM} * asin(min(1.0, sqrt(pow(sin(radians({lat} - ?) / 2), 2) + cos(radians(?)) * "
            f"cos(radians({lat})) * pow(sin(radians({lon} - ?) / 2), 2)))))")
