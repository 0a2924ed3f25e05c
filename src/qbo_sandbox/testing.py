"""Run the sandbox on loopback in a background thread (for tests, demos and benchmarks).

    with SandboxServer() as sb:
        r = httpx.post(sb.base_url + "/_sandbox/realms", json={"limits": None})
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from .app import create_app


class SandboxServer:
    def __init__(self, data=None, state_path: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning"):
        self.app = create_app(data=data, state_path=state_path)
        self.host = host
        self.port = port
        self.log_level = log_level
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        if self.thread is not None:
            return self
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level=self.log_level, lifespan="off", access_log=False,
                                backlog=2048, timeout_keep_alive=30, ws="none")
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # uvicorn < 0.29 compatibility; harmless otherwise
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=f"qbo-sandbox-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("qbo_sandbox server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.thread = None
        self.server = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.app.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
