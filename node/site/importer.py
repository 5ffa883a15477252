"""``hubnet-node site import``: a hub's spreadsheet (CSV) of groups into drafts with invites.

Columns (header row, any order, case-insensitive): ``name`` (required), ``description``,
``email``, ``phone``, ``website``, ``postcode``, ``kind``, ``topics`` (separated by ``;``
or ``,``), ``umbrella`` (the network's address), and optionally ``slug`` (the group's
path on the site; made from the name otherwise). Other columns are reported and ignored.

The file as a whole is checked before anything is written (text, not binary; UTF-8;
a header with ``name``; at most ``MAX_BYTES`` and ``MAX_ROWS``): a file that fails is
refused and the site is unchanged. Each row is then checked by ``drafts.build`` (the
rules of the editor and ``hubnet-node validate``); a row that fails is reported with
its line number and columns, and the others become drafts.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from hubnet.vocab import HubnetError

from . import drafts
from .registry import RESERVED, SLUG

MAX_BYTES = 2 * 1024 * 1024   # default largest spreadsheet accepted (--max-bytes)
MAX_ROWS = 2000               # default most groups in one import (--max-rows)


class NotImportable(HubnetError):
    """The file is not a CSV of the documented shape: nothing was imported."""

    code = "invalid_import"
    status = 422


@dataclass
class Row:
    line: int
    slug: str = ""
    name: str = ""
    doc: dict | None = None
    problems: list = field(default_factory=list)   # (column, message)


@dataclass
class Plan:
    rows: list
    ignored_columns: list

    @property
    def good(self) -> list:
        return [r for r in self.rows if not r.problems]

    @property
    def bad(self) -> list:
        return [r for r in self.rows if r.problems]


def read_table(path: Path, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS) -> tuple[list, list]:
    """(header, rows as dicts with their line numbers) of a CSV file, or NotImportable saying why."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise NotImportable(f"{path} is {size // 1024} KiB, more than the {max_bytes // 1024} KiB an import "
                                "takes; split it into smaller files")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotImportable(f"there is no file {path}") from None
    except IsADirectoryError:
        raise NotImportable(f"{path} is a folder, not a CSV file") from None
    if not raw.strip():
        raise NotImportable(f"{path} is empty: it needs a header row (name, email, ...) and a row per group")
    if b"\0" in raw:
        raise NotImportable(f"{path} is not a text file (it looks like a spreadsheet's own format or another binary "
                            "file): save it from the spreadsheet as \"CSV UTF-8 (comma delimited)\"")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotImportable(f"{path} is not UTF-8 text: save it from the spreadsheet as "
                            "\"CSV UTF-8 (comma delimited)\"") from None
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise NotImportable(f"{path} is not a readable CSV file ({exc})") from None
    header = [h.strip().lower() for h in table[0]]
    if "name" not in header or not set(header) & set(drafts.FIELDS) - {"name"}:
        raise NotImportable(f"{path} does not start with the header row an import needs: its first row is "
                            f"{', '.join(table[0][:6]) or 'empty'}; expected a row naming the columns, with at "
                            f"least name and some of: {', '.join(drafts.FIELDS[1:])}")
    duplicated = sorted({h for h in header if h and header.count(h) > 1})
    if duplicated:
        raise NotImportable(f"{path}: the header names these columns twice: {', '.join(duplicated)}")
    body = [(n, cells) for n, cells in enumerate(table[1:], start=2) if any(c.strip() for c in cells)]
    if len(body) > max_rows:
        raise NotImportable(f"{path} has {len(body)} rows, more than the {max_rows} an import takes; split it")
    return header, [(n, dict(zip(header, cells))) for n, cells in body]


def plan(path: Path, site_data: dict, *, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS) -> Plan:
    """What importing ``path`` into the site would do, row by row (nothing written)."""
    header, rows = read_table(Path(path), max_bytes, max_rows)
    taken_slugs = set(site_data["groups"])
    taken_names = {r.get("name", "").strip().lower(): f"on the site, as {s}" for s, r in site_data["groups"].items()}
    out = []
    for line, values in rows:
        row = Row(line, name=(values.get("name") or "").strip())
        row.slug = (values.get("slug") or "").strip().lower() or drafts.slug_for(row.name)
        if row.name and row.name.lower() in taken_names:
            row.problems.append(("name", f"{row.name!r} is already {taken_names[row.name.lower()]}"))
        elif row.name and (not SLUG.match(row.slug) or "--" in row.slug or row.slug in RESERVED):
            row.problems.append(("slug", f"{row.slug!r} cannot be an address on the site; add a slug column with "
                                         "lower-case letters, digits and hyphens"))
        elif row.slug in taken_slugs:
            row.problems.append(("slug", f"the address /{row.slug}/ is already taken (on the site or earlier in "
                                         "this file): give this row another slug"))
        if not row.problems:
            try:
                row.doc = drafts.build(values, f"{site_data['public_url']}/{row.slug}/")
            except drafts.Problems as exc:
                row.problems.extend(exc.problems)
        if not row.problems:
            taken_slugs.add(row.slug)
            taken_names[row.name.lower()] = f"on line {line} of this file"
        out.append(row)
    ignored = [h for h in header if h not in drafts.FIELDS]
    return Plan(out, ignored)
