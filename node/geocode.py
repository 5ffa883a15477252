"""Looking a postcode up with a postcodes.io-compatible geocoder, for ``init`` and the editor.

``GET <geocoder>/postcodes/<postcode>`` answers ``{"status": 200, "result": {...}}``
or ``404 {"status": 404, "error": "Invalid postcode"}``. The default is the public
https://api.postcodes.io; a council can run its own copy (``geocoder`` in
node.toml, ``HUBNET_NODE_GEOCODER``), and ``geocoder = "off"`` turns lookups off.
Turning the answer into coordinates and areas is ``vocab.postcodes`` (shared
with the aggregator); this module only fetches, with a short timeout and plain
errors: a failed lookup never stops a profile from being saved.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from urllib.parse import quote

import requests

from hubnet.vocab import HubnetError, postcodes

from .ping import USER_AGENT

DEFAULT_GEOCODER = "https://api.postcodes.io"
TIMEOUT = 5              # seconds: a volunteer is waiting
MAX_ANSWER = 64 * 1024   # a postcodes.io answer is about 2 KiB
CACHE_SIZE = 100         # recent answers kept, so Save after Look up asks no second time


class GeocodeError(HubnetError):
    """The geocoder could not be asked, or gave no usable answer."""

    code = "geocoder_failed"
    status = 502


class UnknownPostcode(GeocodeError):
    code = "unknown_postcode"
    status = 404


class Geocoder:
    def __init__(self, base_url: str | None = DEFAULT_GEOCODER, timeout: float = TIMEOUT):
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.base_url is not None

    def lookup(self, postcode: str, group_iri: str) -> postcodes.Place:
        """The place and areas of ``postcode`` (areas named under ``group_iri``'s site).

        Raises ValueError for text that is not a postcode, UnknownPostcode when the
        geocoder does not know it, GeocodeError when it cannot be reached or answers junk.
        """
        code = postcodes.normalise(postcode)
        with self._lock:
            result = self._cache.get(code)
        if result is None:
            result = self._fetch(code)
            with self._lock:
                self._cache[code] = result
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return postcodes.place_from_result(code, result, group_iri)

    def _fetch(self, code: str) -> dict:
        url = f"{self.base_url}/postcodes/{quote(code)}"
        where = f"the postcode lookup at {self.base_url}"
        try:
            with requests.get(url, timeout=self.timeout, stream=True, allow_redirects=False,
                              headers={"User-Agent": USER_AGENT, "Accept": "application/json"}) as resp:
                body = resp.raw.read(MAX_ANSWER + 1, decode_content=True)
                status = resp.status_code
        except requests.Timeout:
            raise GeocodeError(f"{where} did not answer within {self.timeout:g} seconds") from None
        except requests.RequestException as exc:
            raise GeocodeError(f"could not reach {where} ({type(exc).__name__})") from None
        if status == 404:
            raise UnknownPostcode(f"{code} is not a postcode {where} knows; check it, or leave the map "
                                  "position empty")
        if status != 200 or len(body) > MAX_ANSWER:
            raise GeocodeError(f"{where} answered {status} instead of a place")
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("result"), dict):
            raise GeocodeError(f"{where} gave an answer that is not a postcodes.io result")
        return answer["result"]
