"""Shared helpers of the benchmarks: the sandbox subprocess, CPU times from /proc, DB set-up, stats.

Everything talks to 127.0.0.1 only. CPU times come from ``/proc/<pid>/stat`` (utime + stime) and
``os.wait4`` for children that exit; no psutil, no ``resource``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_DB = "postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (None when the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (0.0 when it is gone)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


def reaped_cpu(pid: int) -> float:
    """CPU seconds of a live process's children that exited and were waited for (cutime + cstime)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[13]) + int(fields[14])) / CLK_TCK


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def wait_cpu(proc: subprocess.Popen, timeout: float) -> float:
    """Wait for a child (bounded) and return its CPU seconds (os.wait4's rusage). Kills it after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        time.sleep(0.05)


def wait_http(url: str, timeout: float, *, what: str = "the server") -> None:
    """Until ``url`` answers 200 (a server just started); RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer {url} within {timeout:g} s")
        time.sleep(0.2)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Sandbox:
    """``qbo-sandbox --port N`` as a subprocess (it must not share the GIL with the worker)."""

    def __init__(self, log_path: Path, *, port: int | None = None, state: Path | None = None):
        self.port = port or free_port()
        self.state = state
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> Sandbox:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "qbo-sandbox"), "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
             *(["--state", str(self.state)] if self.state else [])],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qbo-sandbox exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if httpx.get(self.base_url + "/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("qbo-sandbox did not start within 30 s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()


# --- databases ---------------------------------------------------------------------------------------


def bench_env(db_url: str, workdir: Path) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = db_url
    env["DJANGO_SETTINGS_MODULE"] = "ledgerlink.settings"
    env["LEDGERLINK_LOG_LEVEL"] = env.get("LEDGERLINK_LOG_LEVEL", "WARNING")
    env["PYTHONUNBUFFERED"] = "1"
    env["DEBUG"] = "0"  # as in production: no per-query debug records
    env["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # python-quickbooks over http:// on loopback
    env.pop("LEDGERLINK_ENV", None)
    return env


def migrate(db_url: str, workdir: Path) -> None:
    out = subprocess.run([str(VENV_BIN / "ledgerlink"), "migrate", "-v0"], env=bench_env(db_url, workdir),
                         cwd=workdir, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"migrate failed: {out.stderr[-2000:]}")


class SqliteTemplate:
    """One migrated SQLite file per run; each case gets a fresh copy."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.path = workdir / "template.sqlite3"
        self._n = 0

    def prepare(self) -> None:
        migrate(f"sqlite:///{self.path}", self.workdir)

    def fresh(self, name: str) -> str:
        self._n += 1
        target = self.workdir / f"{name}-{self._n}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(target) + suffix)
            if p.exists():
                p.unlink()
        shutil.copyfile(self.path, target)
        return f"sqlite:///{target}"


def pg_server_url(db_url: str) -> str:
    return db_url.rsplit("/", 1)[0]


class PgTemplate:
    """``{name}_tpl`` migrated once; each case gets ``{name}`` re-created from it (CREATE DATABASE ...
    TEMPLATE), and both are dropped at the end."""

    def __init__(self, db_url: str, workdir: Path):
        self.db_url = db_url
        self.server = pg_server_url(db_url)
        self.name = db_url.rsplit("/", 1)[1]
        self.tpl = f"{self.name}_tpl"
        self.workdir = workdir

    def _admin(self, *sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.server}/{PG_ADMIN_DB}", autocommit=True, connect_timeout=5) as conn:
            for statement in sql:
                conn.execute(statement)

    def available(self) -> bool:
        try:
            self._admin("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - reported as "PostgreSQL not reachable"
            return False

    def prepare(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                    f'DROP DATABASE IF EXISTS "{self.tpl}" WITH (FORCE)', f'CREATE DATABASE "{self.tpl}"')
        migrate(f"{self.server}/{self.tpl}", self.workdir)

    def fresh(self, name: str = "") -> str:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                    f'CREATE DATABASE "{self.name}" TEMPLATE "{self.tpl}"')
        return self.db_url

    def snapshot(self) -> None:
        """Keep the current database (e.g. after ingest) as ``{name}_snap``."""
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}_snap" WITH (FORCE)',
                    f'CREATE DATABASE "{self.name}_snap" TEMPLATE "{self.name}"')

    def restore(self) -> str:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                    f'CREATE DATABASE "{self.name}" TEMPLATE "{self.name}_snap"')
        return self.db_url

    def drop(self) -> None:
        self._admin(*(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in (self.name, f"{self.name}_snap", self.tpl)))


def run_case(case: str, params: dict, db_url: str, workdir: Path, timeout: float) -> dict:
    """Run one benchmark case in a child process (its own Django settings / database)."""
    out_file = workdir / f"{case}-{int(time.time() * 1000)}.json"
    cmd = [sys.executable, "-m", "ledgerlink.bench.case", case, json.dumps(params), str(out_file)]
    proc = subprocess.Popen(cmd, env=bench_env(db_url, workdir), cwd=workdir, stdin=subprocess.DEVNULL)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"case {case} exceeded {timeout:.0f} s") from None
    if proc.returncode != 0 or not out_file.exists():
        raise RuntimeError(f"case {case} failed (exit {proc.returncode})")
    return json.loads(out_file.read_text())
