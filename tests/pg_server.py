"""A throwaway PostgreSQL server for the store tests, started and stopped by the tests themselves.

Debian's ``postgresql`` package (``tests/integration/install-deps.sh``) gives
``/usr/lib/postgresql/<major>/bin``. ``initdb`` runs as an unprivileged user
(the package's ``postgres`` user, else ``nobody``: the server refuses root)
into a temporary folder; the server listens on 127.0.0.1 on a free port only
(and on a Unix socket in that folder), password (SCRAM) authentication for
the ``fleetsam`` superuser, and is stopped by its PID (SIGINT: fast shutdown).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER, PASSWORD = "fleetsam", "s3cret-pg-test"


class PgMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def server_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PgMissing("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): install "
                        "Debian's postgresql package (tests/integration/install-deps.sh does, make test runs it)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as(user: str) -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--init-groups", "--"]


class PgServer:
    """One running server; ``url(db)`` for a database, ``create_db()`` for a fresh one; ``settings``
    (``-c`` options) over the tests' defaults (the benchmark turns fsync back on)."""

    def __init__(self, settings: dict[str, str] | None = None):
        self.bin = server_bin()
        self.settings = {"fsync": "off", "max_connections": "50", **(settings or {})}  # fsync off: tests only
        self.user = next((u for u in ("postgres", "nobody") if _exists(u)), None) if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="fleetsam-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self._count = 0

    def start(self) -> "PgServer":
        """Create the cluster (the first time) and start the server; again after ``stop(remove=False)``."""
        prefix = _run_as(self.user) if self.user else []
        if not (self.data / "PG_VERSION").exists():
            self._initdb(prefix)
        self.log = open(self.root / "server.log", "ab")  # noqa: SIM115 - open while the server runs
        self.proc = subprocess.Popen([*prefix, str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                                      "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                                      *(a for k, v in self.settings.items() for a in ("-c", f"{k}={v}"))],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + 30
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(remove=False)
                raise RuntimeError(f"PostgreSQL did not start: {(self.root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        """The server accepts connections (not merely "starting up")."""
        return subprocess.run([str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                              check=False).returncode == 0

    def url(self, db: str = "postgres", password: bool = False) -> str:
        auth = f"{USER}:{PASSWORD}" if password else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def create_db(self) -> str:
        """A fresh, empty database (from template0); its name."""
        import psycopg

        self._count += 1
        name = f"t{os.getpid()}_{self._count}"
        with psycopg.connect(self.url(password=True), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def _initdb(self, prefix: list[str]) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user:
            os.chown(pwfile, pwd.getpwnam(self.user).pw_uid, -1)
        subprocess.run([*prefix, str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                        "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, cwd=self.root)

    def stop(self, remove: bool = True) -> None:
        """Stop the server by its PID (SIGINT: fast shutdown); ``remove``: delete its folder too."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False

