"""The node's private state: signing key, editor password hash, session epoch, hubs to tell.

All three live in the state directory (mode 0700, files 0600), never in the
profile and never in the config file, so a config can be shared or committed.
The password is stored only as a werkzeug scrypt hash.

The session epoch is a number that every editor session cookie carries.
Logging out (or changing the password) increments it, so a cookie copied
before that moment no longer opens the editor even though its signature is
still good: Flask's sessions live in the cookie, and this is the one bit of
server-side state that can revoke them.
"""

from __future__ import annotations

import json
import secrets
from functools import lru_cache
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from .storage import atomic_write, ensure_private_dir

MIN_PASSWORD_LENGTH = 12


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Checked against when no password is set, so a refused login costs the same
    # time whatever the reason (no timing hint that the editor is not set up).
    return generate_password_hash(secrets.token_hex(16), method="scrypt")


def _write_private(path: Path, text: str) -> None:
    ensure_private_dir(path.parent)
    atomic_write(path, text.encode("utf-8"), mode=0o600)


def secret_key(state_dir: Path) -> str:
    """The key that signs session cookies: generated once, then reused across restarts."""
    path = Path(state_dir) / "secret_key"
    try:
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    _write_private(path, key + "\n")
    return key


def password_file(state_dir: Path) -> Path:
    return Path(state_dir) / "password"


def has_password(state_dir: Path) -> bool:
    return password_file(state_dir).is_file()


def set_password(state_dir: Path, password: str) -> None:
    """Store the hash of a new editor password and log out every existing session."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    _write_private(password_file(state_dir), generate_password_hash(password, method="scrypt") + "\n")
    bump_session_epoch(state_dir)


def check_password(state_dir: Path, password: str) -> bool:
    try:
        stored = password_file(state_dir).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        stored = ""
    if not stored:
        check_password_hash(_dummy_hash(), password or "")
        return False
    return check_password_hash(stored, password or "")


def session_epoch(state_dir: Path) -> int:
    try:
        return int((Path(state_dir) / "session_epoch").read_text(encoding="utf-8").strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def bump_session_epoch(state_dir: Path) -> int:
    epoch = session_epoch(state_dir) + 1
    _write_private(Path(state_dir) / "session_epoch", f"{epoch}\n")
    return epoch


def hubs_file(state_dir: Path) -> Path:
    return Path(state_dir) / "hubs.json"


def hubs(state_dir: Path) -> list[str]:
    """The hubs (aggregators) ``init`` was told to ping, besides node.toml's ``aggregators``."""
    try:
        data = json.loads(hubs_file(state_dir).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return []
    return [h for h in data if isinstance(h, str)] if isinstance(data, list) else []


def set_hubs(state_dir: Path, urls) -> None:
    _write_private(hubs_file(state_dir), json.dumps(list(urls), indent=2) + "\n")
