"""HTTP recommendations next to the same server's empty endpoint, in one run.

Loads the demo shop (``surmesure.demo``: 3,000 people, 2,000 items by default) into a
fresh SQLite store, trains the model, starts ``python -m surmesure.cli serve`` on a free
port, then measures at ``--connections`` keep-alive connections (hand-written HTTP/1.1
over asyncio, the client in this process):

* ``GET /healthz``;
* ``GET /v1/recommendations?user_id=…&k=10`` (home context, the secret key, a random
  known person per request).

Each is measured ``--rounds`` times, alternating, ``--seconds`` each after a warm-up;
prints requests per second, p50 and p99 latency per round and their medians, and the
ratio of the recommendations' rate to ``/healthz``'s (issue #3 targets: >= 0.5, p99
<= 10 ms). ``--json`` writes the figures.

    python benchmarks/recommend_http.py [--people 3000] [--items 2000] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import sqlalchemy as sa
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stores import SECRET_KEY, _free_port, server_env

__all__ = ["Measure", "main", "measure"]


@dataclass
class Measure:
    name: str
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1e3 if ordered else float("nan")


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at < 0:
        raise RuntimeError("response without Content-Length")
    length = int(lower[at + 15 : lower.find(b"\r\n", at)])
    return int(head[9:12]), await reader.readexactly(length)


async def drive(port: int, requests: list[bytes], connections: int, seconds: float, out: Measure) -> None:
    """Send requests (whole HTTP/1.1 messages, picked at random) over ``connections``
    keep-alive connections for ``seconds``; latencies and errors go to ``out``."""
    stop = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        rng = random.Random(n)
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                writer.write(requests[rng.randrange(len(requests))])
                status, body = await _response(reader)
                out.latencies.append(time.perf_counter() - started)
                out.requests += 1
                if status != 200:
                    out.errors.append(f"{status} {body[:300]!r}")
                    return
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(connections)))
    out.seconds = time.perf_counter() - began


async def _drive(port: int, paths: list[str], connections: int, seconds: float, out: Measure) -> None:
    auth = f"Authorization: Bearer {SECRET_KEY}\r\n"
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode() for p in paths]
    await drive(port, requests, connections, seconds, out)


def measure(port: int, name: str, paths: list[str], *, connections: int, seconds: float) -> Measure:
    """``seconds`` of GETs over ``connections`` keep-alive connections, each request one
    of ``paths`` at random."""
    out = Measure(name)
    asyncio.run(_drive(port, paths, connections, seconds, out))
    if out.errors:
        raise RuntimeError(f"{name}: {out.errors[0]}")
    return out


def _prepare(data_dir: Path, people: int, items: int, console: Console) -> list[str]:
    """Load the demo shop and train; the user ids of known people."""
    from surmesure.app import build_services
    from surmesure.config import load_settings
    from surmesure.demo.load import load_demo
    from surmesure.recommendations.cli import run_training

    settings = load_settings()
    services = build_services(settings)
    try:
        report = load_demo(services, people=people, items=items, seed=42, console=console)
        console.print(f"loaded {report.items} items, {report.events_accepted} events")
        with services.engine.connect() as conn:
            users = conn.execute(sa.text("SELECT DISTINCT user_id FROM events WHERE user_id IS NOT NULL"))
            user_ids = sorted(str(row[0]) for row in users)
    finally:
        services.close()
    run_training(settings, console)
    return user_ids


def _serve(data_dir: Path, url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "surmesure.cli", "serve", "--port", str(port)],
        env=server_env(url, "NORMAL", data_dir), cwd=data_dir, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    import http.client

    while True:
        if process.poll() is not None:
            raise RuntimeError((data_dir / "server.log").read_text()[-3000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1/recommendations?k=1", headers={"Authorization": f"Bearer {SECRET_KEY}"})
            if conn.getresponse().status == 200:  # up, with the model loaded
                return process, port
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the server did not serve recommendations within 90 s")
        time.sleep(0.2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    return parser.parse_args(argv)


def prepare_store(data_dir: Path, people: int, items: int, console: Console) -> tuple[str, list[str]]:
    """An SQLite store in ``data_dir`` with the demo shop and a trained model, built under
    the server's environment (what ``surmesure serve`` will see); its URL and user ids."""
    url = f"sqlite:///{data_dir / 'store.db'}"
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(server_env(url, "NORMAL", data_dir))
    try:
        return url, _prepare(data_dir, people, items, console)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="surmesure-rec-http-") as tmp:
        data_dir = Path(tmp)
        url, users = prepare_store(data_dir, args.people, args.items, console)
        people = random.Random(0).sample(users, min(len(users), 500))
        recs = [f"/v1/recommendations?{urlencode({'user_id': u, 'k': args.k})}" for u in people]
        process, port = _serve(data_dir, url)
        try:
            kw: dict[str, Any] = {"connections": args.connections}
            measure(port, "warm-up", ["/healthz"], seconds=args.warmup, **kw)
            measure(port, "warm-up", recs, seconds=args.warmup, **kw)
            rounds: list[tuple[Measure, Measure]] = []
            for n in range(args.rounds):
                health = measure(port, "/healthz", ["/healthz"], seconds=args.seconds, **kw)
                rec = measure(port, "/v1/recommendations", recs, seconds=args.seconds, **kw)
                rounds.append((health, rec))
                for m in (health, rec):
                    console.print(
                        f"round {n + 1} {m.name:<22} {m.rate:8.0f} req/s  p50 {m.quantile(0.5):6.2f} ms  "
                        f"p99 {m.quantile(0.99):6.2f} ms"
                    )
        finally:
            process.terminate()
            process.wait(20)
    figures: dict[str, Any] = {
        "connections": args.connections, "people": args.people, "items": args.items,
    }  # fmt: skip
    for i, name in enumerate(("healthz", "recommendations")):
        figures[name] = {
            "rps": statistics.median(r[i].rate for r in rounds),
            "p50_ms": statistics.median(r[i].quantile(0.5) for r in rounds),
            "p99_ms": statistics.median(r[i].quantile(0.99) for r in rounds),
        }
    ratio = figures["recommendations"]["rps"] / figures["healthz"]["rps"]
    figures["ratio"] = ratio
    console.print(f"\n[bold]medians of {args.rounds}[/] at {args.connections} connections:")
    for name in ("healthz", "recommendations"):
        f = figures[name]
        console.print(
            f"  {name:<16} {f['rps']:8.0f} req/s  p50 {f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms"
        )
    ok = ratio >= 0.5 and figures["recommendations"]["p99_ms"] <= 10
    console.print(
        f"  ratio recommendations / healthz: [bold]{ratio:.2f}[/] (target >= 0.5, p99 <= 10 ms: "
        f"{'met' if ok else 'not met'})"
    )
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
