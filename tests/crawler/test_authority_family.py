"""The authority rule over its whole family: every way a document can try to speak for another
site's subject, each through the real crawler over loopback (threats.md D1-D5).

A world holds victims already crawled (victim.test on two ports, pages.test and
alice.pages.test, and a site reached by its IP literal). A hostile document is then crawled
(links not followed). For every case the test asserts that

- nothing the store held before is changed or lost, and the only new statements are in the
  hostile source's own graph or its provenance record;
- every subject in the hostile graph is on the hostile origin, spelled as served, and no
  statement about the targeted IRI was stored anywhere;
- the drop is reported: ``dropped_foreign`` on the crawl outcome and on the stored record is
  the exact number of foreign statements the document made;
- the hostile group's own statements were kept (the rule drops statements, not documents).

Then: a profile whose only group is one of those foreign spellings is refused
(``id_mismatch``); other spellings of the document's own origin are kept; and the rule in
isolation (``speaks_for`` and its fast path ``authority``) over the same spellings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urljoin

import pytest

from hubnet.vocab.authority import authority, speaks_for
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import PROV_GRAPH, Store
from hubnet.testing import CONTEXT, Federation

VICTIMS = ("victim.test", "pages.test", "alice.pages.test", "127.0.0.1")
HOSTILES = ("evil.test", "bob.pages.test", "victim.test.evil.test", "evilvictim.test", "xn--vctim-n2e.test")


@dataclass
class World:
    fed: Federation
    fed2: Federation      # a second server: the same host names on another port
    store: Store

    @property
    def P(self) -> int:
        return self.fed.port

    @property
    def P2(self) -> int:
        return self.fed2.port

    def origin(self, host: str, port: int | None = None) -> str:
        return f"http://{host}:{port or self.P}"

    def victim_group(self, host: str = "victim.test", port: int | None = None) -> str:
        return self.origin(host, port) + "/#group"

    def settings(self) -> Settings:
        hosts = VICTIMS + HOSTILES
        resolve = {(h, p): "127.0.0.1" for h in hosts for p in (self.P, self.P2)}
        return Settings(allow_private=True, per_host_delay=0.0, retries=0, resolve=resolve)


def _victim_profile(w: World, host: str, port: int) -> dict:
    iri = w.origin(host, port) + "/#group"
    return {"@context": CONTEXT, "@id": iri, "@type": "Organization", "name": f"Victim at {host}:{port}",
            "description": "A group somebody else would like to speak for.", "email": f"hello@{host}",
            "member": {"@id": w.origin(host, port) + "/#chair", "name": "The chair"}}


@pytest.fixture
def world(fed, tmp_path):
    fed2 = Federation()
    store = Store(tmp_path / "store")
    w = World(fed, fed2, store)
    seeds = []
    for host in VICTIMS:
        fed.put(host, "/", _victim_profile(w, host, w.P))
        seeds.append(fed.url(host, "/"))
    fed2.put("victim.test", "/", _victim_profile(w, "victim.test", w.P2))
    seeds.append(fed2.url("victim.test", "/"))
    summary = Crawler(store, w.settings()).crawl(seeds, recheck_known=False)
    assert summary.counts["new"] == len(seeds), summary.to_dict()
    yield w
    store.close()
    fed2.close()


def _snapshot(store: Store) -> set:
    return set(store.oxigraph.quads_for_pattern(None, None, None, None))


def attack(w: World, host: str, body, content_type="application/ld+json", *, port=None, path="/evil.jsonld"):
    """Serve ``body`` at host:port/path, crawl it alone, return (outcome, new quads, document URL)."""
    server = w.fed2 if port == w.P2 else w.fed
    server.put(host, path, body, content_type=content_type)
    url = server.url(host, path)
    before = _snapshot(w.store)
    summary = Crawler(w.store, w.settings()).crawl([url], recheck_known=False, follow_links=False)
    [outcome] = [o for o in summary.outcomes if o.url == url]
    after = _snapshot(w.store)
    assert before <= after, f"statements held before were lost or changed: {sorted(map(str, before - after))[:5]}"
    new = after - before
    for q in new:
        assert q.graph_name.value == url or (q.graph_name == PROV_GRAPH and q.subject.value == url), \
            f"{url} wrote outside its own graph and record: {q}"
    return outcome, [q for q in new if q.graph_name.value == url], url


# --------------------------------------------------------------------------- the spellings

@dataclass(frozen=True)
class Spelling:
    """A document on ``host`` (on the second port if ``other_port``) names ``target``."""

    host: str
    target: str            # format string: {P}, {P2}
    other_port: bool = False


def _target(w: World, sp: Spelling) -> str:
    return sp.target.format(P=w.P, P2=w.P2)


FOREIGN = {
    "another host": Spelling("evil.test", "http://victim.test:{P}/#group"),
    "another host, its page": Spelling("evil.test", "http://victim.test:{P}/"),
    "another host, a member node": Spelling("evil.test", "http://victim.test:{P}/#chair"),
    "another port": Spelling("victim.test", "http://victim.test:{P}/#group", other_port=True),
    "another port, the other way": Spelling("victim.test", "http://victim.test:{P2}/#group"),
    "https identity from an http document": Spelling("victim.test", "https://victim.test:{P}/#group"),
    "https on another host": Spelling("evil.test", "https://victim.test:{P}/#group"),
    "a subdomain": Spelling("pages.test", "http://alice.pages.test:{P}/#group"),
    "the parent domain": Spelling("bob.pages.test", "http://pages.test:{P}/#group"),
    "a sibling subdomain": Spelling("bob.pages.test", "http://alice.pages.test:{P}/#group"),
    "victim's name as a prefix of ours": Spelling("victim.test.evil.test", "http://victim.test:{P}/#group"),
    "victim's name as a suffix of ours": Spelling("evilvictim.test", "http://victim.test:{P}/#group"),
    "trailing dot": Spelling("evil.test", "http://victim.test.:{P}/#group"),
    "upper-case host": Spelling("evil.test", "http://VICTIM.TEST:{P}/#group"),
    "upper-case scheme": Spelling("evil.test", "HTTP://victim.test:{P}/#group"),
    "IDN homograph": Spelling("evil.test", "http://v\u0456ctim.test:{P}/#group"),
    "full-width letters": Spelling("evil.test", "http://\uff56\uff49\uff43\uff54\uff49\uff4d.test:{P}/#group"),
    "punycode look-alike host claims the real one": Spelling("xn--vctim-n2e.test", "http://victim.test:{P}/#group"),
    "userinfo, victim's host": Spelling("evil.test", "http://evil.test:{P}@victim.test:{P}/#group"),
    "userinfo naming the victim": Spelling("evil.test", "http://victim.test:{P}@evil.test:{P}/#group"),
    "IP literal document, named subject": Spelling("127.0.0.1", "http://victim.test:{P}/#group"),
    "named document, IP literal subject": Spelling("evil.test", "http://127.0.0.1:{P}/#group"),
    "integer spelling of an IP literal": Spelling("evil.test", "http://2130706433:{P}/#group"),
    "IPv4-mapped spelling of an IP literal": Spelling("evil.test", "http://[::ffff:127.0.0.1]:{P}/#group"),
    "not a web IRI: urn": Spelling("evil.test", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
    "not a web IRI: mailto": Spelling("evil.test", "mailto:hello@evil.test"),
    "not a web IRI: ftp on our own host": Spelling("evil.test", "ftp://evil.test:{P}/#group"),
}


def _own(w: World, host: str, port: int) -> dict:
    return {"@id": w.origin(host, port) + "/evil#group", "@type": "Organization", "name": "Hostile group",
            "email": f"e@{host}"}


def _check(w: World, outcome, graph_quads, url, *, host, port, dropped, targets=()):
    assert outcome.result == "new", (outcome.result, outcome.code, outcome.message)
    assert outcome.dropped_foreign in dropped, outcome.dropped_foreign
    assert w.store.source(url).dropped_foreign == outcome.dropped_foreign
    prefix = w.origin(host, port) + "/"
    assert all(q.subject.value.startswith(prefix) for q in graph_quads), \
        sorted({q.subject.value for q in graph_quads if not q.subject.value.startswith(prefix)})
    own = w.origin(host, port) + "/evil#group"
    assert any(q.subject.value == own and q.object.value == "Hostile group" for q in graph_quads)
    # A target that is not a victim's own IRI has no statements anywhere (a victim's own IRI
    # keeps the victim's, which the snapshot in attack() shows unchanged).
    stored_subjects = {q.subject.value for q in w.store.oxigraph.quads_for_pattern(None, None, None, None)}
    for target in set(targets) - _victim_iris(w):
        assert target not in stored_subjects, target


def _victim_iris(w: World) -> set:
    iris = {w.origin(h) + p for h in VICTIMS for p in ("/", "/#group", "/#chair")}
    return iris | {w.origin("victim.test", w.P2) + p for p in ("/", "/#group", "/#chair")}


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_foreign_spelling_is_dropped_and_reported(world, case):
    w, sp = world, FOREIGN[case]
    port = w.P2 if sp.other_port else w.P
    target = _target(w, sp)
    doc = {"@context": CONTEXT, "@graph": [_own(w, sp.host, port),
                                           {"@id": target, "name": "Pwned", "email": "pwned@evil.test"}]}
    outcome, quads, url = attack(w, sp.host, doc, port=port)
    _check(w, outcome, quads, url, host=sp.host, port=port, dropped={2}, targets=[target])


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_profile_whose_only_group_is_a_foreign_spelling_is_refused(world, case):
    w, sp = world, FOREIGN[case]
    port = w.P2 if sp.other_port else w.P
    doc = {"@context": CONTEXT, "@id": _target(w, sp), "@type": "Organization", "name": "Pwned"}
    server = w.fed2 if sp.other_port else w.fed
    server.put(sp.host, "/evil.jsonld", doc)
    url = server.url(sp.host, "/evil.jsonld")
    before = _snapshot(w.store)
    summary = Crawler(w.store, w.settings()).crawl([url], recheck_known=False, follow_links=False)
    [outcome] = summary.outcomes
    # An IRI with userinfo is refused as such: it shows one site and names another.
    expected = "userinfo_in_iri" if case.startswith("userinfo") else "id_mismatch"
    assert outcome.result == "failed" and outcome.code == expected, (outcome.code, outcome.message)
    after = _snapshot(w.store)
    assert before <= after and all(q.graph_name == PROV_GRAPH and q.subject.value == url for q in after - before)


# --------------------------------------------------------------------------- the document shapes

V = "http://victim.test:{P}/#group"


def _shape_cases():
    """name -> (build(w, own, victim) -> (body, content type), foreign statements in it)."""
    def jsonld(doc):
        return json.dumps(doc), "application/ld+json"

    def html(*blocks, head=""):
        scripts = "".join(f'<script type="application/ld+json">{json.dumps(b)}</script>' for b in blocks)
        return f"<!doctype html><html><head>{head}{scripts}</head><body>hi</body></html>", "text/html"

    def with_ctx(node):
        return {"@context": CONTEXT, **node}

    return {
        "nested object": (lambda w, own, v: jsonld(with_ctx({**own, "member": {"@id": v, "name": "Pwned"}})), {1}),
        "blank node reaching a foreign subject": (lambda w, own, v: jsonld(with_ctx({**own, "member": {
            "@type": "Person", "name": "A blank member", "memberOf": {"@id": v, "name": "Pwned", "email": "p@e"}}})),
            {2}),
        "@reverse on the group": (lambda w, own, v: jsonld(with_ctx({**own, "@reverse": {"member": {"@id": v}}})), {1}),
        "@reverse carrying properties": (lambda w, own, v: jsonld(with_ctx({
            **own, "@reverse": {"member": {"@id": v, "name": "Pwned"}}})), {2}),
        "@reverse on a blank node": (lambda w, own, v: jsonld(with_ctx({
            **own, "member": {"name": "A blank member", "@reverse": {"member": {"@id": v}}}})), {1}),
        "default @graph": (lambda w, own, v: jsonld({"@context": CONTEXT, "@graph": [
            own, {"@id": v, "name": "Pwned", "email": "p@e"}]}), {2}),
        "top-level array": (lambda w, own, v: jsonld([with_ctx(own), with_ctx({"@id": v, "name": "Pwned"})]), {1}),
        "@included": (lambda w, own, v: jsonld(with_ctx({**own, "@included": [{"@id": v, "name": "Pwned"}]})), {1}),
        "@list item": (lambda w, own, v: jsonld(with_ctx({**own, "member": {"@list": [{"@id": v, "name": "Pwned"}]}})),
                       {1}),
        "sameAs from the victim": (lambda w, own, v: jsonld({"@context": CONTEXT, "@graph": [
            own, {"@id": v, "sameAs": own["@id"]}]}), {1}),
        "type claim only": (lambda w, own, v: jsonld({"@context": CONTEXT, "@graph": [
            own, {"@id": v, "@type": "Organization"}]}), {1}),
        "@base in an inline context": (lambda w, own, v: jsonld({
            "@context": [CONTEXT, {"@base": w.origin("victim.test") + "/"}],
            "@graph": [own, {"@id": "#group", "name": "Pwned", "email": "p@e"}]}), {2}),
        "scheme-relative @id": (lambda w, own, v: jsonld({"@context": CONTEXT, "@graph": [
            own, {"@id": f"//victim.test:{w.P}/#group", "name": "Pwned"}]}), {1}),
        "html: a foreign node beside ours": (lambda w, own, v: html(
            {"@context": CONTEXT, "@graph": [own, {"@id": v, "name": "Pwned"}]}), {1}),
        "html: a second block about the victim": (lambda w, own, v: html(
            with_ctx(own), with_ctx({"@id": v, "name": "Pwned", "email": "p@e"})), {2}),
        # <base> may or may not be honoured for embedded JSON-LD; either way never for the victim.
        "html: <base> pointing at the victim": (lambda w, own, v: html(
            {"@context": CONTEXT, "@graph": [own, {"@id": "#group", "name": "Pwned"}]},
            head=f'<base href="{w.origin("victim.test")}/">'), {0, 1}),
        "turtle: absolute subject": (lambda w, own, v: (
            f'<{own["@id"]}> a <http://schema.org/Organization> ; <http://schema.org/name> "Hostile group" .\n'
            f'<{v}> <http://schema.org/name> "Pwned" ; <http://schema.org/email> "p@e" .\n', "text/turtle"), {2}),
        "turtle: @base at the victim": (lambda w, own, v: (
            f'<{own["@id"]}> a <http://schema.org/Organization> ; <http://schema.org/name> "Hostile group" .\n'
            f'@base <{w.origin("victim.test")}/> .\n<#group> <http://schema.org/name> "Pwned" .\n',
            "text/turtle"), {1}),
    }


SHAPES = _shape_cases()


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_document_shape_cannot_reach_the_victim(world, case):
    w = world
    build, dropped = SHAPES[case]
    own = _own(w, "evil.test", w.P)
    victim = V.format(P=w.P)
    body, ctype = build(w, own, victim)
    path = "/evil.html" if ctype == "text/html" else "/evil.jsonld"
    outcome, quads, url = attack(w, "evil.test", body, ctype, path=path)
    _check(w, outcome, quads, url, host="evil.test", port=w.P, dropped=dropped)
    # The victim's own group and chair gained nothing anywhere, not even in the hostile graph.
    assert not [q for q in quads if q.subject.value in _victim_iris(w)]


def test_same_as_pointing_at_the_victim_stays_in_the_claimants_graph(world):
    w = world
    own = {**_own(w, "evil.test", w.P), "sameAs": w.victim_group()}
    outcome, quads, url = attack(w, "evil.test", {"@context": CONTEXT, **own})
    _check(w, outcome, quads, url, host="evil.test", port=w.P, dropped={0})
    assert [q.subject.value for q in quads if q.object.value == w.victim_group()] == [own["@id"]]


# --------------------------------------------------------------------------- our own site, other spellings

OWN_SPELLINGS = {
    "upper-case host": "http://EVIL.TEST:{P}/#x",
    "upper-case scheme": "HTTP://evil.test:{P}/#x",
    "trailing dot": "http://evil.test.:{P}/#x",
    "port with a leading zero": "http://evil.test:0{P}/#x",
    "relative fragment": "#x",
    "relative path": "../other#x",
    "absolute path": "/elsewhere#x",
}


@pytest.mark.parametrize("case", sorted(OWN_SPELLINGS))
def test_own_origin_in_another_spelling_is_kept(world, case):
    w = world
    spelled = OWN_SPELLINGS[case].format(P=w.P)
    doc = {"@context": CONTEXT, "@graph": [_own(w, "evil.test", w.P), {"@id": spelled, "name": "Ours"}]}
    outcome, quads, url = attack(w, "evil.test", doc)
    assert outcome.result == "new" and outcome.dropped_foreign == 0, (outcome.code, outcome.dropped_foreign)
    [subject] = [q.subject.value for q in quads if q.object.value == "Ours"]
    assert subject.lower() == urljoin(url, spelled).lower()


# --------------------------------------------------------------------------- the rule itself

RULE = [
    # (document URL, subject, may speak)
    ("https://group.test/p", "https://group.test/#g", True),
    ("https://group.test/p", "http://group.test/#g", True),         # moved to https, kept its old identity
    ("https://group.test/p", "http://group.test:80/#g", True),
    ("https://group.test/p", "https://group.test:443/#g", True),
    ("https://group.test/p", "HTTPS://GROUP.TEST/#g", True),
    ("https://group.test/p", "https://group.test./#g", True),
    ("http://group.test/p", "https://group.test/#g", False),        # http may not speak for https
    ("http://group.test/p", "https://group.test:80/#g", False),
    ("https://group.test/p", "http://group.test:443/#g", False),
    ("https://group.test/p", "https://group.test:8443/#g", False),
    ("https://group.test:8443/p", "http://group.test/#g", False),
    ("https://group.test:8443/p", "http://group.test:8443/#g", False),
    ("https://group.test:8443/p", "https://group.test:8443/#g", True),
    ("https://group.test/p", "https://www.group.test/#g", False),
    ("https://www.group.test/p", "https://group.test/#g", False),
    ("https://group.test/p", "https://group.test.evil/#g", False),
    ("https://group.test.evil/p", "https://group.test/#g", False),
    ("https://group.test/p", "https://evilgroup.test/#g", False),
    ("https://evilgroup.test/p", "https://group.test/#g", False),
    ("https://group.test/p", "https://group.test:@evil.test/#g", False),
    ("https://evil.test/p", "https://group.test@evil.test/#g", False),   # userinfo names the victim
    ("https://evil.test/p", "https://evil.test@group.test/#g", False),
    ("https://group.test/p", "https://xn--grup-fqa.test/#g", False),
    ("https://group.test/p", "urn:uuid:0000", False),
    ("https://group.test/p", "mailto:a@group.test", False),
    ("https://group.test/p", "ftp://group.test/#g", False),
    ("https://group.test/p", "https:///#g", False),
    ("https://group.test/p", "https://group.test:99999/#g", False),
    ("https://127.0.0.1/p", "https://127.0.0.1/#g", True),
    ("https://127.0.0.1/p", "https://localhost/#g", False),
    ("https://[2001:db8::1]/p", "https://[2001:db8::1]/#g", True),
    ("https://[2001:db8::1]/p", "https://[2001:db8::2]/#g", False),
    ("http://group.test:8080/p", "http://group.test:8080/#g", True),
    ("http://group.test:8080/p", "http://group.test/#g", False),
    ("http://group.test:8080/p", "http://group.test:8081/#g", False),
]


@pytest.mark.parametrize("doc, subject, ok", RULE)
def test_the_rule_and_its_fast_path_agree_on_every_member(doc, subject, ok):
    assert speaks_for(doc, subject) is ok
    speaks = authority(doc)
    assert speaks(subject) is ok
    assert speaks(subject) is ok    # and again, from its cache
