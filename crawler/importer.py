"""``hubnet-crawler import``: a hub's or a council's list into the aggregator, as second-hand sources.

Two steps, so that a file that is not what it claims changes nothing:

1. ``read_import`` reads and checks the WHOLE file without touching the store: its size
   (``import_max_bytes``), that it is JSON (not an HTML page, not cut short), that its shape is an
   Open Referral UK (HSDS) export or Murmurations profiles (told apart, or the ``--format`` given
   checked; a file that fits both is refused), its number of records (``import_max_records``), and
   each record as a profile through the crawl's own safe parse and limits. A record that cannot be
   used (no name, an inactive service, a value over a limit, an id used twice) is reported and
   left out; a file with no usable record is refused.
2. ``store_import`` writes each record as its own second-hand source (store/secondhand.py) through
   ``Store.replace_source``, the crawl's write path: unchanged records cost no write, records of
   the same origin missing from the file are removed (tombstones kept), and a record whose group
   has a profile of its own is not shown (replaced).

The origin of an import is its ``--from`` address, or the file's name: re-importing a newer
export from the same origin updates it, while another origin's records are never touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from hubnet.vocab.errors import DocumentError, HubnetError
from hubnet.vocab.parse import Limits, jsonld_to_triples, read_json

from hubnet.crawler.crawl import checks
from hubnet.crawler.crawl.extract import content_hash, limits_from
from hubnet.crawler.settings import Settings
from hubnet.crawler.store import secondhand as sh
from hubnet.crawler.store.graph import GONE, OK, SourceRecord, Store, now
from .interchange import (FORMAT_NAMES, MURMURATIONS, OPENREFERRAL, hsds_records, looks_like_hsds,
                          looks_like_murmurations, murmurations_records)

FORMATS = (OPENREFERRAL, MURMURATIONS)
_SHAPES = {OPENREFERRAL: (looks_like_hsds, hsds_records,
                          'a /services page ({"contents": [...]}), a full export ({"organizations": [...], '
                          '"services": [...]}) or a list of services'),
           MURMURATIONS: (looks_like_murmurations, murmurations_records,
                          'one profile (with "linked_schemas"), a list of profiles, or the index\'s answer '
                          '({"data": [...]})')}


class ImportRefused(HubnetError):
    """The file is not an export we can read; nothing stored was changed."""

    code = "bad_import"
    status = 422


@dataclass
class Prepared:
    """One usable record: its graph, statements and hash, ready to store."""

    record: object
    graph: str
    triples: list
    hash: str
    body: bytes


@dataclass
class ImportReport:
    origin: str
    format: str
    records: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    replaced: int = 0
    skipped: list = field(default_factory=list)   # [{"record", "problem"}]: left out of the import
    notes: list = field(default_factory=list)     # [{"record", "problem"}]: imported, but not all of it

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _refuse(name: str, problem: str) -> ImportRefused:
    return ImportRefused(f"{name}: {problem}; nothing was imported and nothing stored was changed")


def read_import(path: Path, settings: Settings, fmt: str | None = None, origin: str | None = None):
    """(format, [Prepared], report) for a file, all checked; ``ImportRefused`` if the file is not usable."""
    name = path.name
    try:
        size = path.stat().st_size
        if size > settings.import_max_bytes:
            raise _refuse(name, f"the file is {size:,} bytes, more than import_max_bytes "
                                f"({settings.import_max_bytes:,})")
        data = path.read_bytes()
    except OSError as exc:
        raise ImportRefused(f"cannot read {path}: {exc.strerror or exc}", code="unreadable") from None
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        raise _refuse(name, "this is an HTML or XML page, not a JSON export (was a web page saved instead of "
                            "the export?)")
    if not head:
        raise _refuse(name, "the file is empty")
    try:
        doc = read_json(data, Limits(max_json_depth=settings.max_json_depth, max_json_nodes=settings.import_max_bytes))
    except DocumentError as exc:
        raise _refuse(name, exc.message + (" (is the file cut short?)" if exc.code == "invalid_document" else ""))
    fmt = _format(doc, name, fmt)
    records = _SHAPES[fmt][1](doc)
    if not records:
        raise _refuse(name, f"it is an empty {FORMAT_NAMES[fmt]} export: it holds no records (an empty file "
                            "would remove every group imported from it)")
    if len(records) > settings.import_max_records:
        raise _refuse(name, f"it holds {len(records):,} records, more than import_max_records "
                            f"({settings.import_max_records:,})")
    report = ImportReport(origin=origin or name, format=fmt, records=len(records))
    return fmt, _prepare(records, report, settings), report


def _format(doc, name: str, fmt: str | None) -> str:
    fits = [f for f in FORMATS if _SHAPES[f][0](doc)]
    if fmt is not None:
        if fmt not in fits:
            other = f"; it looks like {FORMAT_NAMES[fits[0]]}" if fits else ""
            raise _refuse(name, f"this is not {FORMAT_NAMES[fmt]}: expected {_SHAPES[fmt][2]}{other}")
        return fmt
    if len(fits) > 1:
        raise _refuse(name, "it could be Open Referral UK or Murmurations: say which with --format")
    if not fits:
        raise _refuse(name, "this JSON is neither an Open Referral UK (HSDS) export nor Murmurations profiles: "
                            + "; or ".join(f"{FORMAT_NAMES[f]} is {_SHAPES[f][2]}" for f in FORMATS))
    return fits[0]


def _prepare(records, report: ImportReport, settings: Settings) -> list:
    """Each record through the crawl's safe parse and limits; the unusable ones reported and left out."""
    limits, out, seen = limits_from(settings), [], {}
    origin = report.origin
    for rec in records:
        if rec.skip or not rec.name:
            report.skipped.append({"record": rec.ref, "problem": rec.skip or "it has no name"})
            continue
        if rec.id in seen:
            report.skipped.append({"record": rec.ref, "problem": f"the same id as {seen[rec.id]}"})
            continue
        seen[rec.id] = rec.ref
        graph = sh.graph_iri(origin, rec.id)
        doc = rec.document(sh.group_iri(graph), graph, settings.max_values_per_property)
        try:
            triples = jsonld_to_triples(doc, graph, limits)
        except DocumentError as exc:
            report.skipped.append({"record": rec.ref, "problem": exc.message})
            continue
        report.notes += [{"record": rec.ref, "problem": n} for n in rec.notes]
        out.append(Prepared(rec, graph, triples, content_hash(triples), json.dumps(doc).encode("utf-8")))
    if not out:
        raise _refuse(origin, f"none of its {len(records)} records can be imported ("
                              + "; ".join(f"{s['record']}: {s['problem']}" for s in report.skipped[:3])
                              + ("; ..." if len(report.skipped) > 3 else "") + ")")
    return out


