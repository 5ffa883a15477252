"""Parsing in parser processes (crawl/parsers.py, Settings.parse_workers; issue 18): every rule that
runs at parse time gives the same answer as parsing on the crawl's own thread, a parser process
that dies fails only the document it was reading, and the documents handed over are bounded."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading

import pytest

from hubnet.crawler.crawl import checks, parsers
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.extract import parse_source
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.testing import CONTEXT
from hubnet.vocab.errors import HubnetError
import parser_faults
from parser_faults import buggy_parser, dying_parser, hanging_parser, injecting_parser, lying_parser

URL = "https://site.test/"
# Small limits, so that each one is reached by a small document, and that the parser processes
# are shown to read with the crawl's settings, not their defaults.
SETTINGS = Settings(max_json_depth=12, max_json_nodes=400, max_triples=40, max_literal=200, max_iri=300,
                    max_values_per_property=3, max_outlinks=2, parse_workers=1)


def profile(**extra) -> bytes:
    return json.dumps({"@context": CONTEXT, "@id": URL + "#group", "@type": "Organization", "name": "Ours",
                       "email": "us@site.test", **extra}).encode()


def html(doc: bytes) -> bytes:
    return b'<html><script type="application/ld+json">' + doc + b"</script></html>"


TURTLE_STAR = b'@prefix s: <http://schema.org/> .\n<#group> a s:Organization ; s:name "E" {| s:author <#group> |} .'
# name -> (body, media type, the reason code, or None when the document is read)
DOCUMENTS = {
    "a plain profile": (profile(), "application/ld+json", None),
    "a profile in HTML": (html(profile()), "text/html", None),
    "a blank-node group, foreign statements and links past max_outlinks": (json.dumps({
        "@context": CONTEXT, "@type": "Organization", "name": "Blank", "member": [
            {"@id": f"https://other{i}.test/#group"} for i in range(4)],
        "@graph": [], "memberOf": {"@id": "https://victim.test/#group", "name": "Pwned"}}).encode(),
        "application/ld+json", None),
    "values past max_values_per_property (a note)": (profile(knowsAbout=[f"t{i}" for i in range(6)]),
                                                     "application/ld+json", None),
    "unicode tricks": (profile(name="Evil \u202egnirts\u200b\u0000 group"), "application/ld+json", None),
    # Every kind of term the statements cross the boundary as: language, direction, datatypes, a
    # blank node kept as an object, a literal that looks like an IRI, N-Triples punctuation.
    "every kind of term": (json.dumps({
        "@context": [CONTEXT, {"@direction": "rtl", "@language": "ar"}], "@id": URL + "#group",
        "@type": "Organization", "name": "مجموعة", "description": {"@value": "ltr", "@language": "en",
                                                                   "@direction": "ltr"},
        "foundingDate": {"@value": "1998-04-01", "@type": "http://www.w3.org/2001/XMLSchema#date"},
        "email": {"@value": "https://looks.like/an-iri", "@type": "http://www.w3.org/2001/XMLSchema#string"},
        "telephone": {"@value": "0 > \" . <a> _:b", "@type": "http://www.w3.org/2001/XMLSchema#string"},
        "location": {"geo": {"latitude": 51.5, "longitude": -0.1}}}).encode(), "application/ld+json", None),
    "too deep": (profile(description=json.loads("[" * 20 + "]" * 20)), "application/ld+json", "too_deep"),
    "too many statements": (profile(knowsAbout=[{"@value": f"t{i}", "@language": "en"} for i in range(3)],
                                    keywords=[f"k{i}" for i in range(60)]), "application/ld+json",
                            "too_many_triples"),
    "a literal too long": (profile(description="x" * 300), "application/ld+json", "literal_too_long"),
    "an IRI too long": (profile(url="https://site.test/" + "a" * 400), "application/ld+json", "iri_too_long"),
    "an unpinned context": (json.dumps({"@context": "https://unknown.example/ctx.jsonld", "name": "x"}).encode(),
                            "application/ld+json", "unsupported_context"),
    "a named graph": (json.dumps({"@context": CONTEXT, "@id": URL, "@graph": [
        {"@id": "https://victim.test/#group", "@type": "Organization", "name": "Pwned"}]}).encode(),
        "application/ld+json", "named_graph_forbidden"),
    "HTML without JSON-LD": (b"<html><p>hello</p></html>", "text/html", "no_jsonld"),
    "no group": (json.dumps({"@context": CONTEXT, "@id": URL + "#x", "name": "x"}).encode(),
                 "application/ld+json", "no_group"),
    "another site's group": (json.dumps({"@context": CONTEXT, "@id": "https://victim.test/#group",
                                         "@type": "Organization", "name": "Pwned"}).encode(),
                             "application/ld+json", "id_mismatch"),
    "a user name in a group IRI": (json.dumps({"@context": CONTEXT, "@id": "https://victim.test@site.test/#group",
                                               "@type": "Organization", "name": "Pwned"}).encode(),
                                   "application/ld+json", "userinfo_in_iri"),
    "a triple term": (TURTLE_STAR, "text/turtle", "triple_term_forbidden"),
    "not JSON": (b'{"name": NaN}', "application/ld+json", "invalid_document"),
}


def in_process(body, media, by_path=False):
    """What the pipeline thread computes: parse_source, then the editor's rules (or the refusal)."""
    try:
        parsed = parse_source(body, media, URL, SETTINGS, by_path=by_path)
    except HubnetError as exc:
        return ("refused", exc.code, exc.message)
    return ("parsed", parsed.triples, parsed.groups, parsed.dropped_foreign, parsed.links, parsed.content_hash,
            parsed.notes, checks.profile_problems(body, media, URL, SETTINGS))


