"""The server's log: one JSON object per line on stderr (JSON Lines), for journald, Loki, jq.

Every line has ``ts`` (UTC, ISO 8601), ``level`` and ``event``; events name
``who`` (a client address, ``cli uid=N`` for the control socket, ``schedule``
or ``ping`` for crawls), ``what`` (a URL, a path, a command), ``outcome`` and
``duration_ms``, plus what else helps (a reason ``code``, counts). Events:

- ``start`` / ``stop``: the server listening (``url``) and stopping;
- ``crawl``: one per background crawl, with its source counts and failures by reason;
- ``ping``: one per ``POST /ping`` (outcome ``queued``, ``coalesced`` or ``refused`` with ``code``);
- ``refusal``: any other request answered 4xx, with the reason ``code``;
- ``error``: a 5xx answer or a crawl that failed, with the exception in ``exc``;
- ``control``: a command through the control socket (``forget``, ``backup``, ``sources``, ...);
- ``log``: anything else a library logs (waitress's warnings, say), with its ``msg``.

docs/operating.md documents them; tests/test_ops_serving.py parses every line a real serve emits.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

EVENTS = logging.getLogger("hubnet.events")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds")
               .replace("+00:00", "Z"), "level": record.levelname.lower()}
        fields = getattr(record, "hubnet", None)
        if fields is None:
            out.update(event="log", logger=record.name, msg=record.getMessage())
        else:
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def event(name: str, level: int = logging.INFO, exc_info=None, **fields) -> None:
    """Log one event line: ``event(name, who=..., what=..., outcome=..., duration_ms=...)``."""
    EVENTS.log(level, name, extra={"hubnet": {"event": name, **fields}}, exc_info=exc_info)


def configure(stream=None, level: int = logging.INFO) -> logging.Handler:
    """Send every log record in the process to ``stream`` (stderr) as JSON Lines; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.addHandler(handler)   # the caller removes it when done (serve.run, on the way out)
    root.setLevel(level)
    return handler


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))
