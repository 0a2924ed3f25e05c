"""An open-loop HTTP/1.1 load generator for the benchmarks (standard library asyncio, one thread).

Each request is sent at its scheduled time whatever the answers before it (open loop: a slow server
meets the load it would meet, the client does not slow down with it), on its own connection
(``Connection: close``, as gunicorn's sync workers answer anyway). The requests are built as bytes
before the clock starts, so the client spends about 0.1 ms of CPU a request; httpx from a thread pool
spent 1.7 to 2.2 ms on this machine, a third of a core at 200 a second taken from the server being
measured. Loopback only: the benchmarks never leave the machine.
"""

from __future__ import annotations

import asyncio
import json
import resource
from dataclasses import dataclass


@dataclass
class Answer:
    """One request's result: ``status`` (0 when no answer: ``error`` says why), the JSON ``body``
    (None when it was not JSON), and milliseconds from its scheduled time (``total_ms``), from when
    it was written (``server_ms``) and how late it was written (``late_ms``)."""

    status: int
    body: object
    total_ms: float
    server_ms: float
    late_ms: float
    error: str = ""


def http_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A POST as bytes on the wire."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _parse(raw: bytes) -> tuple[int, object]:
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    if b"transfer-encoding: chunked" in head.lower():
        return status, None  # our server answers with a Content-Length; nothing here needs chunks
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, None


def raise_open_files(needed: int) -> None:
    """Lift the soft limit on open files towards the hard one (one socket per request in flight)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def open_loop(host: str, port: int, requests: list[bytes], rate: float, *, timeout: float = 60.0,
              max_in_flight: int = 4000, start_delay: float = 0.5) -> tuple[list[Answer], float]:
    """Send ``requests`` at ``rate`` a second (request i at start + i / rate); wait for every answer.
    Returns the answers in request order and the wall time from the first scheduled send to the last
    answer. At most ``max_in_flight`` connections at once (a request waiting for one is late, and its
    lateness counts in its ``total_ms``)."""
    raise_open_files(max_in_flight + 256)
    return asyncio.run(_run(host, port, requests, rate, timeout, max_in_flight, start_delay))


class _Exchange(asyncio.Protocol):
    """One request on its own connection: written when connected, the answer read to EOF."""

    def __init__(self, data: bytes, done: asyncio.Future):
        self.data, self.done, self.chunks = data, done, []

    def connection_made(self, transport) -> None:
        transport.write(self.data)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def eof_received(self):
        return False  # close the transport: Connection: close, the whole answer is in

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(b"".join(self.chunks))


async def _run(host, port, requests, rate, timeout, max_in_flight, start_delay):
    answers: list[Answer | None] = [None] * len(requests)
    slots = asyncio.Semaphore(max_in_flight)
    loop = asyncio.get_running_loop()
    t0 = loop.time() + start_delay

    async def one(i: int, due: float) -> None:
        async with slots:
            sent = loop.time()
            transport = None
            try:
                async with asyncio.timeout(timeout):
                    done = loop.create_future()
                    transport, _ = await loop.create_connection(lambda: _Exchange(requests[i], done), host, port)
                    raw = await done
                status, body = _parse(raw)
                error = "" if status else f"no HTTP answer: {raw[:100]!r}"
            except (OSError, TimeoutError) as exc:
                status, body, error = 0, None, f"{type(exc).__name__}: {exc}"
            finally:
                if transport is not None:
                    transport.close()
            done_at = loop.time()
            answers[i] = Answer(status, body, (done_at - due) * 1000, (done_at - sent) * 1000, (sent - due) * 1000,
                                error)

    tasks = []
    for i in range(len(requests)):
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0.002:  # those due within 2 ms go together (fewer wake-ups; lateness still counted)
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    wall = loop.time() - t0
    return answers, wall