@pytest.fixture(scope="module")
def pool():
    loop = asyncio.new_event_loop()
    pool = parsers.ParsePool(SETTINGS)

    def parse(body, media, by_path=False, unchanged_hash=None):
        try:
            parsed = loop.run_until_complete(pool.parse(body, media, URL, by_path, unchanged_hash))
        except HubnetError as exc:
            return ("refused", exc.code, exc.message)
        return ("parsed", list(parsed.triples), parsed.groups, parsed.dropped_foreign, parsed.links, parsed.content_hash,
                parsed.notes, parsed.problems)
    yield parse
    pool.close()
    loop.close()


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
@pytest.mark.parametrize("by_path", [False, True], ids=["by origin", "by path"])
def test_a_parser_process_answers_as_the_pipeline_thread_does(pool, name, by_path):
    body, media, code = DOCUMENTS[name]
    expected = in_process(body, media, by_path)
    assert expected[0] == ("refused" if code else "parsed") and (code is None or expected[1] == code)
    assert pool(body, media, by_path) == expected


def test_an_unchanged_document_is_not_checked_again(pool):
    body, media, _ = DOCUMENTS["a plain profile"]
    digest = in_process(body, media)[5]
    assert checks.profile_problems(body, media, URL, SETTINGS)   # it has problems to find ...
    assert pool(body, media, unchanged_hash=digest)[7] is None   # ... not looked for: nothing is written


def marked(word: str) -> bytes:
    return json.dumps({"@context": CONTEXT, "@type": "Organization", "name": word}).encode()


BUDGET = 2.0   # parse_timeout of these crawls: a real profile takes ~0.2 s of CPU at most
# How a parser can fail to answer: name -> (body, media type, the function the parser processes run
# in place of parse_shipped (tests/parser_faults.py; None: the real one), the reason code).
STUCK = {
    "killed": (marked("kill-the-parser"), "application/ld+json", dying_parser, "parser_died"),
    "caught in a loop": (marked("hang-the-parser"), "application/ld+json", hanging_parser, "parse_timeout"),
    "writing a message longer than parse_answer_max": (marked("lie-too-long"), "application/ld+json", lying_parser,
                                                       "parser_died"),
    "writing a message cut short, then ending": (marked("lie-cut-short-then-ends"), "application/ld+json",
                                                 lying_parser, "parser_died"),
    # A real hostile page, no help from the test: CPython's html.parser rescans the rest of the body
    # at each "</" (quadratic, gh-135462 / CVE-2025-6069, unfixed in this Python): 256 KiB, the
    # default max_body, take ~5 s of CPU, the 1 MB allowed here ~15 times that.
    "'</' half a million times (quadratic HTML)": (b"</" * 500_000, "text/html", None, "parse_timeout"),
}


