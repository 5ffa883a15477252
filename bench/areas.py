"""Area roll-up search at 100,000 groups (issue 15): ``Search(area=<region|borough|ward>)``.

A micro-benchmark of the text index alone, no crawl: N groups are written straight into an
index file (as ``sync`` writes them), spread over England-like areas (9 regions, ~300 boroughs,
~9,000 wards: a region holds ~11,000 groups). Each group gives its ward's code in its profile;
every tenth gives only coordinates, inside its ward's (box) boundary. Then the operator's areas
and boundaries are loaded and each search runs a few times; the median is reported beside an
unfiltered search and an exact area-text search (what ``area=`` did before roll-up). ``make
bench`` runs it as its ``areas`` section (``measure``), at the ingest size (100,000; quick 2,000).

    .venv/bin/python -m bench.areas [--n 100000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from hubnet.crawler.store.areas import AreaSet
from hubnet.crawler.store.index import Extracted, Search, TextIndex

REGIONS, BOROUGHS_PER_REGION, WARDS_PER_BOROUGH = 9, 33, 30
TOPICS = ["food", "housing", "arts", "youth", "older people", "environment", "sport", "advice"]
KINDS = ["charity", "residents-association", "community-group", "youth-group", "faith-group"]


def _areas(boroughs: int = BOROUGHS_PER_REGION, wards: int = WARDS_PER_BOROUGH) -> tuple[str, list, dict]:
    rows, boxes = ["code,name,level,parent"], {}
    for r in range(REGIONS):
        region = f"E12{r:06d}"
        rows.append(f"{region},Region {r},region,")
        for b in range(boroughs):
            borough = f"E09{r * 100 + b:06d}"
            rows.append(f"{borough},Borough {r}-{b},borough,{region}")
            for w in range(wards):
                ward = f"E05{(r * 100 + b) * 100 + w:06d}"
                rows.append(f"{ward},Ward {r}-{b}-{w},ward,{borough}")
                x0, y0 = -5 + r * 1.0 + w * 0.03, 50 + b * 0.1
                boxes[ward] = (x0, y0, x0 + 0.03, y0 + 0.1)
    return "\n".join(rows) + "\n", list(boxes), boxes


def _geojson(boxes: dict) -> str:
    features = [{"type": "Feature", "properties": {"code": c},
                 "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}}
                for c, (x0, y0, x1, y1) in boxes.items()]
    return json.dumps({"type": "FeatureCollection", "features": features})


def build(path: Path, n: int, seed: int = 15, *, boroughs: int = BOROUGHS_PER_REGION,
          wards_per_borough: int = WARDS_PER_BOROUGH) -> TextIndex:
    rng = random.Random(seed)
    csv_text, wards, boxes = _areas(boroughs, wards_per_borough)
    index = TextIndex(path)
    conn = index._conn()
    with index._write_lock:
        for i in range(n):
            ward = rng.choice(wards)
            x0, y0, x1, y1 = boxes[ward]
            coded = i % 10 != 0
            e = Extracted(iri=f"https://g{i:06d}.bench.test/#group", name=f"Group {i}",
                          description="A community group.", topics=(rng.choice(TOPICS),), kinds=(rng.choice(KINDS),),
                          areas=(f"Ward {ward}",) if coded else (),
                          area_codes=((ward, f"Ward {ward}"),) if coded else (),
                          lat=rng.uniform(y0, y1), lon=rng.uniform(x0, x1))
            index._insert(conn, f"https://g{i:06d}.bench.test/", "v1", e)
        conn.commit()
    t0 = time.perf_counter()
    index.areas.load(AreaSet.parse(csv_text, _geojson(boxes), max_rows=20_000, max_points=100_000))
    index.load_seconds = time.perf_counter() - t0
    return index


def _median_ms(index: TextIndex, s: Search, runs: int) -> tuple[float, int]:
    times, total = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        total = index.search(s)["total"]
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), total


# (key, label, search): the baseline first. ``topic=food`` matches 1/8 of the groups, about what a
# region holds (1/9), so the ratios compare filters of similar size.
CASES = [("baseline_topic", "topic=food (a facet filter as before, the baseline)", Search(topic="food")),
         ("no_filter", "no filter (front page counts, cached)", Search()),
         ("ward_text", "area=<ward text> (exact text, as before)", Search(area="Ward E05000000")),
         ("ward_code", "area=<ward code>", Search(area="E05000000")),
         ("borough_name", "area=<borough name>", Search(area="Borough 0-0")),
         ("region_name", "area=<region name> (all its boroughs and wards below it)", Search(area="Region 0")),
         ("region_kind", "area=<region code>&kind=charity", Search(area="E12000000", kind="charity")),
         ("region_words", "q=community&area=<region>", Search(q="community", area="Region 0"))]


def measure(n: int, runs: int, *, small: bool = False) -> dict:
    """Build the index in a scratch directory and time every case: what ``make bench`` reports.
    ``small``: 3 boroughs of 5 wards a region (a quick run's smoke test), not 33 of 30."""
    shape = dict(boroughs=3, wards_per_borough=5) if small else {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        index = build(Path(tmp) / "index.sqlite", n, **shape)
        out = {"n": n, "runs": runs, "wards": REGIONS * shape.get("boroughs", BOROUGHS_PER_REGION)
               * shape.get("wards_per_borough", WARDS_PER_BOROUGH), "write_s": time.perf_counter() - t0 - index.load_seconds,
               "load_s": index.load_seconds, "cases": []}
        try:
            for key, label, s in CASES:
                ms, total = _median_ms(index, s, runs)
                out["cases"].append({"key": key, "label": label, "total": total, "median_ms": ms})
        finally:
            index.close()
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args(argv)
    r = measure(a.n, a.runs)
    print(f"{a.n:,} groups written in {r['write_s']:.1f} s; areas and boundaries loaded "
          f"(memberships recomputed) in {r['load_s']:.1f} s")
    print("| search | groups found | median ms |\n|---|---|---|")
    for c in r["cases"]:
        print(f"| {c['label']} | {c['total']:,} | {c['median_ms']:.1f} |")


if __name__ == "__main__":
    main()
