"""The project's few typed errors.

Every error carries a machine-readable ``code`` (stable, snake_case), a plain
English ``message`` for people, and the HTTP ``status`` a server should answer
with. The crawler records the code per source; the APIs render ``to_dict()``,
the one JSON error shape used everywhere::

    {"ok": false, "error": {"status": 400, "code": "service_forbidden",
                            "message": "SERVICE is not allowed ..."}}
"""

from __future__ import annotations


class HubnetError(Exception):
    """Base class: a failure with a reason code and an HTTP status."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict:
        return {"ok": False, "error": {"status": self.status, "code": self.code, "message": self.message}}

    def __str__(self) -> str:  # "code: message" reads well in logs and CLIs
        return f"{self.code}: {self.message}"


class DocumentError(HubnetError):
    """A document that cannot be read as RDF: not JSON, too deep, refused context, named graphs..."""

    code = "invalid_document"
    status = 422


class ProfileInvalid(HubnetError):
    """A readable profile that breaks the rules of the profile format (carries the report)."""

    code = "invalid_profile"
    status = 422

    def __init__(self, message: str, report=None, **kw):
        super().__init__(message, **kw)
        self.report = report


class FetchError(HubnetError):
    """An outbound fetch that was refused or failed (blocked address, timeout, too large...)."""

    code = "fetch_failed"
    status = 502


class QueryError(HubnetError):
    """A query that is malformed, refused before evaluation, or stopped."""

    code = "bad_query"
    status = 400


class NotFound(HubnetError):
    code = "not_found"
    status = 404


class StoreError(HubnetError):
    """The store could not be opened or written (in use, damaged, disk full)."""

    code = "store_error"
    status = 503


# Every reason code hubnet uses: code -> (the HTTP status it is usually answered with, what it means).
# An error raised with a code keeps its own status (a fetch failure is 502 from a fetch, 400 from a
# /ping pre-check); tests/integration/test_error_codes.py checks that the code uses no code missing
# here and that docs/ lists every one. ``http_<status>`` stands for a site's own 4xx/5xx answer.
CODES: dict[str, tuple[int, str]] = {
    # generic and web
    "error": (500, "something went wrong that has no more specific code"),
    "internal_error": (500, "a bug: the server failed; the log has the details"),
    "bad_request": (400, "the request is malformed"),
    "bad_parameter": (400, "a query-string or form parameter is missing, malformed or out of range"),
    "forbidden": (403, "the request is not allowed"),
    "not_found": (404, "no such page, group or file; or a site answered 404 for a profile"),
    "method_not_allowed": (405, "the route does not take this HTTP method"),
    "not_acceptable": (406, "none of the formats in the Accept header can be produced"),
    "unsupported_media_type": (415, "the request body's Content-Type is not one this route reads"),
    "rate_limited": (429, "too many requests from this client; wait and try again"),
    "too_many_queries": (429, "over this client's share of the SPARQL workers (queries running, or worker-seconds "
                              "a minute); try again after Retry-After"),
    "unavailable": (503, "the server cannot answer right now (starting, stopping or overloaded)"),
    "http_error": (502, "a site answered with an HTTP error status"),
    "http_<status>": (502, "a site answered with this HTTP status (e.g. http_500), recorded per source"),
    # fetching (the crawler, /ping's pre-check, the node's fetch)
    "fetch_failed": (502, "the fetch failed for a reason with no more specific code"),
    "bad_url": (400, "not an absolute http(s) URL, or one that cannot be parsed"),
    "bad_scheme": (400, "only http:// and https:// URLs are fetched"),
    "blocked_port": (400, "only ports 80 and 443 are fetched (unless the aggregator allows others)"),
    "blocked_address": (400, "the host resolves to a private, loopback or otherwise non-public address"),
    "dns_failed": (502, "the host name could not be resolved"),
    "connect_failed": (502, "the crawler could not connect to the site"),
    "connection_failed": (502, "the node could not connect to the site"),
    "network_error": (502, "the connection failed part-way (reset, TLS error, protocol error)"),
    "timeout": (504, "the site did not answer within the time limit"),
    "too_large": (413, "the body, request or document is larger than the limit"),
    "too_many_redirects": (502, "more redirects than the limit"),
    "redirect_loop": (502, "the redirects lead back to a URL already visited"),
    "bad_content_type": (502, "the answer's media type is not one a profile can have"),
    "bad_encoding": (422, "the text is not valid in its declared (or UTF-8) encoding"),
    "robots_disallowed": (403, "the site's robots.txt does not allow the crawler here: the group is not listed "
                               "(a listed one is removed, keeping a tombstone)"),
    "robots_unreachable": (503, "the site's robots.txt answered 5xx or could not be fetched: kept out, retried later"),
    "crawl_delay_too_long": (503, "robots.txt asks for a longer Crawl-delay than the crawler allows: skipped this crawl"),
    "backed_off": (503, "the site keeps failing; the crawler waits before trying again"),
    "gone": (410, "the site answered 410 Gone: the profile is withdrawn and removed"),
    "opted_out": (410, "the group asks not to be listed (X-Robots-Tag: noindex, or \"indexing\": false in the "
                       "profile): removed, a tombstone kept"),
    "expired": (410, "no successful fetch for remove_after_days: the profile is removed, a tombstone kept"),
    "redirected": (200, "skipped: the address redirects to another site, which is crawled as its own source"),
    "moved": (301, "the group moved: its old address redirects permanently to a new site whose profile names "
                   "the old group in sameAs; one group, listed at the new address (a tombstone says where)"),
    # reading a document
    "invalid_document": (422, "not a readable JSON-LD, Turtle or HTML document"),
    "unreadable": (422, "the file cannot be read"),
    "too_deep": (422, "the document (or query) nests deeper than the limit"),
    "too_many_triples": (422, "the document holds more statements than the limit"),
    "literal_too_long": (422, "a text value is longer than the limit"),
    "iri_too_long": (422, "an IRI is longer than the limit"),
    "unsupported_context": (422, "an @context other than the pinned hubnet and schema.org contexts"),
    "named_graph_forbidden": (422, "the document declares named graphs; a profile may not"),
    "no_jsonld": (422, "the HTML page carries no JSON-LD block"),
    "no_group": (422, "the document describes no community group"),
    "id_mismatch": (422, "the profile's group IRI is on another site than the document"),
    "userinfo_in_iri": (422, "a group IRI holds a user name (the part before '@'): it shows one site and names "
                             "another"),
    "triple_term_forbidden": (422, "the document holds RDF 1.2 triple terms (statements about statements); "
                                   "a profile may not"),
    "parser_died": (422, "the parser process ended while reading the document (killed, or out of memory): "
                         "the document is not stored; the crawl goes on"),
    "parse_timeout": (422, "reading the document took longer than parse_timeout (a parser process was stopped): "
                           "the document is not stored; the crawl goes on"),
    "invalid_profile": (422, "the profile breaks the rules of the profile format (the report says which)"),
    "duplicate": (200, "skipped: the group is already described by another source of the same site"),
    "max_sources": (200, "skipped: the crawl reached its --max-sources limit"),
    "over_quota": (200, "skipped or refused: a crawl budget was reached (ping, seed, domain, host or store-wide; "
                        "the message says which)"),
    # the store
    "store_error": (503, "the store could not be opened or written"),
    "store_in_use": (503, "another process holds the store"),
    "forgotten": (403, "the hub's operator removed this address (hubnet-crawler forget): it is not fetched, "
                       "stored or accepted by ping"),
    "not_forgotten": (404, "the address is not on the hub's block list"),
    "backup_exists": (409, "hubnet-crawler backup needs a directory that does not exist yet"),
    "cross_origin_graph": (422, "a source may not keep its statements in a graph off its own site"),
    "unknown_format": (400, "the file's RDF format cannot be told from its name"),
    "bad_areas_file": (422, "the operator's areas or boundaries file is malformed; nothing stored was changed"),
    # imports (hubnet-crawler import)
    "bad_import": (422, "the file is not an Open Referral UK or Murmurations export we can read (not JSON, a web "
                        "page, another shape, cut short, too large, no usable record); nothing stored was changed"),
    "replaced": (410, "an imported (second-hand) group whose own profile the crawler found: the profile replaces it"),
    # SPARQL
    "bad_query": (400, "the query is malformed or refused"),
    "missing_query": (400, "no query was given"),
    "multiple_queries": (400, "more than one query was given"),
    "malformed_query": (400, "the query is not valid SPARQL"),
    "query_too_long": (413, "the query text is longer than the limit"),
    "update_forbidden": (400, "SPARQL Update is refused: the endpoint is read-only"),
    "service_forbidden": (400, "SERVICE, LOAD or a foreign FROM is refused: the endpoint makes no outbound requests"),
    "unknown_graph": (400, "the query names a graph the store does not hold"),
    "query_timeout": (504, "the query ran longer than the time limit and was stopped"),
    "query_failed": (503, "the query worker failed"),
    "server_busy": (503, "every query worker is busy, or a model build or a page's queries ran over budget: "
                         "try again after Retry-After"),
    "service_unavailable": (503, "the SPARQL endpoint is not configured here, or its workers are shutting down"),
    "index_building": (503, "the directory's index is being built (a new server or an upgrade) and does not hold "
                            "this group yet: try again after Retry-After; /health shows the progress"),
    # the node
    "private_output": (400, "hubnet-node export would write into the node's private state folder"),
    "changed_meanwhile": (409, "the profile changed since the editor was opened; the form is shown again"),
    "unknown_postcode": (422, "the postcode lookup does not know this postcode; the profile is saved without a "
                              "map position"),
    "geocoder_failed": (502, "the postcode lookup could not be reached or answered badly; try again later"),
    # a node hosting many groups (hubnet-node site, serve --site; docs/hosting.md)
    "site_error": (400, "a hosting command was refused, or the folder is not a usable hosting site; nothing was changed"),
    "invalid_import": (422, "the file given to hubnet-node site import is not a CSV of the documented shape; "
                            "nothing was imported"),
    "invite_refused": (410, "a hosted group's invite link is unknown, used already, replaced by a newer one, "
                            "or expired"),
    "suspended": (410, "the hub has suspended this hosted group: its pages are unavailable and it is not indexed"),
}
