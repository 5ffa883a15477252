"""Spreadsheet-safe text: the one CSV-injection neutraliser for every CSV/TSV we write.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which
some spreadsheets skip before looking) is read as a formula by Excel, LibreOffice and
Google Sheets: ``=HYPERLINK(...)`` or ``=cmd|...`` from a hostile profile would run on the
hub officer's computer. Such a cell gets a leading ``'``, which spreadsheets show as text.
The full-width forms (U+FF1D ＝, U+FF0B ＋, U+FF0D －, U+FF20 ＠) are treated the same,
since some spreadsheets convert them to their ASCII forms on input.

Used by /export.csv, /api/contacts.csv, /sparql's CSV/TSV results,
``hubnet-crawler query --format csv|tsv`` and the invite links of ``hubnet-node site import --out``
(here in vocab/ because the node and the crawler both write spreadsheets).
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def cell(value) -> str:
    """A CSV cell from a profile value: lists joined with "; ", None as empty, then ``safe``."""
    return safe("; ".join(value) if isinstance(value, list) else ("" if value is None else str(value)))
