"""A throwaway Virtuoso for the remote-store tests: Debian's ``virtuoso-opensource-7-bin`` (``make
virtuoso`` installs it), its database in a temporary directory, HTTP and SQL on loopback ports.

Anonymous clients of this loopback server may run SPARQL Update (the ``SPARQL`` user is granted
``SPARQL_UPDATE``), as a test server needs no credentials; the ``dba`` password is changed to a random
one first. ``reset()`` drops every graph the tests wrote, keeping Virtuoso's own.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

BINARY = "virtuoso-t"
ISQL = "isql-vt"
INSTALL_HINT = "Virtuoso is not installed: `make virtuoso` (as root) or `sudo apt-get install virtuoso-opensource-7-bin`"

INI = """\
[Database]
DatabaseFile = {dir}/virtuoso.db
ErrorLogFile = {dir}/virtuoso.log
LockFile = {dir}/virtuoso.lck
TransactionFile = {dir}/virtuoso.trx
xa_persistent_file = {dir}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {dir}/virtuoso-temp.db
TransactionFile = {dir}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
NumberOfBuffers = 10000
MaxDirtyBuffers = 6000
DirsAllowed = {dir}
CheckpointInterval = 60

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerThreads = 10
MaxClientConnections = 10

[SPARQL]
ResultSetMaxRows = 1000000
MaxQueryExecutionTime = 60
MaxQueryCostEstimationTime = 0
"""


def available() -> bool:
    return shutil.which(BINARY) is not None and shutil.which(ISQL) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Virtuoso:
    """One running server; ``url`` is its SPARQL endpoint, ``spec`` the ``--store`` value for it."""

    def __init__(self, startup_timeout: float = 120.0):
        self.dir = Path(tempfile.mkdtemp(prefix="hubnet-virtuoso-"))
        self.http_port, self.sql_port = _free_port(), _free_port()
        (self.dir / "virtuoso.ini").write_text(INI.format(dir=self.dir, sql_port=self.sql_port,
                                                          http_port=self.http_port))
        self.url = f"http://127.0.0.1:{self.http_port}/sparql"
        self.spec = "sparql+" + self.url
        self.log = open(self.dir / "stdout.log", "wb")
        self.proc = subprocess.Popen([BINARY, "+foreground", "+configfile", str(self.dir / "virtuoso.ini")],
                                     cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait(startup_timeout)
            password = secrets.token_hex(12)
            self._isql('grant SPARQL_UPDATE to "SPARQL";', f"USER_SET_PASSWORD('dba', '{password}');")
            self.system_graphs = set(self.graphs())
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"virtuoso-t exited ({self.proc.returncode}): "
                                   f"{(self.dir / 'stdout.log').read_text(errors='replace')[-2000:]}")
            try:
                if requests.get(self.url, params={"query": "ASK {}"}, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"Virtuoso did not answer on {self.url} within {timeout:g} s")

    def _isql(self, *statements: str) -> None:
        out = subprocess.run([ISQL, f"127.0.0.1:{self.sql_port}", "dba", "dba", "exec=" + " ".join(statements)],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0 or "Error" in out.stdout + out.stderr:
            raise RuntimeError(f"isql failed: {out.stdout}{out.stderr}")

    def query(self, text: str) -> dict:
        resp = requests.post(self.url, data={"query": text}, headers={"Accept": "application/sparql-results+json"},
                             timeout=60)
        resp.raise_for_status()
        return resp.json()

    def update(self, text: str) -> None:
        requests.post(self.url, data={"update": text}, timeout=60).raise_for_status()

    def graphs(self) -> list:
        # GROUP BY, not DISTINCT: Virtuoso 7 answers this one in ms and the DISTINCT one in seconds
        rows = self.query("SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")["results"]["bindings"]
        return [r["g"]["value"] for r in rows]

    def reset(self) -> None:
        """Every graph but Virtuoso's own dropped: the next test starts from an empty store."""
        mine = [g for g in self.graphs() if g not in self.system_graphs]
        if mine:
            self.update(" ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in mine))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_or_skip():
    """A running Virtuoso, or ``pytest.skip`` saying how to get one."""
    import pytest

    if not available():
        pytest.skip(INSTALL_HINT)
    return Virtuoso()
