"""robots.txt policy per RFC 9309, on top of Protego.

Protego is a parser only: it knows nothing about HTTP status codes, size
limits or caching, so those rules live here. Fetching is done by ``hubnet.crawler.crawl.fetch.Fetcher``
so that robots.txt requests pass the same address, port, redirect and size checks as any
other request.

RFC 9309 §2.3.1 in short:
- 2xx: parse (at least the first 500 KiB);
- 4xx ("unavailable"): the crawler MAY access everything;
- 5xx or a network error ("unreachable"): the crawler MUST assume complete disallow;
- more than 5 redirects: MAY be treated as unavailable (so: allow).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urljoin

from protego import Protego

from hubnet.vocab.errors import FetchError

ALLOW_ALL = "allow_all"        # 4xx, or too many redirects: no rules apply
DISALLOW_ALL = "disallow_all"  # 5xx / network failure: closed until it can be read
RULES = "rules"                # a parsed robots.txt


def product_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against ("hubnet-crawler").

    Matching the whole User-Agent header would let ``User-agent: crawler`` match the words
    "directory crawler" in our comment, so only the token before the first "/" is used
    (RFC 9309 §2.2.1).
    """
    token = user_agent.strip().split("/", 1)[0].split()
    return token[0].lower() if token else user_agent.strip().lower()


def parse_robots(body: bytes, limit: int) -> Protego:
    """Parse at most ``limit`` bytes, dropping a line cut in half by the limit."""
    if len(body) > limit:
        body = body[:limit]
        cut = body.rfind(b"\n")
        body = body[: cut + 1] if cut >= 0 else b""
    # robots.txt is UTF-8 (RFC 9309 §2.3); a bad byte must not lose the rest of the file.
    return Protego.parse(body.decode("utf-8", errors="replace"))


@dataclass
class RobotsPolicy:
    """What one origin's robots.txt lets us do, and until when we may rely on it."""

    url: str                       # the robots.txt URL asked for
    verdict: str                   # RULES, ALLOW_ALL or DISALLOW_ALL
    reason: str = ""               # plain English, shown to people when we refuse
    parser: Protego | None = None
    expires: float = field(default=0.0)  # time.monotonic() after which it must be fetched again
    etag: str | None = None              # validators of a parsed robots.txt, for a conditional re-read
    last_modified: str | None = None
    recheck: bool = False                # read again (conditionally) before its next use: a new crawl cycle

    def fresh(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) < self.expires

    def crawl_delay(self, user_agent: str) -> float | None:
        if self.verdict != RULES or self.parser is None:
            return None
        return self.parser.crawl_delay(product_token(user_agent))

    def check(self, url: str, user_agent: str, max_crawl_delay: float) -> float | None:
        """Raise FetchError if ``url`` may not be fetched; return the Crawl-delay to honour."""
        if self.verdict == DISALLOW_ALL:
            raise FetchError(self.reason, code="robots_unreachable")
        if self.verdict != RULES or self.parser is None:
            return None
        token = product_token(user_agent)
        if not self.parser.can_fetch(url, token):
            raise FetchError(
                f"{self.url} does not allow {token} to fetch {url}; "
                "ask the site's owner to allow it if this profile should be listed",
                code="robots_disallowed",
            )
        delay = self.parser.crawl_delay(token)
        if delay is not None and delay > max_crawl_delay:
            raise FetchError(
                f"{self.url} asks for a Crawl-delay of {delay:g} s, more than the {max_crawl_delay:g} s "
                "we honour; the site is skipped this crawl",
                code="crawl_delay_too_long",
            )
        return delay


