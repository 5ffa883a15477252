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

from flask import Blueprint, jsonify, request

from hubnet.vocab.errors import FetchError, HubnetError

from hubnet.crawler.crawl.netpolicy import check_target
from .current import hub

bp = Blueprint("ping", __name__)


def check_ping_url(url: str, settings) -> str:
    """The canonical URL to crawl, or HubnetError(400, ``bad_url``) saying why not, before any traffic.

    The fetcher's own pre-check (``netpolicy.check_target``: scheme, userinfo, port,
    IP-literal address), so an obviously unfetchable ping never becomes a failed source record.
    """
    if not url:
        raise HubnetError("url: give the address of a profile, e.g. url=https://group.example.org/",
                          code="bad_parameter", status=400)
    try:
        return check_target(url, settings)[0]
    except FetchError as exc:
        message = exc.message
        if exc.code == "blocked_address":
            message = f"{exc.address} is a {exc.why} address; only public addresses are crawled"
        raise HubnetError(f"url: {message}", code="bad_url", status=400) from None


@bp.post("/ping")
def ping():
    aggregator = hub()
    url = check_ping_url((request.form.get("url") or "").strip(), aggregator.settings)
    forgotten = aggregator.store.blocked.get(url)
    if forgotten:
        raise HubnetError(f"url: this hub has stopped fetching {url} ({forgotten['reason']})",
                          code="forgotten", status=403)
    queued = aggregator.background.ping(url)
    return jsonify({"ok": True, "queued": url, "coalesced": not queued}), 202
