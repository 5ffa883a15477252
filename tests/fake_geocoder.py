"""A postcodes.io stand-in on a loopback port, answering in postcodes.io's own shape.

    with FakeGeocoder() as geo:      # geo.url -> "http://127.0.0.1:PORT"
        ...                          # geo.requests: the paths asked for, in order

Known postcodes answer ``200 {"status": 200, "result": {...}}`` (fields as the real
service gives them); well-formed unknown ones ``404 {"status": 404, "error": "Postcode not found"}``;
anything else ``404 {"status": 404, "error": "Invalid postcode"}``. ``POST /postcodes``
is the bulk lookup (at most 100, as the real one), each recorded in ``bulk``.

Two ways to be a harder geocoder, set on the instance: ``pieces`` (default 1) sends each answer
in that many writes with a short pause between them, so the client meets the body arriving in
parts, as from a slow or distant service; ``bulk_fails_after`` (default None) answers HTTP 503 to
every bulk request after that many.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

E10_5AA = {
    "postcode": "E10 5AA", "quality": 1, "eastings": 537912, "northings": 186792, "country": "England",
    "nhs_ha": "London", "longitude": -0.010542, "latitude": 51.563126, "european_electoral_region": "London",
    "primary_care_trust": "Waltham Forest", "region": "London", "lsoa": "Waltham Forest 027B",
    "msoa": "Waltham Forest 027", "incode": "5AA", "outcode": "E10",
    "parliamentary_constituency": "Leyton and Wanstead", "admin_district": "Waltham Forest",
    "parish": "Waltham Forest, unparished area", "admin_county": None, "date_of_introduction": "198001",
    "admin_ward": "Leyton", "ced": None, "ccg": "NHS North East London", "nuts": "Waltham Forest",
    "pfa": "Metropolitan Police",
    "codes": {"admin_district": "E09000031", "admin_county": "E99999999", "admin_ward": "E05013898",
              "parish": "E43000220", "parliamentary_constituency": "E14001330", "ccg": "E38000255",
              "ccg_id": "A3A8R", "ced": "E99999999", "nuts": "TLI53", "lsoa": "E01004357", "msoa": "E02000903",
              "lau2": "E09000031", "pfa": "E23000001"},
}
SW1A_1AA = {
    "postcode": "SW1A 1AA", "quality": 1, "eastings": 529090, "northings": 179645, "country": "England",
    "longitude": -0.141588, "latitude": 51.501009, "region": "London", "incode": "1AA", "outcode": "SW1A",
    "admin_district": "Westminster", "admin_county": None, "admin_ward": "St James's",
    "codes": {"admin_district": "E09000033", "admin_county": "E99999999", "admin_ward": "E05013806",
              "parish": "E43000236", "lsoa": "E01004736", "msoa": "E02000977"},
}
KNOWN = {"E10 5AA": E10_5AA, "SW1A 1AA": SW1A_1AA}


class FakeGeocoder:
    def __init__(self, known: dict | None = None):
        self.known = dict(KNOWN if known is None else known)
        self.requests: list[str] = []
        self.bulk: list = []   # the postcodes of each bulk POST, in order
        self.pieces = 1
        self.bulk_fails_after: int | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append(self.path)
                code = unquote(self.path.removeprefix("/postcodes/")).upper()
                if self.path.startswith("/postcodes/") and code in fake.known:
                    self._answer(200, {"status": 200, "result": fake.known[code]})
                elif self.path.startswith("/postcodes/") and " " in code:
                    self._answer(404, {"status": 404, "error": "Postcode not found"})
                else:
                    self._answer(404, {"status": 404, "error": "Invalid postcode"})

            def do_POST(self):
                """The bulk lookup: {"postcodes": [...]} (at most 100) -> a result per query, null if unknown."""
                length = int(self.headers.get("Content-Length") or 0)
                fake.requests.append(self.path)
                try:
                    asked = json.loads(self.rfile.read(length))["postcodes"]
                except (ValueError, KeyError, TypeError):
                    asked = None
                fake.bulk.append(asked)
                if self.path != "/postcodes" or not isinstance(asked, list) or len(asked) > 100:
                    self._answer(400, {"status": 400, "error": "Invalid JSON query submitted"})
                    return
                if fake.bulk_fails_after is not None and len(fake.bulk) > fake.bulk_fails_after:
                    self._answer(503, {"status": 503, "error": "Service Unavailable"})
                    return
                self._answer(200, {"status": 200, "result": [
                    {"query": q, "result": fake.known.get(str(q).upper())} for q in asked]})

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                size = -(-len(data) // fake.pieces)
                for start in range(0, len(data), size):
                    if start:
                        time.sleep(0.02)   # the client reads what has come so far before the rest arrives
                    self.wfile.write(data[start:start + size])
                    self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def down_url() -> str:
    """The address of a geocoder that is down: a loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
