"""One log line per ping, refusal and server error (crawler/logs.py has the format).

Ordinary successful page views are not logged here: the reverse proxy's access
log has them, and a hub's log should show what needs attention.
"""

from __future__ import annotations

import logging
import time

from flask import g, request
from werkzeug.exceptions import HTTPException

from ..logs import event, ms


def init_app(app) -> None:
    app.before_request(_start)
    app.after_request(_log)


def _start():
    g.hubnet_t0 = time.monotonic()


def _log(resp):
    path, status = request.path, resp.status_code
    if request.endpoint == "ping.ping" or status >= 400:
        name = "ping" if request.endpoint == "ping.ping" else ("error" if status >= 500 else "refusal")
        fields = {"who": request.remote_addr, "what": f"{request.method} {path}", "status": status,
                  "duration_ms": ms(time.monotonic() - g.get("hubnet_t0", time.monotonic()))}
        body = resp.get_json(silent=True) if resp.is_json else None
        if name == "ping":
            fields["what"] = (body or {}).get("queued") or _pinged_url()
            fields["outcome"] = ("coalesced" if (body or {}).get("coalesced") else "queued") if status < 400 \
                else "refused"
        else:
            fields["outcome"] = "refused" if status < 500 else "failed"
        if status >= 400 and isinstance(body, dict) and isinstance(body.get("error"), dict):
            fields["code"] = body["error"].get("code")
        event(name, logging.ERROR if status >= 500 else logging.INFO, **fields)
    return resp


def _pinged_url() -> str:
    """The refused ping's URL, if its body was read; an oversize body is never read for a log line."""
    if request.content_length is None or request.content_length > (request.max_content_length or 0):
        return ""
    try:
        return (request.form.get("url") or "")[:300]
    except HTTPException:
        return ""
