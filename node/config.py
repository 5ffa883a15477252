"""The node's settings, layered so each place can override the one before:

1. ``DEFAULTS`` below;
2. a TOML file: ``config["CONFIG_FILE"]`` or the ``HUBNET_NODE_CONFIG``
   environment variable (keys case-insensitive; relative paths are relative
   to the file, so a ``node.toml`` can sit beside its profile);
3. ``HUBNET_NODE_*`` environment variables, e.g. ``HUBNET_NODE_PUBLIC_URL``
   (values parsed as JSON when they can be: ``HUBNET_NODE_AGGREGATORS='["https://a.example"]'``;
   a plain comma-separated string works too);
4. the dict given to ``create_app`` (tests, and the CLI's flags).

Example ``node.toml``::

    profile = "profile.jsonld"
    public_url = "https://ourgroup.org"
    aggregators = ["https://hub.example.org"]
    geocoder = "off"             # or a council's own postcodes.io copy
    session_minutes = 30
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flask import Config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .storage import default_state_dir

ENV_PREFIX = "HUBNET_NODE"

DEFAULTS = {
    "PROFILE": "profile.jsonld",      # the profile file this node serves and edits
    "STATE_DIR": None,                # default: .hubnet-node/ beside the profile
    "AGGREGATORS": [],                # base URLs told about each change (POST <url>/ping)
    "SECRET_KEY": None,               # default: generated once into STATE_DIR/secret_key
    "PUBLIC_URL": None,               # e.g. https://ourgroup.org when behind a proxy
    "SESSION_MINUTES": 30,            # editor sessions end after this long idle
    "INSECURE_LOCALHOST_COOKIES": False,  # allow the session cookie over plain http (loopback only)
    "PROXY_COUNT": 0,                 # reverse proxies in front whose X-Forwarded-* headers to trust
    "LOGIN_RATE_LIMIT": "5 per minute;50 per day",
    "RATELIMIT_STORAGE_URI": "memory://",
    "PING_TIMEOUT": 5,
    "PING_RETRY_FIRST": 60,           # seconds before a failed ping is tried again (then doubling...)
    "PING_RETRY_MAX": 3600,           # ... up to this many seconds between tries
    "GEOCODER": "https://api.postcodes.io",  # postcodes.io-compatible lookup for init and the editor; "off": none
    "MAX_CONTENT_LENGTH": 256 * 1024,  # bigger requests get 413 before any parsing
}

_PATH_KEYS = ("PROFILE", "STATE_DIR")


class ConfigError(ValueError):
    """A setting that cannot work; the message says which and why."""


def read_toml(path) -> dict:
    """A TOML config file as upper-case keys, with relative paths made relative to the file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"the config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None
    out = {str(k).upper(): v for k, v in raw.items()}
    for key in _PATH_KEYS:
        if isinstance(out.get(key), str) and not Path(out[key]).is_absolute():
            out[key] = str((path.parent / out[key]).resolve())
    return out


def resolve(overrides: dict | None = None) -> dict:
    """Apply the four layers and normalise the result (absolute paths, lists, types)."""
    overrides = dict(overrides or {})
    cfg = Config(os.getcwd(), DEFAULTS)
    config_file = overrides.get("CONFIG_FILE") or os.environ.get(f"{ENV_PREFIX}_CONFIG")
    if config_file:
        cfg.update(read_toml(config_file))
    cfg.from_prefixed_env(ENV_PREFIX)
    cfg.pop("CONFIG", None)  # HUBNET_NODE_CONFIG itself, already used above
    cfg.update(overrides)
    cfg["CONFIG_FILE"] = str(config_file) if config_file else None
    return normalise(dict(cfg))


def normalise(cfg: dict) -> dict:
    cfg["PROFILE"] = str(Path(cfg["PROFILE"]).expanduser().resolve())
    state = cfg.get("STATE_DIR") or default_state_dir(Path(cfg["PROFILE"]))
    cfg["STATE_DIR"] = str(Path(state).expanduser().resolve())

    aggs = cfg.get("AGGREGATORS") or []
    if isinstance(aggs, str):
        aggs = [a.strip() for a in aggs.split(",") if a.strip()]
    for a in aggs:
        if not isinstance(a, str) or not a.startswith(("http://", "https://")):
            raise ConfigError(f"aggregators: {a!r} is not a web address (must start with http:// or https://)")
    cfg["AGGREGATORS"] = list(aggs)

    geocoder = cfg.get("GEOCODER")
    if geocoder in (None, "", False) or str(geocoder).strip().lower() in ("off", "false", "no", "none"):
        cfg["GEOCODER"] = None
    elif not str(geocoder).startswith(("http://", "https://")):
        raise ConfigError(f"geocoder: {geocoder!r} must start with http:// or https://, or be \"off\"")
    else:
        cfg["GEOCODER"] = str(geocoder).rstrip("/")

    public = cfg.get("PUBLIC_URL") or None
    if public is not None and not str(public).startswith(("http://", "https://")):
        raise ConfigError(f"public_url: {public!r} must start with http:// or https://")
    cfg["PUBLIC_URL"] = str(public).rstrip("/") if public else None

    floats = ("PING_TIMEOUT", "PING_RETRY_FIRST", "PING_RETRY_MAX")
    for key in ("SESSION_MINUTES", "PROXY_COUNT", "MAX_CONTENT_LENGTH") + floats:
        try:
            cfg[key] = float(cfg[key]) if key in floats else int(cfg[key])
        except (TypeError, ValueError):
            raise ConfigError(f"{key.lower()}: {cfg[key]!r} is not a number") from None
    cfg["INSECURE_LOCALHOST_COOKIES"] = _as_bool(cfg.get("INSECURE_LOCALHOST_COOKIES"))
    return cfg


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