class RobotsCache:
    """Policies by robots.txt URL (one per origin), each kept until its TTL runs out.

    A Fetcher lives for one crawl; this may outlive it (``Fetcher(settings, robots=cache)``),
    so that a re-crawl an hour later does not ask 10,000 sites for robots.txt again. Expired
    policies are dropped on lookup, so they are fetched again. Bounded: beyond ``max_origins``
    the oldest-fetched are dropped. Plain data, no locks: use it from one crawl at a time.
    ``clock`` (time.monotonic, the clock policies' ``expires`` are on) lets a test age them.
    """

    def __init__(self, max_origins: int = 20_000, *, clock=time.monotonic):
        self.max_origins = max(1, max_origins)
        self.clock = clock
        self._policies: OrderedDict[str, RobotsPolicy] = OrderedDict()

    def get(self, robots_url: str) -> RobotsPolicy | None:
        """The fresh policy for ``robots_url``, or None if there is none, it has expired or it is to be
        re-checked (``recheck_all``)."""
        policy = self._policies.get(robots_url)
        if policy is not None and not policy.fresh(self.clock()):
            del self._policies[robots_url]
            return None
        return None if policy is None or policy.recheck else policy

    def to_recheck(self, robots_url: str) -> RobotsPolicy | None:
        """The policy waiting to be re-checked for ``robots_url`` (its validators make the re-read a 304)."""
        policy = self._policies.get(robots_url)
        return policy if policy is not None and policy.recheck else None

    def recheck_all(self) -> None:
        """A new re-crawl cycle: every origin's robots.txt is read again, once, before its next use, so
        a site that withdraws consent in robots.txt is seen by the next cycle, not after the TTL.
        The re-read is conditional (If-None-Match / If-Modified-Since): unchanged, it costs a 304."""
        for policy in self._policies.values():
            policy.recheck = True

    def put(self, robots_url: str, policy: RobotsPolicy) -> None:
        self._policies.pop(robots_url, None)  # re-inserted at the end: now the newest
        self._policies[robots_url] = policy
        while len(self._policies) > self.max_origins:
            self._policies.popitem(last=False)

    def forget(self, url: str) -> None:
        """Drop the policy for the origin of ``url`` (a canonical URL), so it is read again."""
        self._policies.pop(urljoin(url, "/robots.txt"), None)

    def __len__(self) -> int:
        return len(self._policies)


def policy_for_status(url: str, status: int, body: bytes, *, limit: int, ttl: float,
                      etag: str | None = None, last_modified: str | None = None) -> RobotsPolicy:
    """Turn a final robots.txt response into a policy, per RFC 9309 §2.3.1."""
    expires = time.monotonic() + ttl
    if 200 <= status < 300:
        return RobotsPolicy(url, RULES, parser=parse_robots(body, limit), expires=expires, etag=etag,
                            last_modified=last_modified)
    if status == 429:
        # RFC 9309 has no special case for 429, but a site saying "too many requests" for its
        # robots.txt is asking us to stay away; treating it as 4xx (allow all) would be rude.
        return unreachable(url, f"HTTP {status}", ttl=ttl)
    if 400 <= status < 500:
        # Includes 401 and 403: "unavailable" per RFC 9309 §2.3.1.3 (Nutch http.robots.403.allow=true).
        return RobotsPolicy(url, ALLOW_ALL, reason=f"HTTP {status}", expires=expires)
    # 5xx, a 3xx without Location, or anything stranger: unreachable, so closed.
    return unreachable(url, f"HTTP {status}", ttl=ttl)


def unreachable(url: str, what: str, *, ttl: float) -> RobotsPolicy:
    return RobotsPolicy(
        url,
        DISALLOW_ALL,
        reason=(
            f"robots.txt at {url} could not be fetched ({what}); RFC 9309 says to treat the site "
            "as closed to crawlers until it can"
        ),
        expires=time.monotonic() + ttl,
    )


def too_many_redirects(url: str, hops: int, *, ttl: float) -> RobotsPolicy:
    # RFC 9309 §2.3.1.2: after more than five redirects the file MAY be treated as unavailable.
    return RobotsPolicy(url, ALLOW_ALL, reason=f"more than {hops} redirects", expires=time.monotonic() + ttl)
