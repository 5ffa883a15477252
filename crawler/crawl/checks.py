"""The editor's rules on what the crawler reads (issue 14): problems are shown, never refused.

A profile the crawler accepts (it parses, and its group is on its own site) may still break
the rules the group's own tools enforce: an empty name, a link written as words, a latitude
of 515. The group's words are the group's, so the profile is stored as it is; the problems,
in the words ``hubnet-node validate`` and the editor use, go on the source's provenance
record, for /sources, /sources/<key> and the group's page. Only new or changed documents
are checked (an unchanged one keeps its record), at about 0.3 ms each (docs/crawler.md;
``python -m bench.checks`` measures it): the statements parse_source already read are checked
(vocab.shacl_subset), not the body parsed again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields

from hubnet import vocab
from hubnet.crawler.crawl.extract import limits_from
from hubnet.crawler.settings import Settings
from hubnet.vocab.parse import DEFAULT_LIMITS, HTML_TYPES, TURTLE_TYPES

log = logging.getLogger(__name__)


def profile_problems(body: bytes, media_type: str, document_url: str, settings: Settings,
                     rows: list | None = None) -> str | None:
    """The problems of one fetched profile as the JSON text kept on its record; None when it has none.

    Each problem is ``{"severity": "error"|"warning", "field", "message", "code"}``; at most
    ``settings.max_profile_problems`` are kept, each message cut to ``settings.max_problem_length``
    (a message may quote the document's own values). ``rows``: the body as parse_source read it
    (``Parsed.rows``, a ``vocab.parse.Rows`` carrying its decoded JSON), so that neither its
    statements nor its JSON are read again; the answer is the same.
    """
    if not settings.check_profiles:
        return None
    try:
        report = _report(body, media_type, document_url, rows if _reads_as_vocab(settings) else None,
                         limits_from(settings) == DEFAULT_LIMITS)
    except vocab.HubnetError as exc:   # what the crawler read but the editor's reader cannot: say so
        issues = [{"severity": "error", "field": "document", "message": exc.message, "code": exc.code}]
    except (RecursionError, MemoryError, ValueError) as exc:
        log.warning("checking %s failed: %r", document_url, exc)
        return None
    else:
        issues = [{"severity": "error" if i.severity == "violation" else "warning", "field": i.field,
                   "message": i.message, "code": i.code} for i in report.issues]
    if not issues:
        return None
    cut = settings.max_problem_length
    for issue in issues:
        if len(issue["message"]) > cut:
            issue["message"] = issue["message"][:cut - 1] + "…"
    return json.dumps(issues[:settings.max_profile_problems], ensure_ascii=False)


def _report(body: bytes, media_type: str, url: str, rows: list | None, vocab_limits: bool) -> vocab.Report:
    """``vocab.validate`` of the body, from the rows parse_source made of it when there are any.

    Its JSON-level checks read the JSON parse_source decoded (``vocab.parse.Rows.document``) when that is
    the value vocab would decode: always for JSON; for HTML only under vocab's own limits (``vocab_limits``),
    since a script block past tighter limits is skipped by parse_source but read by vocab."""
    if rows is None:
        return vocab.validate(body, base_iri=url, media_type=media_type, published_at=url)
    kind = (media_type or "").split(";")[0].strip().lower()
    document = getattr(rows, "document", None) if vocab_limits or kind not in HTML_TYPES else None
    if document is None and kind not in TURTLE_TYPES:
        document = vocab.read_document(body, kind)
    return vocab.validate_rows(rows, document, published_at=url)


def _reads_as_vocab(settings: Settings) -> bool:
    """Does the crawl read no more than vocab.validate would (its limits no looser than vocab's defaults)?
    Then a body parse_source read, vocab reads to the same rows; otherwise the body is read again, so a
    document past vocab's limits gets the same problem ("document": ...) at every door."""
    crawl = limits_from(settings)
    return all(getattr(crawl, f.name) <= getattr(DEFAULT_LIMITS, f.name) for f in fields(DEFAULT_LIMITS))


def problem_list(text: str | None) -> list:
    """The stored JSON text back as a list (empty for none, or for anything unreadable)."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []
