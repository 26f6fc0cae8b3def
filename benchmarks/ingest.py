"""Sustained ingestion through ``POST /v1/batch`` and ``POST /v1/track``, with profile
updates, next to the ceiling of the same store measured in the same run.

    .venv/bin/python benchmarks/ingest.py                 # SQLite and PostgreSQL, 3 repeats
    .venv/bin/python benchmarks/ingest.py --quick         # a smoke run (~1 min)
    .venv/bin/python benchmarks/ingest.py --store sqlite --sqlite-sync FULL --modes batch100

For each store (and, on SQLite, each ``synchronous`` setting), each mode (batches of
20, of 100, single events) and each repeat: a fresh store, a ``surmesure serve``
subprocess, a short warm-up, then a fixed number of pre-serialized shop events sent
over a few keep-alive connections. Two figures: *acks* (first send → last 2xx) and
*+profiles* (first send → last 2xx and ``/readyz`` reporting ``pipeline_backlog == 0``).
The ceiling is a bare SQLAlchemy executemany of the same rows (built with
``surmesure.events.domain.normalize``) in transactions of the same size, into a fresh
``events`` table of the same kind of store. Medians are printed; see README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _http import CLIENTS, get_json, send_all  # noqa: E402
from _shop import batch_bodies, shop_events, single_bodies  # noqa: E402
from _stores import (  # noqa: E402
    WRITE_KEY,
    Server,
    analyze,
    ceiling_rows,
    fresh_store,
    insert_ceiling,
    pg_reachable,
    pg_settings,
    verify_store,
)

TARGET_BATCH_EPS_SQLITE = 15_000
TARGET_RATIO = 0.45
TARGET_SINGLE_RPS = 1_500
RUDDERSTACK_2_CORES = 1_700
RESULTS = HERE / "results"


def _modes(text: str, sizes: list[int]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for part in text.split(","):
        part = part.strip()
        if part == "batch":
            out.extend((f"batch{n}", n) for n in sizes)
        elif part.startswith("batch") and part[5:].isdigit():
            out.append((part, int(part[5:])))
        elif part == "single":
            out.append(("single", 1))
        else:
            raise SystemExit(f"unknown mode {part!r}: batch, batchN or single")
    return out


def wait_backlog(port: int, deadline: float) -> bool:
    """Poll ``/readyz`` until the pipeline backlog is 0 (True) or the deadline passes."""
    while time.perf_counter() < deadline:
        status, body = get_json(port, "/readyz")
        if status == 200 and body["pipeline_backlog"] == 0:
            return True
        time.sleep(0.01)
    return False


def _py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print(f"  (py-spy not installed in {spy.parent}; pip install py-spy)")
        return None
    fmt = {".json": "speedscope", ".txt": "raw"}.get(out.suffix, "flamegraph")
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--format",
            fmt,
            "-o",
            str(out),
            "--nonblocking",
            "--subprocesses",  # the pipeline worker too
            # wall time per thread (the writer waiting on the store shows too); CPU only
            # with SURMESURE_BENCH_SPY_IDLE=0
            *(["--idle"] if os.environ.get("SURMESURE_BENCH_SPY_IDLE", "1") != "0" else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure_server(
    kind: str,
    sync: str,
    mode: str,
    bodies: list[bytes],
    per_request: list[int],
    warm: list[bytes],
    args: argparse.Namespace,
    spy_out: Path | None,
) -> dict[str, Any]:
    """One run against a fresh store and a fresh server process."""
    single = mode == "single"
    path = "/v1/track" if single else "/v1/batch"
    conns = args.single_connections if single else args.connections
    n_events = sum(per_request)
    with fresh_store(kind) as url:
        with Server(url, sync, args.switch_interval) as server:
            warm_stats = send_all(
                args.client, server.port, path, warm, write_key=WRITE_KEY, concurrency=conns, time_cap=60
            )
            if warm_stats.errors:
                raise RuntimeError(f"warm-up failed: {warm_stats.errors[0]}\n{server.log_tail()}")
            wait_backlog(server.port, time.perf_counter() + 60)
            if kind == "postgres" and args.pg_analyze:
                analyze(url)
            spy = _py_spy(server.process.pid, spy_out) if spy_out and server.process else None
            cpu0 = server.cpu_seconds()
            worker_cpu0 = server.children_cpu_seconds()
            stats = send_all(
                args.client,
                server.port,
                path,
                bodies,
                write_key=WRITE_KEY,
                concurrency=conns,
                time_cap=args.time_cap,
            )
            if stats.errors:
                raise RuntimeError(f"{len(stats.errors)} refused requests, e.g. {stats.errors[0]}")
            caught_up = wait_backlog(server.port, stats.first_send + args.time_cap + 60)
            done = time.perf_counter()
            server_cpu = server.cpu_seconds() - cpu0
            _status, ready = get_json(server.port, "/readyz")
            writer_stats = ready.get("writer", {}) if isinstance(ready, dict) else {}
            worker_cpu = server.children_cpu_seconds() - worker_cpu0
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
        check = verify_store(url)
    acked_events = sum(per_request[: stats.acked]) if stats.capped else n_events
    expected = n_events + len(warm) * (per_request[0] if per_request else 0)
    problems = []
    if not stats.capped:
        if check["events"] != expected or check["distinct_message_ids"] != expected:
            problems.append(
                f"events {check['events']} (distinct {check['distinct_message_ids']}) != {expected}"
            )
        if check["outbox"] or check["quarantined"]:
            problems.append(f"outbox {check['outbox']}, quarantine {check['quarantined']}")
        if check["profiled_events"] != check["events"]:
            problems.append(f"profiled {check['profiled_events']} != events {check['events']}")
    return {
        "events": acked_events,
        "requests": stats.acked,
        "acks_eps": acked_events / stats.elapsed,
        "acks_rps": stats.acked / stats.elapsed,
        "profiles_eps": acked_events / max(done - stats.first_send, 1e-9),
        "profiles_rps": stats.acked / max(done - stats.first_send, 1e-9),
        "acks_seconds": stats.elapsed,
        "profiles_seconds": done - stats.first_send,
        "capped": stats.capped or not caught_up,
        "retries": stats.retries,
        "server_cpu_ms_per_1k_events": 1e6 * server_cpu / max(acked_events, 1),
        "worker_cpu_ms_per_1k_events": 1e6 * worker_cpu / max(acked_events, 1),
        "client_cpu_ms_per_1k_events": 1e6 * stats.client_cpu / max(acked_events, 1),
        "store_check": check,
        "problems": problems,
        "writer": writer_stats,
    }


def measure_ceiling(kind: str, sync: str, rows: list[list[dict[str, Any]]]) -> float:
    with fresh_store(kind) as url:
        seconds = insert_ceiling(url, rows, sync)
    return sum(len(r) for r in rows) / seconds


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(entry: dict[str, Any]) -> dict[str, Any]:
    runs = entry["runs"]
    out = {
        k: _median(runs, k)
        for k in (
            "acks_eps",
            "profiles_eps",
            "acks_rps",
            "profiles_rps",
            "ceiling_eps",
            "server_cpu_ms_per_1k_events",
            "worker_cpu_ms_per_1k_events",
            "client_cpu_ms_per_1k_events",
        )
    }
    for name, key in (("ratio_profiles", "profiles_eps"), ("ratio_acks", "acks_eps")):
        ratios = [r[key] / r["ceiling_eps"] for r in runs if r.get("ceiling_eps")]
        out[name] = statistics.median(ratios) if ratios else None
    verdicts = []
    if entry["mode"] == "single":
        verdicts.append((f"req/s >= {TARGET_SINGLE_RPS}", out["profiles_rps"] >= TARGET_SINGLE_RPS))
    else:
        if entry["store"] == "sqlite":
            verdicts.append(
                (f"ev/s >= {TARGET_BATCH_EPS_SQLITE}", out["profiles_eps"] >= TARGET_BATCH_EPS_SQLITE)
            )
        if out["ratio_profiles"] is not None:
            verdicts.append((f"ratio >= {TARGET_RATIO}", out["ratio_profiles"] >= TARGET_RATIO))
    out["targets"] = dict(verdicts)
    out["problems"] = sorted({p for r in runs for p in r["problems"]})
    out["capped"] = any(r["capped"] for r in runs)
    return out


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def print_table(entries: list[dict[str, Any]], client: str) -> None:
    head = (
        f"{'store':8} {'sync':6} {'mode':9} {'conn':>4} {'acks/s':>9} {'+profiles/s':>11} "
        f"{'ceiling/s':>10} {'ours/ceil':>9} {'acks/ceil':>9} {'srv ms/1k':>9} {'wrk ms/1k':>9} "
        f"{'cli ms/1k':>9}  targets"
    )
    print()
    print(
        f"events per second, medians of {entries[0]['repeats'] if entries else 0} runs "
        f"({os.cpu_count()} cores; load client: {client}, sharing those cores)"
    )
    print(head)
    print("-" * len(head))
    for e in entries:
        s = e["summary"]
        unit_acks = s["acks_rps"] if e["mode"] == "single" else s["acks_eps"]
        unit_prof = s["profiles_rps"] if e["mode"] == "single" else s["profiles_eps"]
        verdict = ", ".join(f"{'PASS' if ok else 'FAIL'} {name}" for name, ok in s["targets"].items())
        if s["capped"]:
            verdict += " [time cap hit]"
        if s["problems"]:
            verdict += f" [CHECK FAILED: {'; '.join(s['problems'])}]"
        mode = "single/req" if e["mode"] == "single" else e["mode"]
        print(
            f"{e['store']:8} {e['sync']:6} {mode:9} {e['connections']:>4} {_fmt(unit_acks):>9} "
            f"{_fmt(unit_prof):>11} {_fmt(s['ceiling_eps']):>10} {_fmt(s['ratio_profiles'], 2):>9} "
            f"{_fmt(s['ratio_acks'], 2):>9} {_fmt(s['server_cpu_ms_per_1k_events'], 1):>9} "
            f"{_fmt(s['worker_cpu_ms_per_1k_events'], 1):>9} "
            f"{_fmt(s['client_cpu_ms_per_1k_events'], 1):>9}  {verdict}"
        )
    print()
    print("+profiles: until every event is acknowledged AND the pipeline backlog is 0.")
    print("ours/ceil: +profiles ÷ a bare executemany of the same rows, same batch size, same store kind.")
    print("single/req: one event per POST /v1/track; figures are requests/s.")
    print(f"for scale: RudderStack publishes about {RUDDERSTACK_2_CORES:,} events/s on 2 cores.")


def _git() -> dict[str, Any]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": run("git", "rev-parse", "HEAD"),
        "dirty": bool(run("git", "status", "--porcelain", "src")),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--sqlite-sync", default=None, help="FULL, NORMAL or FULL,NORMAL (default: both)")
    p.add_argument("--modes", default="batch,single", help="batch (every --batch-sizes), batchN, single")
    p.add_argument("--batch-sizes", default="20,100")
    p.add_argument("--events", type=int, default=60_000, help="events per batched measurement")
    p.add_argument("--single", type=int, default=10_000, help="requests per single-event measurement")
    p.add_argument("--connections", type=int, default=8, help="connections for batches")
    p.add_argument("--single-connections", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--time-cap", type=float, default=180.0, help="seconds per measurement")
    p.add_argument("--people", type=int, default=3000)
    p.add_argument(
        "--no-pg-analyze",
        dest="pg_analyze",
        action="store_false",
        help="do not ANALYZE the PostgreSQL tables after the warm-up (matters when autovacuum is off)",
    )
    p.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="start the server with sys.setswitchinterval(S) (default: Python's 0.005)",
    )
    p.add_argument("--client", choices=CLIENTS, default="asyncio")
    p.add_argument(
        "--py-spy",
        choices=("flamegraph", "speedscope", "raw"),
        default=None,
        help="record the server with py-spy during each run, into benchmarks/results/",
    )
    p.add_argument("--quick", action="store_true", help="a smoke run: few events, one repeat, FULL only")
    p.add_argument("--no-json", action="store_true", help="do not write benchmarks/results/*.json")
    args = p.parse_args(argv)
    if args.quick:
        args.events, args.single, args.repeats = min(args.events, 4_000), min(args.single, 1_000), 1
        args.time_cap = min(args.time_cap, 30.0)
        args.sqlite_sync = args.sqlite_sync or "FULL"
    args.sqlite_sync = [s.strip().upper() for s in (args.sqlite_sync or "FULL,NORMAL").split(",")]
    if any(s not in ("FULL", "NORMAL") for s in args.sqlite_sync):
        p.error("--sqlite-sync takes FULL and/or NORMAL")
    args.batch_sizes = [int(x) for x in args.batch_sizes.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    if "postgres" in stores and (problem := pg_reachable()):
        print(f"PostgreSQL unreachable ({problem}); skipping it")
        if args.store == "postgres":
            return 2
        stores.remove("postgres")
    pg = pg_settings() if "postgres" in stores else {}
    if pg:
        print(
            f"PostgreSQL {pg['server_version']}: autovacuum={pg['autovacuum']}, "
            f"synchronous_commit={pg['synchronous_commit']}, fsync={pg['fsync']}; "
            f"tables ANALYZEd after the warm-up: {'yes' if args.pg_analyze else 'no'}"
        )
    modes = _modes(args.modes, args.batch_sizes)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    print(f"generating {args.events:,} shop events for {args.people:,} people...", flush=True)
    events = shop_events(args.events, people=args.people)
    tracks = shop_events(int(args.single / 0.55) + 100, people=args.people, seed=11, prefix="s")
    singles = single_bodies(tracks)[: args.single]
    entries: list[dict[str, Any]] = []
    for kind in stores:
        for sync in args.sqlite_sync if kind == "sqlite" else ["—"]:
            for mode, size in modes:
                if mode == "single":
                    bodies, per_request, rows = singles, [1] * len(singles), None
                    warm = single_bodies(shop_events(400, people=args.people, seed=99, prefix="w"))
                    warm = warm[: 2 * args.single_connections]
                else:
                    bodies = batch_bodies(events, size)
                    per_request = [min(size, len(events) - i) for i in range(0, len(events), size)]
                    batches = [events[i : i + size] for i in range(0, len(events), size)]
                    rows = ceiling_rows(batches)
                    warm_events = shop_events(
                        2 * args.connections * size, people=args.people, seed=99, prefix="w"
                    )
                    warm = batch_bodies(warm_events, size)
                entry: dict[str, Any] = {
                    "store": kind,
                    "sync": sync,
                    "mode": mode,
                    "batch_size": size,
                    "repeats": args.repeats,
                    "connections": args.single_connections if mode == "single" else args.connections,
                    "runs": [],
                }
                for repeat in range(args.repeats):
                    label = f"{kind} {sync} {mode} run {repeat + 1}/{args.repeats}"
                    print(f"  {label}...", end="", flush=True)
                    suffix = {"flamegraph": ".svg", "speedscope": ".json", "raw": ".txt"}.get(
                        args.py_spy or ""
                    )
                    spy_out = (
                        RESULTS / f"pyspy-{stamp}-{kind}-{sync}-{mode}-{repeat + 1}{suffix}"
                        if suffix
                        else None
                    )
                    if spy_out:
                        RESULTS.mkdir(exist_ok=True)
                    run = measure_server(
                        kind, "FULL" if sync == "—" else sync, mode, bodies, per_request, warm, args, spy_out
                    )
                    if rows is not None:
                        run["ceiling_eps"] = measure_ceiling(kind, "FULL" if sync == "—" else sync, rows)
                    entry["runs"].append(run)
                    unit = "req/s" if mode == "single" else "ev/s"
                    value = run["acks_rps"] if mode == "single" else run["acks_eps"]
                    value_p = run["profiles_rps"] if mode == "single" else run["profiles_eps"]
                    ceiling = f", ceiling {run['ceiling_eps']:,.0f} ev/s" if run.get("ceiling_eps") else ""
                    flag = f" PROBLEMS: {run['problems']}" if run["problems"] else ""
                    w = run.get("writer") or {}
                    commits = (
                        f" [commits: {w.get('requests_per_group')} req, {w.get('events_per_group')} ev,"
                        f" lock wait {w.get('lock_wait_ms_per_group')} ms,"
                        f" write {w.get('write_ms_per_group')} ms]"
                        if w
                        else ""
                    )
                    print(
                        f" acks {value:,.0f} {unit}, +profiles {value_p:,.0f} {unit}{ceiling}{flag}{commits}",
                        flush=True,
                    )
                entry["summary"] = summarize(entry)
                entries.append(entry)
    print_table(entries, args.client)
    if args.switch_interval is not None:
        print(f"server started with sys.setswitchinterval({args.switch_interval}) (Python's default: 0.005)")
    if not args.no_json:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"ingest-{stamp}.json"
        out.write_text(
            json.dumps(
                {
                    "benchmark": "ingest",
                    "started": started.isoformat(),
                    "machine": {
                        "cpus": os.cpu_count(),
                        "platform": platform.platform(),
                        "python": platform.python_version(),
                    },
                    "git": _git(),
                    "postgres": pg,
                    "options": vars(args),
                    "targets": {
                        "batch_eps_sqlite": TARGET_BATCH_EPS_SQLITE,
                        "ratio": TARGET_RATIO,
                        "single_rps": TARGET_SINGLE_RPS,
                    },
                    "results": entries,
                },
                indent=2,
                default=str,
            )
        )
        print(f"wrote {out.relative_to(HERE.parent)}")
    return 1 if any(e["summary"]["problems"] for e in entries) else 0


if __name__ == "__main__":
    sys.exit(main())
