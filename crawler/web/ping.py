"""``POST /ping``: "my profile changed (or is new), please re-check it".

The ping carries no data, only a URL: the crawler thread fetches that URL
through the crawler's safe fetcher exactly as in a crawl, so a ping can never
put anything in the store that the site itself does not serve. Answered at
once with 202; the crawl happens in the background. Rate-limited per client
address (flask-limiter, ``PING_LIMIT``); duplicate pending pings are coalesced.

CSRF does not apply: the server sets no cookies and has no sessions or
logins, so a cross-site form post carries no authority a direct request
would not have (and the rate limit applies to both alike).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, request

from hubnet.vocab.errors import FetchError, HubnetError

from hubnet.crawler.crawl.fetch import canonical_url
from hubnet.crawler.crawl.netpolicy import AddressPolicy

bp = Blueprint("ping", __name__)


def check_ping_url(url: str, settings) -> str:
    """The canonical URL to crawl, or HubnetError(400) saying why not, before any traffic.

    The same checks the fetcher makes before connecting (scheme, userinfo,
    port, IP-literal address), so an obviously unfetchable ping never becomes
    a failed source record.
    """
    if not url:
        raise HubnetError("url: give the address of a profile, e.g. url=https://group.example.org/",
                          code="bad_parameter", status=400)
    try:
        canon = canonical_url(url, settings)
        parts = urlsplit(canon)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except (FetchError, ValueError) as exc:
        raise HubnetError(f"url: {getattr(exc, 'message', str(exc))}", code="bad_url", status=400) from None
    policy = AddressPolicy(settings)
    if not policy.port_allowed(port):
        raise HubnetError(f"url: port {port} is not crawled; profiles must be on port 80 or 443",
                          code="bad_url", status=400)
    host = (parts.hostname or "").strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return canon
    why = policy.refusal(host)
    if why:
        raise HubnetError(f"url: {host} is a {why} address; only public addresses are crawled",
                          code="bad_url", status=400)
    return canon


@bp.post("/ping")
def ping():
    hub = current_app.extensions["hubnet"]
    url = check_ping_url((request.form.get("url") or "").strip(), hub.settings)
    forgotten = hub.store.blocked.get(url)
    if forgotten:
        raise HubnetError(f"url: this hub has stopped fetching {url} ({forgotten['reason']})",
                          code="forgotten", status=403)
    queued = hub.background.ping(url)
    return jsonify({"ok": True, "queued": url, "coalesced": not queued}), 202
