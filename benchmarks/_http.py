"""Load clients for the benchmarks: the same bounded send loop over three transports.

The client shares the machine's cores with the server, so what it costs matters:

* ``asyncio`` — keep-alive connections on an asyncio (uvloop when installed) loop,
  each request pre-built as bytes, responses read by Content-Length. Cheapest.
* ``threads`` — ``http.client`` connections, one thread each.
* ``httpx`` — ``httpx.AsyncClient``, for comparison with a real client library.

Every loop is bounded: ``len(bodies)`` requests, a deadline, and a retry limit for
503/429 answers (the server's back-pressure), which are retried after a pause.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CLIENTS", "SendStats", "get_json", "send_all"]

_RETRY_STATUSES = (429, 503)
_MAX_RETRIES = 200
_RETRY_PAUSE = 0.05


@dataclass
class SendStats:
    requests: int = 0
    acked: int = 0  # requests answered 2xx
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    first_send: float = 0.0
    last_ack: float = 0.0
    client_cpu: float = 0.0
    capped: bool = False

    @property
    def elapsed(self) -> float:
        return max(self.last_ack - self.first_send, 1e-9)


def _auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def _ok(status: int, body: bytes) -> bool:
    # an acknowledgement: 2xx and every event accepted (no quarantine, no error)
    return 200 <= status < 300 and b'"status":"ok"' in body


# -- asyncio, hand-written HTTP/1.1 ---------------------------------------------------------
def _request_bytes(path: str, body: bytes, auth: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at < 0:
        raise RuntimeError("response without Content-Length")
    length = int(lower[at + 15 : lower.find(b"\r\n", at)])
    return status, await reader.readexactly(length)


async def _asyncio_send(
    port: int, path: str, bodies: list[bytes], auth: str, concurrency: int, deadline: float, stats: SendStats
) -> None:
    requests = [_request_bytes(path, body, auth) for body in bodies]
    cursor = iter(range(len(requests)))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in cursor:
                if time.perf_counter() > deadline:
                    stats.capped = True
                    return
                for _attempt in range(_MAX_RETRIES):
                    writer.write(requests[i])
                    status, body = await _read_response(reader)
                    if status not in _RETRY_STATUSES:
                        break
                    stats.retries += 1
                    await asyncio.sleep(_RETRY_PAUSE)
                stats.requests += 1
                if _ok(status, body):
                    stats.acked += 1
                    stats.last_ack = time.perf_counter()
                else:
                    stats.errors.append(f"{status} {body[:200]!r}")
                    return
        finally:
            writer.close()

    stats.first_send = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _run_async(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(factory())


# -- http.client in threads -----------------------------------------------------------------
def _threads_send(
    port: int, path: str, bodies: list[bytes], auth: str, concurrency: int, deadline: float, stats: SendStats
) -> None:
    cursor = iter(range(len(bodies)))
    lock = threading.Lock()
    headers = {"Authorization": auth, "Content-Type": "application/json"}

    def take() -> int | None:
        with lock:
            return next(cursor, None)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while (i := take()) is not None:
                if time.perf_counter() > deadline:
                    stats.capped = True
                    return
                for _attempt in range(_MAX_RETRIES):
                    conn.request("POST", path, bodies[i], headers)
                    response = conn.getresponse()
                    body = response.read()
                    if response.status not in _RETRY_STATUSES:
                        break
                    with lock:
                        stats.retries += 1
                    time.sleep(_RETRY_PAUSE)
                with lock:
                    stats.requests += 1
                    if _ok(response.status, body):
                        stats.acked += 1
                        stats.last_ack = time.perf_counter()
                    else:
                        stats.errors.append(f"{response.status} {body[:200]!r}")
                        return
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    stats.first_send = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.perf_counter(), 0) + 130)


# -- httpx ----------------------------------------------------------------------------------
async def _httpx_send(
    port: int, path: str, bodies: list[bytes], auth: str, concurrency: int, deadline: float, stats: SendStats
) -> None:
    import httpx

    cursor = iter(range(len(bodies)))
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=120) as client:

        async def worker() -> None:
            for i in cursor:
                if time.perf_counter() > deadline:
                    stats.capped = True
                    return
                for _attempt in range(_MAX_RETRIES):
                    response = await client.post(path, content=bodies[i], headers=headers)
                    if response.status_code not in _RETRY_STATUSES:
                        break
                    stats.retries += 1
                    await asyncio.sleep(_RETRY_PAUSE)
                stats.requests += 1
                if _ok(response.status_code, response.content):
                    stats.acked += 1
                    stats.last_ack = time.perf_counter()
                else:
                    stats.errors.append(f"{response.status_code} {response.content[:200]!r}")
                    return

        stats.first_send = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))


CLIENTS = ("asyncio", "threads", "httpx")


def send_all(
    client: str,
    port: int,
    path: str,
    bodies: list[bytes],
    *,
    write_key: str,
    concurrency: int,
    time_cap: float,
) -> SendStats:
    """Send every body once (retrying back-pressure answers); stop at the first error."""
    stats = SendStats()
    auth = _auth(write_key)
    deadline = time.perf_counter() + time_cap
    cpu0 = time.process_time()
    args = (port, path, bodies, auth, concurrency, deadline, stats)
    if client == "asyncio":
        _run_async(lambda: _asyncio_send(*args))
    elif client == "threads":
        _threads_send(*args)
    elif client == "httpx":
        _run_async(lambda: _httpx_send(*args))
    else:
        raise ValueError(f"unknown client {client!r}; one of {CLIENTS}")
    stats.client_cpu = time.process_time() - cpu0
    return stats


def get_json(port: int, path: str, timeout: float = 5.0) -> tuple[int, Any]:
    import orjson

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, orjson.loads(body) if body else None
    finally:
        conn.close()
