"""`make run` (``ledgerlink run-demo``) serves the web app as production does: gunicorn with
deploy/gunicorn.conf.py, static files through whitenoise; what it prints (the URL, the logins) works."""

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.xdist_group("real-processes")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_demo_serves_through_gunicorn_and_its_logins_work(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledgerlink.cli", "run-demo", "--port", str(port), "--sandbox-port", str(_free_port())],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not any("(Ctrl-C stops everything)" in line for line in printed):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(printed)
            try:
                printed.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        text = "".join(printed)
        url = re.search(r"Ledgerlink is running at (http://\S+/)", text).group(1)
        assert url == f"http://127.0.0.1:{port}/"
        logins = dict(re.findall(r"login: (\w+) / (\S+)", text))
        assert set(logins) == {"admin", "operator", "viewer"}

        # The web processes are gunicorn's (its master and the demo's two workers), not runserver.
        web_log = (tmp_path / "var" / "web.log").read_text()
        assert "Booting worker" in web_log and web_log.count("Booting worker") == 2

        with httpx.Client(base_url=url, timeout=10) as http:
            page = http.get("login/")
            assert page.status_code == 200
            css = re.search(r'href="(/static/[^"]+\.css)"', page.text).group(1)
            static = http.get(css)
            assert (static.status_code, static.headers["content-type"].split(";")[0]) == (200, "text/css")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            r = http.post("login/", data={"username": "operator", "password": logins["operator"],
                                          "csrfmiddlewaretoken": token}, headers={"Referer": f"{url}login/"})
            assert (r.status_code, r.headers["location"]) == (302, "/")
            home = http.get("/")
            assert home.status_code == 200 and "operator" in home.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # Everything stopped with it: no process it started (gunicorn's master and workers, the worker, the
    # sandbox; all run in tmp_path) is left. Checked by process, not by probing the port, which another
    # test's server may have taken by the time it is probed.
    deadline = time.monotonic() + 10  # SIGKILLed grandchildren may take a moment to be gone
    while _processes_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_in(tmp_path) == []


def _processes_in(directory) -> list[str]:
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == Path(directory):
                left.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # gone, or not ours to read
    return left
