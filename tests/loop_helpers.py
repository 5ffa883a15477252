"""Helpers for tests that run the real node and the real aggregator as subprocesses (the laptop loop).

Not collected by pytest (the name does not start with ``test_``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

WAIT = 60.0   # seconds to wait for a server or for a change to show (a wait, never an assertion)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for(check, what: str, every: float = 0.2):
    """``check()``'s first true answer, asked every ``every`` seconds for at most WAIT."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(every)
    raise AssertionError(f"gave up waiting for {what}")


def up(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def group_names(hub: str) -> list[str]:
    try:
        return [g["name"] for g in requests.get(f"{hub}/api/groups", timeout=5).json()["groups"]]
    except (requests.RequestException, ValueError, KeyError):
        return []


def cli_env() -> dict:
    """The environment with this Python's console scripts (hubnet-node, hubnet-crawler) first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("HUBNET_STORE", None)
    return env


def run(argv, cwd, stdin: str = "") -> subprocess.CompletedProcess:
    """Run a command to its end, with no terminal (so passwords are read from stdin)."""
    done = subprocess.run(argv, cwd=cwd, env=cli_env(), input=stdin, capture_output=True, text=True,
                          start_new_session=True, timeout=120)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def start(argv, cwd, port: int) -> subprocess.Popen:
    """Start a server and wait until it answers on ``port``."""
    proc = subprocess.Popen(argv, cwd=cwd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_for(lambda: up(f"http://127.0.0.1:{port}/") or proc.poll() is not None, " ".join(argv))
    assert proc.poll() is None, f"{argv} exited with {proc.returncode}"
    return proc


def stop(procs) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def sources(hub: str) -> list[dict]:
    return requests.get(f"{hub}/sources.json", timeout=5).json()["sources"]


# A crawl in a child process that the test SIGKILLs mid-way: it prints "wrote" at each source's store
# write and sleeps a little there, so the kill lands between writes. Arguments: the federation's port,
# the store (a folder, or sparql+http://...), bulk_batch (0: one transaction per source), the seeds.
SLOW_CRAWL_CHILD = """
import sys, time
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.remote import open_store
from hubnet.testing import loopback_settings

port, spec, bulk_batch, seeds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:]
hosts = [s.split("//")[1].split(":")[0] for s in seeds]

class Slow(Crawler):
    def _write_hook(self):
        print("wrote", flush=True)
        time.sleep(0.02)  # widen the window so the kill lands mid-crawl

Slow(open_store(spec), loopback_settings(port, hosts, concurrency=8, bulk_batch=bulk_batch)).crawl(seeds)
print("finished", flush=True)
"""


def publish_sites(fed, n: int, suffix: str = "", topics: int = 20, topic: str = "topic") -> list[str]:
    """``n`` groups, each alone on ``site<i>.test``; their profile addresses (the crash tests' seeds)."""
    for i in range(n):
        fed.put_profile(f"site{i}.test", f"Group {i}{suffix}", path="/",
                        knowsAbout=[f"{topic} {j}" for j in range(topics)])
    return [fed.url(f"site{i}.test", "/") for i in range(n)]


def kill_crawl_after(fed, spec: str, seeds: list, writes: int, *, bulk_batch: int = 0, env=None) -> None:
    """Run ``SLOW_CRAWL_CHILD`` over ``seeds`` into ``spec`` and SIGKILL it at its ``writes``-th store write."""
    proc = subprocess.Popen([sys.executable, "-c", SLOW_CRAWL_CHILD, str(fed.port), str(spec), str(bulk_batch),
                             *seeds], stdout=subprocess.PIPE, text=True, env=env)
    seen = 0
    for line in proc.stdout:
        seen += line.startswith("wrote")
        if seen == writes:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the crawl ended before its write {writes}"
