"""The site folder's register of hosted groups: site.json, the action log, invites.

Each group is in one state: ``draft`` (created by the hub, not published),
``invited`` (an invite link is out), ``active`` (the group accepted and holds
its own password), ``suspended`` (the hub hid it: its pages answer 410) or
``moved`` (it left: its old addresses answer 301 to its new profile).

Invite tokens are random, stored only as their SHA-256 hash, single use and
expiring (``invite_days``, default ``INVITE_DAYS``). Every change to site.json
is a read-modify-write under an exclusive lock on ``DIR/.lock`` and an atomic
replace, so the CLI and a running server never lose each other's changes and a
crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hubnet.vocab import HubnetError

from ..storage import atomic_write, default_state_dir, ensure_private_dir

SITE_FILE = "site.json"
LOG_FILE = "log.jsonl"
INVITE_DAYS = 14              # default life of an invite link, in days (site.json "invite_days")
MAX_SLUG = 40
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# Paths the site itself answers at: no group may take them.
RESERVED = frozenset({"invite", "index.json", "static", "login", "logout", "edit", "profile.jsonld",
                      "profile.ttl", "robots.txt", "favicon.ico", "sitemap.xml"})
STATES = ("draft", "invited", "active", "suspended", "moved")


class SiteError(HubnetError):
    """A hosting command or site folder that cannot be used; the message says why."""

    code = "site_error"
    status = 400


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_slug(slug: str) -> str:
    if not SLUG.match(slug or "") or "--" in slug or slug in RESERVED:
        raise SiteError(f"{slug!r} cannot be a group's address on the site: use 1-{MAX_SLUG} lower-case letters, "
                        "digits and single hyphens (not one of the site's own paths: "
                        f"{', '.join(sorted(RESERVED))})")
    return slug


@dataclass(frozen=True)
class Site:
    root: Path

    # ------------------------------------------------------------------ paths
    @property
    def file(self) -> Path:
        return self.root / SITE_FILE

    @property
    def log_file(self) -> Path:
        return self.root / LOG_FILE

    @property
    def private_dir(self) -> Path:
        return self.root / ".site"

    def group_dir(self, slug: str) -> Path:
        return self.root / "groups" / check_slug(slug)

    def profile(self, slug: str) -> Path:
        return self.group_dir(slug) / "profile.jsonld"

    def state_dir(self, slug: str) -> Path:
        return default_state_dir(self.profile(slug))

    # ------------------------------------------------------------------ reading
    @classmethod
    def open(cls, root) -> "Site":
        site = cls(Path(root).expanduser().resolve())
        if not site.file.is_file():
            raise SiteError(f"{root} is not a hosting site folder (there is no {SITE_FILE} in it). "
                            f"Create one with: hubnet-node site init {root} --public-url https://hub.example.org")
        site.read()  # refuses a damaged file now, with a clear message
        return site

    def read(self) -> dict:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SiteError(f"{self.file} cannot be read ({exc}); restore it from a backup") from None
        if not isinstance(data, dict) or not isinstance(data.get("groups"), dict) or not data.get("public_url"):
            raise SiteError(f"{self.file} is not a hosting site's register; restore it from a backup")
        return data

    @property
    def public_url(self) -> str:
        return self.read()["public_url"]

    def url(self, slug: str, data: dict | None = None) -> str:
        """The group's page, e.g. https://hub.example.org/marsh-gate/."""
        return (data or self.read())["public_url"] + "/" + slug + "/"

    def groups(self) -> dict:
        return self.read()["groups"]

    def group(self, slug: str, data: dict | None = None) -> dict:
        groups = (data or self.read())["groups"]
        if slug not in groups:
            raise SiteError(f"there is no group {slug!r} on this site (see: hubnet-node site list --site {self.root})")
        return groups[slug]

    # ------------------------------------------------------------------ writing
    @classmethod
    def init(cls, root, public_url: str, invite_days: int = INVITE_DAYS, geocoder: str | None = None,
             who: str | None = None, aggregators=()) -> "Site":
        site = cls(Path(root).expanduser().resolve())
        if site.file.exists():
            raise SiteError(f"{root} is already a hosting site folder ({SITE_FILE} exists); nothing was changed")
        site.root.mkdir(parents=True, exist_ok=True)
        ensure_private_dir(site.private_dir)
        data = {"public_url": public_url.rstrip("/"), "invite_days": invite_days, "groups": {},
                "aggregators": list(aggregators)}
        if geocoder:
            data["geocoder"] = geocoder
        with site._locked():
            atomic_write(site.file, _dump(data), mode=0o600)
            site.log("init", None, who, public_url=data["public_url"])
        return site

    @contextlib.contextmanager
    def _locked(self):
        ensure_private_dir(self.private_dir)
        with open(self.private_dir / "lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def change(self):
        """site.json's data to change in place: written back (atomically) when the block ends without error."""
        with self._locked():
            data = self.read()
            yield data
            atomic_write(self.file, _dump(data), mode=0o600)

    def log(self, action: str, slug: str | None, who: str | None = None, **detail) -> None:
        entry = {"at": stamp(utcnow()), "who": who or _admin(), "action": action}
        if slug:
            entry["group"] = slug
        entry.update({k: v for k, v in detail.items() if v is not None})
        with open(self.log_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()

    def new_invite(self, record: dict, data: dict, now: datetime, days: int | None = None) -> str:
        """A fresh invite token for ``record`` (its hash and expiry kept; the token itself only returned)."""
        days = data.get("invite_days", INVITE_DAYS) if days is None else days
        token = secrets.token_urlsafe(32)
        record["invite"] = {"hash": token_hash(token), "expires": stamp(now + timedelta(days=days))}
        record["state"] = "invited"
        return token

    def invite_url(self, token: str, data: dict | None = None) -> str:
        return (data or self.read())["public_url"] + "/invite/" + token


def find_invite(data: dict, token: str) -> tuple[str, dict] | tuple[None, None]:
    """The (slug, record) whose pending invite is ``token``, compared by hash in constant time."""
    wanted = token_hash(token or "")
    found = (None, None)
    for slug, record in data["groups"].items():
        invite = record.get("invite") or {}
        if secrets.compare_digest(invite.get("hash", ""), wanted) and record.get("state") == "invited":
            found = (slug, record)
    return found


def invite_expired(record: dict, now: datetime) -> bool:
    return datetime.fromisoformat(record["invite"]["expires"]) <= now


def _admin() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _dump(data: dict) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