def test_a_parser_that_ships_statements_for_another_graph_writes_nothing_there(fed, tmp_path, monkeypatch):
    """A parser's answer is untrusted (threat model T7): one whose statements' text would end its
    graph's block and write into a source held before fails its batch (store_error); the other
    source's graph is as it was and nothing it shipped is stored."""
    fed.put_profile("victim.test", "Victim group", path="/")
    victim = fed.url("victim.test")
    store = Store(tmp_path / "store")
    try:
        settings = fed.settings("victim.test", "evil.test", parse_workers=1)
        Crawler(store, settings).crawl([victim])
        before = sorted(map(str, store.graph_triples(victim)))
        assert before
        monkeypatch.setattr(parsers, "parse_shipped", injecting_parser)
        fed.put("evil.test", "/", marked(f"inject-into {victim}"), content_type="application/ld+json")
        summary = Crawler(store, settings).crawl([fed.url("evil.test")])
        assert [(o.result, o.code) for o in summary.outcomes if o.url == fed.url("evil.test")][-1] == \
            ("failed", "store_error")
        assert sorted(map(str, store.graph_triples(victim))) == before
        assert not [q for q in store.oxigraph.quads_for_pattern(None, None, None, None) if "pwned" in str(q)]
        record = store.source(fed.url("evil.test"))
        assert record is None or not record.has_graph
    finally:
        store.close()


@pytest.mark.parametrize("name", sorted(STUCK))
def test_a_parser_that_cannot_answer_fails_its_document_and_the_crawl_goes_on(fed, tmp_path, monkeypatch, name):
    """The stuck document fails with its reason code (what /sources shows), every other one is read,
    even one handed over with it, and no parser process is left once the crawl ends."""
    body, media, parser, code = STUCK[name]
    if parser is not None:
        monkeypatch.setattr(parsers, "parse_shipped", parser)
    hosts = [f"ok{i}.test" for i in range(4)]
    fed.put("stuck.test", "/", body, content_type=media)
    for host in hosts:
        fed.put_profile(host, f"Group {host}", path="/")
    seeds = [fed.url("stuck.test")] + [fed.url(h) for h in hosts]
    before = set(multiprocessing.active_children())
    store = Store(tmp_path / "store")
    try:
        settings = fed.settings("stuck.test", *hosts, concurrency=2, parse_workers=1, parse_timeout=BUDGET,
                                max_body=1 << 20)
        summary = Crawler(store, settings).crawl(seeds)
        results = {o.url: (o.result, o.code) for o in summary.outcomes}
        assert results == {fed.url("stuck.test"): ("failed", code), **{fed.url(h): ("new", None) for h in hosts}}
        records = store.sources()
        assert sorted(u for u, r in records.items() if r.has_graph) == sorted(fed.url(h) for h in hosts)
        assert records[fed.url("stuck.test")].error_code == code
    finally:
        store.close()
    assert set(multiprocessing.active_children()) <= before


def test_documents_handed_to_the_parsers_are_bounded(monkeypatch):
    """Forty documents asked for at once: the parser processes are handed at most
    parse_workers * parse_backlog of them at a time; the rest wait with their fetch worker."""
    settings = SETTINGS.replace(parse_workers=2, parse_backlog=2)
    pool, most = parsers.ParsePool(settings), []
    hand = parsers._Parser.hand

    def counted(self, args):
        most.append(sum(p.load() for p in pool._parsers) + 1)
        return hand(self, args)
    monkeypatch.setattr(parsers._Parser, "hand", counted)
    body, media, _ = DOCUMENTS["a plain profile"]

    async def many():
        return await asyncio.gather(*(pool.parse(body, media, URL) for _ in range(40)))
    try:
        answers = asyncio.run(many())
    finally:
        pool.close()
    assert len(answers) == 40 and len(most) == 40
    assert max(most) == settings.parse_workers * settings.parse_backlog


def parse_all(pool: parsers.ParsePool, bodies: list) -> list:
    """Each body parsed through ``pool`` at once: its reason code, another exception, or None when
    it was read; then the pool closed."""
    async def every():
        return await asyncio.gather(*(pool.parse(b, "application/ld+json", URL) for b in bodies),
                                    return_exceptions=True)
    try:
        answers = asyncio.run(every())
    finally:
        pool.close()
    return [a.code if isinstance(a, HubnetError) else a if isinstance(a, Exception) else None for a in answers]


