"""The demo's own postcode lookup: a postcodes.io stand-in on 127.0.0.1, so the demo runs offline.

The example groups live in a made-up borough (Leybridge, Marsh End, Riverlea) with made-up
postcodes (LB, MQ, RL); each answers in postcodes.io's shape (``GET /postcodes/<postcode>``
and the bulk ``POST /postcodes``), with a position near the demo's map centre. The demo's own
postcodes also answer their ward and borough from the demo's areas file (``areas.csv``: the ward
each group's own coordinates lie in), so the aggregator learns postcode memberships
(``via: "postcode"``, docs/areas.md) that agree with the boundaries. The aggregator is pointed at
it with ``--geocoder``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

CENTRE = (51.5640, -0.0180)   # Leybridge on the demo's map
_POSTCODE = re.compile(r"(LB|MQ|RL)([0-9]) ?([0-9][A-Z]{2})")
# The demo's postcodes -> the ward (areas.csv) their groups' own coordinates lie in.
WARDS = {"LB1 1TH": "E05900011", "LB2 6CS": "E05900011", "LB2 6SM": "E05900011", "LB1 2SP": "E05900012",
         "LB1 3FL": "E05900012", "LB1 3FQ": "E05900012", "LB1 4LS": "E05900013", "LB3 2MR": "E05900014",
         "MQ1 2BL": "E05900021", "MQ1 2CW": "E05900021", "MQ1 4CG": "E05900022", "MQ2 3WA": "E05900022",
         "MQ2 1VG": "E05900023", "MQ3 7IE": "E05900023", "MQ2 3WR": "E05900024", "MQ2 5HP": "E05900024"}
AREAS = {row["code"]: row for row in csv.DictReader((Path(__file__).parent / "areas.csv").open(encoding="utf-8"))}


def answer(postcode: str) -> dict | None:
    """The postcodes.io ``result`` for a demo postcode (None for any other)."""
    m = _POSTCODE.fullmatch(re.sub(r"\s+", "", postcode.upper()))
    if not m:
        return None
    area, district_no, inward = m.groups()
    code = f"{area}{district_no} {inward}"
    digest = hashlib.sha256(code.encode()).digest()
    lat = CENTRE[0] + (digest[0] - 128) / 128 * 0.012
    lon = CENTRE[1] + (digest[1] - 128) / 128 * 0.02
    result = {"postcode": code, "latitude": round(lat, 6), "longitude": round(lon, 6), "region": "Ley Valley",
              "country": "England", "codes": {}}
    if code in WARDS:
        ward = AREAS[WARDS[code]]
        borough = AREAS[ward["parent"]]
        result.update(admin_ward=ward["name"], admin_district=borough["name"],
                      codes={"admin_ward": ward["code"], "admin_district": borough["code"]})
    return result


class DemoGeocoder:
    """Serve the lookup on 127.0.0.1 (a free port) in a daemon thread; ``url`` is its address."""

    def __init__(self, port: int = 0):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                result = answer(unquote(self.path.removeprefix("/postcodes/"))) \
                    if self.path.startswith("/postcodes/") else None
                self._send(200 if result else 404, {"status": 200, "result": result} if result
                           else {"status": 404, "error": "Postcode not found"})

            def do_POST(self):
                try:
                    asked = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))["postcodes"]
                    assert isinstance(asked, list) and len(asked) <= 100
                except (ValueError, KeyError, TypeError, AssertionError):
                    self._send(400, {"status": 400, "error": "Invalid JSON query submitted"})
                    return
                self._send(200, {"status": 200, "result": [{"query": q, "result": answer(str(q))} for q in asked]})

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="demo-geocoder", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
