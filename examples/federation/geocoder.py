"""The demo's own postcode lookup: a postcodes.io stand-in on 127.0.0.1, so the demo runs offline.

The example groups live in a made-up borough (Leybridge, Marsh End, Riverlea) with made-up
postcodes (LB, MQ, RL); each answers in postcodes.io's shape (``GET /postcodes/<postcode>``
and the bulk ``POST /postcodes``), with a position near the demo's map centre and a ward and
district with GSS-shaped codes. The aggregator is pointed at it with ``--geocoder``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

CENTRE = (51.5640, -0.0180)   # Leybridge on the demo's map
DISTRICTS = {"LB": ("Leybridge", "E09000901"), "MQ": ("Marsh End", "E09000902"), "RL": ("Riverlea", "E09000903")}
_POSTCODE = re.compile(r"(LB|MQ|RL)([0-9]) ?([0-9][A-Z]{2})")


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
    district, district_code = DISTRICTS[area]
    ward = f"{district} {['North', 'Central', 'South', 'Riverside', 'Market', 'Park', 'Wharf', 'Green'][int(district_no) % 8]}"
    return {"postcode": code, "latitude": round(lat, 6), "longitude": round(lon, 6), "region": "London",
            "admin_district": district, "admin_ward": ward, "country": "England",
            "codes": {"admin_district": district_code, "admin_ward": f"E05{int(district_no):06d}"}}


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