def test_a_batch_in_which_one_document_kills_its_parser_loses_only_that_document(monkeypatch):
    """Four documents handed over in one message; the second kills the parser: the first was answered
    already, the other two are read alone, and only the killer fails."""
    monkeypatch.setattr(parsers, "parse_shipped", dying_parser)
    sent = []
    send = parsers._Parser._send
    monkeypatch.setattr(parsers._Parser, "_send", lambda self, batch: (sent.append(len(batch)), send(self, batch)))
    pool = parsers.ParsePool(SETTINGS.replace(parse_workers=1, parse_backlog=4))
    bodies = [marked("one"), marked("kill-the-parser"), marked("three"), marked("four")]
    assert parse_all(pool, bodies) == [None, "parser_died", None, None]
    assert sent[0] == 4 and sent[1:] == [1, 1, 1]   # one message to the pool, then each alone
    assert pool.restarts == 1


def test_a_bug_in_the_parser_is_raised_for_its_document_alone(monkeypatch):
    """An exception in a parser process (a bug, not the document) comes back as that document's error
    (the crawl records internal_error); the process goes on reading the others."""
    monkeypatch.setattr(parsers, "parse_shipped", buggy_parser)
    pool = parsers.ParsePool(SETTINGS.replace(parse_workers=1, parse_backlog=4))
    answers = parse_all(pool, [marked("one"), marked("bug-in-the-parser"), marked("three")])
    assert answers[0] is None and answers[2] is None
    assert isinstance(answers[1], RuntimeError) and "ValueError('a bug')" in str(answers[1])
    assert pool.restarts == 0


# mark -> the reason code of the document on which a parser writes that (tests/parser_faults.py)
LIED = {"lie-too-long": "parser_died", "lie-not-a-pickle": "parser_died", "lie-names-a-function": "parser_died",
        "lie-wrong-shape": "parser_died", "lie-not-the-next-document": "parser_died", "lie-empty": "parser_died",
        "lie-cut-short-then-ends": "parser_died", "lie-cut-short-then-hangs": "parse_timeout"}


def test_every_lie_has_its_case():
    assert sorted(LIED) == sorted(parser_faults.LIES)


@pytest.mark.parametrize("lie", sorted(LIED))
def test_a_parser_that_writes_what_is_not_an_answer_fails_only_its_document(monkeypatch, lie):
    """The pipe from a parser is read as untrusted: a message past parse_answer_max is refused at its
    length (not waited for: parser_died, not parse_timeout), one that names a function is not called,
    and whatever else is not the next document's answer stops the parser; the others are read."""
    monkeypatch.setattr(parsers, "parse_shipped", lying_parser)
    before = set(multiprocessing.active_children())
    pool = parsers.ParsePool(SETTINGS.replace(parse_workers=1, parse_backlog=4, parse_timeout=1.0))
    bodies = [marked("one"), marked(lie), marked("three"), marked("four")]
    assert parse_all(pool, bodies) == [None, LIED[lie], None, None]
    assert not parser_faults.PWNED
    assert set(multiprocessing.active_children()) <= before


def test_no_thread_of_the_crawl_takes_part_in_a_hand_over():
    """The event loop itself writes the documents and reads the answers: while the parser processes
    are up and answering, the crawling process runs no thread more than before."""
    before = set(threading.enumerate())
    pool = parsers.ParsePool(SETTINGS.replace(parse_workers=2))

    async def every():
        answers = await asyncio.gather(*(pool.parse(marked(f"g{i}"), "application/ld+json", URL) for i in range(20)))
        return answers, set(threading.enumerate())
    try:
        answers, during = asyncio.run(every())
    finally:
        pool.close()
    assert len(answers) == 20 and all(a.groups for a in answers)
    assert during == before


def test_a_document_and_its_answer_longer_than_a_socket_buffer_cross_whole():
    """A 600 KB body and its 600 KB of N-Triples: both cross in many writes and reads, and the answer
    is the one the pipeline thread computes."""
    settings = Settings(parse_workers=1, max_literal=4000)
    long = {f"{name}": [f"{name} {i} " + "x" * 3000 for i in range(settings.max_values_per_property)]
            for name in ("keywords", "knowsAbout")}
    body = profile(**long)
    pool = parsers.ParsePool(settings)

    async def one():
        return await pool.parse(body, "application/ld+json", URL)
    try:
        parsed = asyncio.run(one())
    finally:
        pool.close()
    expected = parse_source(body, "application/ld+json", URL, settings)
    assert len(parsed.triples.text) > 600_000 and len(body) > 600_000
    assert sorted(map(str, parsed.triples)) == sorted(map(str, expected.triples))
    assert parsed.content_hash == expected.content_hash
