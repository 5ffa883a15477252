"""Fetching a profile by URL for ``hubnet-node validate https://...``.

The volunteer is checking their own page, so this is a plain polite GET,
capped like the crawler (10 s, 256 KiB), that says in words what went wrong.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from hubnet.vocab import FetchError

from .ping import USER_AGENT

ACCEPT = "application/ld+json, text/html;q=0.5"
MAX_BODY = 256 * 1024
TIMEOUT = 10
MAX_REDIRECTS = 5


def media_type_of(content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return "text/html"
    if kind == "text/turtle":
        return "text/turtle"
    return "application/ld+json"  # JSON-LD, plain JSON, or a server that does not say


def fetch(url: str) -> tuple[bytes, str, str]:
    """(body, media type, final URL after redirects). Raises FetchError with a plain message."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise FetchError("only http:// and https:// addresses can be fetched", code="bad_url")
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    try:
        with session.get(url, headers={"Accept": ACCEPT, "User-Agent": USER_AGENT},
                         timeout=TIMEOUT, stream=True) as resp:
            if resp.status_code >= 400:
                raise FetchError(f"the server answered {resp.status_code} {resp.reason or ''}".strip(),
                                 code="http_error")
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_BODY:
                raise FetchError(f"the page is larger than {MAX_BODY // 1024} KiB", code="too_large")
            body = bytearray()
            for chunk in resp.iter_content(64 * 1024):
                body.extend(chunk)
                if len(body) > MAX_BODY:
                    raise FetchError(f"the page is larger than {MAX_BODY // 1024} KiB", code="too_large")
            return bytes(body), media_type_of(resp.headers.get("Content-Type")), resp.url
    except requests.Timeout:
        raise FetchError(f"no answer within {TIMEOUT} seconds", code="timeout") from None
    except requests.TooManyRedirects:
        raise FetchError(f"more than {MAX_REDIRECTS} redirects", code="too_many_redirects") from None
    except requests.ConnectionError as exc:
        raise FetchError(f"could not connect ({_reason(exc)})", code="connection_failed") from None
    except requests.RequestException as exc:
        raise FetchError(f"the request failed ({_reason(exc)})", code="fetch_failed") from None


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else type(exc).__name__
