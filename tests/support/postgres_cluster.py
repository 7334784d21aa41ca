"""A PostgreSQL server of a test's own, for tests that stop or restart the database: never the machine's.

`initdb` and `pg_ctl` build a throwaway cluster in a temporary folder, listening on a free port of
127.0.0.1 (trust authentication, superuser `postgres`), and remove it afterwards. `initdb` refuses
to run as root, so as root the cluster belongs to an unprivileged system user (`postgres`, else
`nobody`). Without PostgreSQL's server programs the test is skipped with the reason (failed under
`CI=true`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.support.servers import HOST, free_port
from tests.support.tools import tool_missing

BINDIR_VARIABLE = "PAYGATE_TEST_POSTGRES_BINDIR"
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
# Where distributions install the server: Debian/Ubuntu's versioned folders, newest first.
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
OWNERS_FOR_ROOT = ("postgres", "nobody")
SUPERUSER = "postgres"
START_TIMEOUT_SECONDS = 60


def _has_server(folder: Path) -> bool:
    return all(os.access(folder / program, os.X_OK) for program in SERVER_PROGRAMS)


def _major_version(folder: Path) -> float:
    try:
        return float(folder.parent.name)
    except ValueError:
        return 0.0


def server_bindir() -> Path | None:
    """The folder of `initdb`, `pg_ctl` and `postgres`: PAYGATE_TEST_POSTGRES_BINDIR when set, else
    `pg_config --bindir`, Debian's /usr/lib/postgresql/<version>/bin, or the PATH."""
    configured = os.environ.get(BINDIR_VARIABLE, "").strip()
    if configured:
        return Path(configured) if _has_server(Path(configured)) else None
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        answer = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30)
        if answer.returncode == 0 and answer.stdout.strip():
            candidates.append(Path(answer.stdout.strip()))
    candidates += sorted(Path("/").glob(DEBIAN_BINDIRS.lstrip("/")), key=_major_version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    return next((folder for folder in candidates if _has_server(folder)), None)


def _owner_for_root() -> pwd.struct_passwd | None:
    for name in OWNERS_FOR_ROOT:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


@attrs.define
class ThrowawayCluster:
    """A running cluster: `url` reaches its `postgres` database; `restart()` restarts the server."""

    bindir: Path
    folder: Path
    port: int
    owner: pwd.struct_passwd | None  # None: the cluster runs as the test's own user

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str = "postgres", *, driver: str = "postgresql") -> str:
        return f"{driver}://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def init(self) -> None:
        self._run(
            "initdb", "--pgdata", str(self.data), "--username", SUPERUSER, "--auth", "trust",
            "--encoding", "UTF8", "--locale", "C", "--no-sync",
        )
        # Its own port and socket folder: nothing is shared with a server already on this machine.
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nlisten_addresses = '{HOST}'\nport = {self.port}\nunix_socket_directories = '{self.folder}'\n"
            )

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        self._pg_ctl("restart", "--mode", "fast")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", "immediate", "--wait", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _pg_ctl(self, action: str, *options: str) -> None:
        self._run(
            "pg_ctl", action, "--pgdata", str(self.data), "--log", str(self.log), "--wait",
            "--timeout", str(START_TIMEOUT_SECONDS), *options,
        )

    def _run(self, program: str, *arguments: str, check: bool = True) -> None:
        owner = self.owner  # None: run as ourselves (subprocess's defaults)
        done = subprocess.run(
            [str(self.bindir / program), *arguments],
            capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS * 2, check=False, cwd=self.folder,
            user=None if owner is None else owner.pw_uid,
            group=None if owner is None else owner.pw_gid,
            extra_groups=None if owner is None else [],
        )
        if check and done.returncode != 0:
            server_log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}{server_log}")


def _start_cluster() -> ThrowawayCluster:
    bindir = server_bindir()
    if bindir is None:
        tool_missing(
            "PostgreSQL's server programs (initdb, pg_ctl, postgres) are not installed: install the server "
            f"package (Debian: postgresql) or set {BINDIR_VARIABLE}"
        )
    owner = _owner_for_root() if os.geteuid() == 0 else None
    if os.geteuid() == 0 and owner is None:
        tool_missing(f"initdb refuses root, and none of the users {', '.join(OWNERS_FOR_ROOT)} exists to run it")
    folder = Path(tempfile.mkdtemp(prefix="paygate-postgres-"))
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    cluster = ThrowawayCluster(bindir=bindir, folder=folder, port=free_port(), owner=owner)
    try:
        cluster.init()
        cluster.start()
    except BaseException:
        cluster.remove()
        raise
    return cluster


@pytest.fixture(scope="module")
def throwaway_postgres() -> Iterator[ThrowawayCluster]:
    """A PostgreSQL server of this module's own, removed afterwards; restart it as you please."""
    cluster = _start_cluster()
    try:
        yield cluster
    finally:
        cluster.remove()