def store_import(store: Store, prepared: list, report: ImportReport, settings: Settings, *, clock=now) -> ImportReport:
    """Write the checked records of one import as second-hand sources; remove the origin's others."""
    stamp = clock()
    first_hand = sh.FirstHand.read(store)
    mine = {r.url: r for r in store.sources().values()
            if r.found_via == sh.FOUND_VIA and r.imported_from == report.origin}
    for p in prepared:
        old = mine.pop(p.graph, None)
        owner = first_hand.owner(p.record.addresses)
        try:
            _store_one(store, p, old, owner, report, settings, stamp)
        except HubnetError as exc:   # e.g. forgotten by the operator: that record only
            report.skipped.append({"record": p.record.ref, "problem": exc.message})
    for old in mine.values():
        if old.has_graph:
            store.remove_source(replace(old, status=GONE, error_code="gone", error_at=stamp, removed_at=stamp,
                                        error_message=f"no longer in the export from {report.origin}"))
            report.removed += 1
    return report


def _store_one(store: Store, p: Prepared, old, owner, report: ImportReport, settings: Settings, stamp: str) -> None:
    if owner:
        if old is not None and not old.has_graph and old.error_code == sh.REPLACED:
            report.unchanged += 1
        else:
            store.remove_source(sh.replaced_record(old or _record(p, report, stamp), owner, stamp))
            report.replaced += 1
        return
    if old is not None and old.status == OK and old.content_hash == p.hash and old.import_format == report.format:
        report.unchanged += 1
        return
    rec = _record(p, report, stamp)
    if old is not None:
        rec.first_seen = old.first_seen or stamp
    rec.problems = _problems(p, settings)
    store.replace_source(rec, p.triples)
    if old is not None and old.has_graph:
        report.updated += 1
    else:
        report.new += 1


def _problems(p: Prepared, settings: Settings) -> str | None:
    """The editor's rules on the record (crawl/checks.py), less those about its ``@id``: an imported group's
    address is ours (``urn:hubnet:import:...``), not one the group chose."""
    found = [i for i in checks.problem_list(checks.profile_problems(p.body, "application/ld+json", p.graph, settings))
             if i.get("field") != "@id"]
    return json.dumps(found, ensure_ascii=False) if found else None


def _record(p: Prepared, report: ImportReport, stamp: str) -> SourceRecord:
    return SourceRecord(url=p.graph, graph=p.graph, status=OK, found_via=sh.FOUND_VIA, imported_from=report.origin,
                        import_format=report.format, first_seen=stamp, generated_at=stamp, last_success=stamp,
                        last_checked=stamp, content_hash=p.hash, triples=len(p.triples))


def import_file(store: Store, path: Path, settings: Settings, *, fmt: str | None = None,
                origin: str | None = None, clock=now) -> ImportReport:
    """Check the whole file, then store it (``read_import`` then ``store_import``)."""
    _, prepared, report = read_import(Path(path), settings, fmt, origin)
    return store_import(store, prepared, report, settings, clock=clock)


def format_report(report: dict) -> str:
    """The CLI's summary, then one line per record left out or only partly used."""
    lines = [f"read {report['records']} record(s) from {report['origin']} ({FORMAT_NAMES[report['format']]}): "
             f"{report['new']} new, {report['updated']} updated, {report['unchanged']} unchanged, "
             f"{report['removed']} removed (no longer in the export), {report['replaced']} replaced by the group's "
             f"own profile, {len(report['skipped'])} skipped"]
    lines += [f"skipped {s['record']}: {s['problem']}" for s in report["skipped"]]
    lines += [f"note on {s['record']}: {s['problem']}" for s in report["notes"]]
    return "\n".join(lines)
