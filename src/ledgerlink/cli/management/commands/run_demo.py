"""`ledgerlink run-demo` (what `make run` calls): migrate SQLite, start qbo_sandbox, load the demo,
start a worker and the web app, print the URL and the logins, and stop everything on Ctrl-C.

The web app runs as in production: gunicorn with deploy/gunicorn.conf.py (sync workers, whitenoise
for the static files), not Django's development server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from ledgerlink.cli.demo import load_demo

# The repository's gunicorn settings (deploy/gunicorn.conf.py), when running from a checkout.
GUNICORN_CONF = Path(__file__).resolve().parents[5] / "deploy" / "gunicorn.conf.py"
DEMO_WEB_PROCESSES = 2


def gunicorn_command(host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The demo's web app: gunicorn as production runs it (deploy/gunicorn.conf.py), on ``host:port``."""
    env = {"LEDGERLINK_BIND": f"{host}:{port}", "WEB_CONCURRENCY": str(DEMO_WEB_PROCESSES)}
    if GUNICORN_CONF.exists():
        return [_script("gunicorn"), "-c", str(GUNICORN_CONF)], env
    return [_script("gunicorn"), "--bind", f"{host}:{port}", "--workers", str(DEMO_WEB_PROCESSES),
            "ledgerlink.wsgi:application"], env


def _script(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise CommandError(f"{url} did not answer within {seconds:.0f} s")



def _signal_group(child: subprocess.Popen, sig: int) -> None:
    """Send sig to the child's process group (it was started as a session leader); gone already: nothing."""
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

class Command(BaseCommand):
    help = "Run the demo: qbo_sandbox, the web app and a worker, with demo data loaded."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000, help="web app port (default 8000)")
        parser.add_argument("--sandbox-port", type=int, default=8700, help="qbo_sandbox port (default 8700)")
        parser.add_argument(
            "--load-only", action="store_true", help="load the demo, print the summary and exit (no servers kept)"
        )

    def handle(self, *args, host, port, sandbox_port, load_only, **options):
        call_command("migrate", verbosity=0)
        self.stdout.write("database migrated")
        children: list[subprocess.Popen] = []

        def stop_all(*_):
            # Each child leads its own process group (gunicorn's master and its workers): a master killed
            # after the grace period must not leave workers serving the port.
            for child in reversed(children):
                if child.poll() is None:
                    _signal_group(child, signal.SIGTERM)
            # One deadline for all of them (not 10 s each): whoever is still there after it is killed.
            deadline = time.monotonic() + 8
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                _signal_group(child, signal.SIGKILL)
                child.wait()

        sandbox_url = f"http://{host}:{sandbox_port}"
        logs = Path.cwd() / "var"
        logs.mkdir(exist_ok=True)

        def spawn(args: list[str], log_name: str, env: dict[str, str] | None = None) -> None:
            out = open(logs / log_name, "ab")  # noqa: SIM115 - lives as long as the child
            children.append(
                subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                 start_new_session=True)
            )

        try:
            spawn([_script("qbo-sandbox"), "--host", host, "--port", str(sandbox_port)], "qbo-sandbox.log")
            _wait_http(f"{sandbox_url}/.well-known/openid-configuration")
            self.stdout.write(f"qbo_sandbox running at {sandbox_url}")
            result = load_demo(sandbox_url, progress=self.stdout.write)
            summary = ", ".join(f"{n} {state}" for state, n in result.states.items() if n)
            self.stdout.write(f"demo loaded: requests {summary}")
            if load_only:
                return
            spawn([_script("ledgerlink"), "worker"], "worker.log")
            web, web_env = gunicorn_command(host, port)
            spawn(web, "web.log", web_env)
            _wait_http(f"http://{host}:{port}/healthz")
            self.stdout.write("")
            self.stdout.write(self.style.SUCCESS(f"Ledgerlink is running at http://{host}:{port}/"))
            for username, password in result.logins.items():
                self.stdout.write(f"  login: {username} / {password}")
            self.stdout.write(f"  qbo_sandbox: {sandbox_url}   logs: {logs}/   (Ctrl-C stops everything)")
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
            # Ctrl-C stops everything even when the demo was started with SIGINT ignored (an ignored
            # signal is inherited: a background job, a test runner's worker), which Python then keeps.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            raise CommandError(f"a demo process stopped; see its log in {logs}/")
        except KeyboardInterrupt:
            self.stdout.write("stopping")
        finally:
            stop_all()
