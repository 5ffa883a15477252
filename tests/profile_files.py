"""Every profile file the repository ships (tests/data/vocab, examples/): a family several test files
run over (the rules' oracle, the parser's speed-ups)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def profile_files():
    """(path, body, media type, the page the file stands for: the one its first ``@id`` is on)."""
    files = sorted((ROOT / "tests" / "data" / "vocab").iterdir()) + [ROOT / "examples" / "profile.jsonld"]
    files += sorted((ROOT / "examples" / "federation" / "groups").glob("*.jsonld"))
    files += sorted((ROOT / "examples" / "federation" / "sites").glob("*.html"))
    for path in files:
        body = path.read_bytes()
        kind = "text/html" if path.suffix == ".html" else "application/ld+json"
        found = re.search(r'"@id"\s*:\s*"(https?://[^"#]*)', body.decode("utf-8", "replace"))
        yield path, body, kind, found.group(1) if found else "https://example.org/page"
