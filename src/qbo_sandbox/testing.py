"""Run the sandbox on loopback in a background thread (for tests, demos and benchmarks).

    with SandboxServer() as sb:
        r = httpx.post(sb.base_url + "/_sandbox/realms", json={"limits": None})
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import uvicorn

from .app import create_app


class SandboxServer:
    def __init__(self, data=None, state_path: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", realm_defaults: dict | None = None):
        self.app = create_app(data=data, state_path=state_path, realm_defaults=realm_defaults)
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
        # Accepted connections inherit TCP_NODELAY: without it Nagle holds the response body until the
        # client's delayed ACK, about 40 ms per keep-alive request.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind((self.host, self.port))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level=self.log_level, lifespan="off", access_log=False,
                                backlog=2048, timeout_keep_alive=30, ws="none", server_header=False,
                                timeout_graceful_shutdown=2)
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

    # -- control API conveniences (stdlib HTTP, so no client library is needed) ----------------------
    def control(self, method: str, path: str, body=None) -> tuple[int, dict]:
        """Call the control API: control("POST", "/_sandbox/realms", {...}) -> (status, json)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def create_realm(self, **spec) -> dict:
        """POST /_sandbox/realms; returns {"realm_id", "access_token", "refresh_token", "entities", ...}.
        Limits are QBO's unless the spec says otherwise (``limits=None`` turns them off)."""
        status, body = self.control("POST", "/_sandbox/realms", spec)
        if status != 201:
            raise RuntimeError(f"create_realm failed: {status} {body}")
        return body

    def api_url(self, realm_id: str) -> str:
        """Base of the Accounting API for a realm: {base_url}/v3/company/{realm_id}"""
        return f"{self.base_url}/v3/company/{realm_id}"

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
