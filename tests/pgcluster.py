"""A throw-away PostgreSQL + PostGIS cluster for the tests: initdb, pg_ctl, a database per test.

The cluster lives in a temporary folder and listens on 127.0.0.1 at a free port (and on a unix
socket in that folder). PostgreSQL refuses to run as root, so under root initdb and pg_ctl run
as the ``postgres`` user (``runuser``) in a folder that user owns. Authentication is ``trust``
for the superuser and SCRAM passwords for the role :data:`SECRET_ROLE`, whose password is a
canary the tests look for in outputs.

A template database with PostGIS is made once; every test database is a cheap copy of it.
Nothing here skips: a server that cannot start fails the tests loudly (set
``EOHARVEST_SKIP_POSTGIS=1`` to skip the PostgreSQL tests on purpose).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
SECRET_ROLE = "eoharvest_secret"
SECRET_PASSWORD = "canary-pg-S3cr3t-9f2c"
TEMPLATE = "eoharvest_template"
SKIP_VARIABLE = "EOHARVEST_SKIP_POSTGIS"
#: Parent folder of the cluster folders (default: the system's temporary folder); .ci/run sets
#: it so that its exit trap can stop a cluster left behind by a killed test run.
PARENT_VARIABLE = "EOHARVEST_PG_TMPDIR"


def bin_dir() -> Path:
    """The folder of initdb/pg_ctl: ``pg_config --bindir``, else Debian's newest version."""
    found = shutil.which("pg_config")
    if found:
        candidate = Path(subprocess.run([found, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed: run `bash scripts/setup.sh test` "
            f"(it installs postgresql and PostGIS), or set {SKIP_VARIABLE}=1 to skip the PostgreSQL tests"
        )
    return Path(versions[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    folder: Path
    port: int
    bindir: Path
    #: fsync and full-page writes on (benchmarks); the tests trade durability for speed
    durable: bool = False
    _names: itertools.count = itertools.count(1)  # type: ignore[assignment]

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _as_owner(self, *args: str) -> list[str]:
        if os.geteuid() != 0:
            return list(args)
        return ["runuser", "-u", SUPERUSER, "--", *args]

    def _run(self, *args: str) -> str:
        done = subprocess.run(self._as_owner(*args), capture_output=True, text=True, timeout=120, cwd=self.folder)
        if done.returncode != 0:
            log = (self.folder / "server.log").read_text(errors="replace")[-3000:] if (self.folder / "server.log").exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr or done.stdout}\n{log}")
        return done.stdout

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync", "--auth-local=trust", "--auth-host=trust")  # fmt: skip
        # The password role first: pg_hba.conf is read top-down, first match wins.
        hba = self.data / "pg_hba.conf"
        hba.write_text(
            f"host all {SECRET_ROLE} 127.0.0.1/32 scram-sha-256\n"
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-w", "-t", "60", "-o", options, "start")  # fmt: skip
        self.sql("postgres", f"CREATE DATABASE {TEMPLATE}")
        self.sql(TEMPLATE, "CREATE EXTENSION postgis")
        self.sql("postgres", f"CREATE ROLE {SECRET_ROLE} LOGIN SUPERUSER PASSWORD '{SECRET_PASSWORD}'")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                           capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)

    def sql(self, database: str, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def url(self, database: str, *, user: str = SUPERUSER, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{database}"

    def new_database(self, *, postgis: bool = True, icu_locale: str | None = None) -> str:
        """A new, empty database: with PostGIS unless ``postgis`` is False; with ``icu_locale``
        (e.g. "en-US") its default collation sorts text by that language's rules, not bytes."""
        name = f"t{os.getpid()}_{next(self._names)}"
        if icu_locale is None:
            self.sql("postgres", f"CREATE DATABASE {name} TEMPLATE {TEMPLATE if postgis else 'template0'}")
            return name
        self.sql("postgres", f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'")
        if postgis:
            self.sql(name, "CREATE EXTENSION postgis")
        return name


def start_cluster(*, durable: bool = False) -> Cluster:
    bindir = bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="eoharvest-pg-", dir=os.environ.get(PARENT_VARIABLE) or None))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(SUPERUSER)
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    folder.chmod(0o700)
    cluster = Cluster(folder, _free_port(), bindir, durable=durable)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
