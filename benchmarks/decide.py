"""``POST /v1/decide`` next to the same server's empty endpoint, then bandit regret on the
demo simulator (issue #4, point 9).

**HTTP.** Loads the demo shop (3,000 people, 2,000 items by default) into a fresh SQLite
store, trains the model, runs ``surmesure apply`` (the CLI, in a subprocess) on a YAML
with a segment and a placement ``bench-hero`` whose four variants are static content, a
template, a recommendation strategy and a segment-targeted variant, under a running A/B/n
experiment over three of them with a 10% holdout; starts ``python -m surmesure.cli
serve`` on a free port and measures, alternating, ``--rounds`` times ``--seconds`` each
at ``--connections`` keep-alive connections (the client of ``recommend_http.py``):

* ``GET /healthz``;
* ``POST /v1/decide`` with the secret key, for a random person: a known user (by
  ``user_id``) or an anonymous visitor (a random ``anonymous_id``, half of the requests).

Prints req/s, p50 and p99 per round and their medians, the ratio decide / healthz, and
the server process's CPU milliseconds per request (user + system, from ``/proc``): on a
shared machine req/s moves with everyone else's load, CPU per request much less.

**Regret.** Visitors are demo people (``surmesure.demo.generator``, drawn in proportion to
their latent visit rate) deciding on a banner placement with one variant per promoted
root category (Women, Shoes, Electronics) and a generic one. A visitor clicks a
category banner with probability ``0.02 + 0.10 [their top leaf is in the root] + 0.04
[their second or third is]`` and the generic banner with 0.03: the click model is this
documented one, built on the generator's latent ``top_categories``. Bernoulli Thompson
sampling (``kind: thompson``, floor 0.02) runs through the real ``Decisions.decide`` in
process (no HTTP; every decision is logged to the store as in production); the
benchmark stands in for the service's minute refresh by adding each batch of
``--batch`` visitors' clicks to the service's posterior. Expected cumulative regret is
measured against the best fixed banner (the oracle a non-contextual bandit competes
with), next to uniform allocation; the per-person oracle's gap is printed too. Medians
over ``--seeds``.

    python benchmarks/decide.py [--people 3000] [--connections 16] [--horizon 20000]
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
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stores import SECRET_KEY, server_env
from recommend_http import Measure, _serve, drive, measure, prepare_store

DEFINITIONS = """
segments:
  bench-buyers:
    condition: {count: {event: Order Completed, within_days: 90}, gte: 1}
placements:
  bench-hero:
    channel: web
    slot: hero
    variants:
      - id: buyers
        priority: 10
        when: {segment: bench-buyers}
        content: {headline: Thanks for your orders}
      - id: static
        content: {headline: New season, image: /static/img/hero.svg}
      - id: hello
        template: "Hello {{ profile.traits.name | default('there') }}"
      - id: picks
        recommend: {context: home, k: 4}
    fallback: static
experiments:
  bench-hero-ab:
    placement: bench-hero
    arms:
      - {name: static, variant: static}
      - {name: hello, variant: hello}
      - {name: picks, variant: picks}
    holdout_share: 0.1
"""


# -- HTTP -------------------------------------------------------------------------------------
async def _drive_posts(
    port: int, bodies: list[bytes], connections: int, seconds: float, out: Measure
) -> None:
    head = f"POST /v1/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {SECRET_KEY}\r\n"
    requests = [
        (head + f"Content-Type: application/json\r\nContent-Length: {len(b)}\r\n\r\n").encode() + b
        for b in bodies
    ]
    await drive(port, requests, connections, seconds, out)


def _cpu_seconds(pid: int) -> float:
    """The server process's user + system CPU time (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_ms(pid: int, run: Any) -> tuple[Measure, float]:
    """Run a measurement; its result and the server's CPU milliseconds per request
    (what the machine's other load does not change, unlike req/s)."""
    before = _cpu_seconds(pid)
    m = run()
    return m, (_cpu_seconds(pid) - before) * 1e3 / max(m.requests, 1)


def measure_decide(port: int, bodies: list[bytes], *, connections: int, seconds: float) -> Measure:
    out = Measure("/v1/decide")
    asyncio.run(_drive_posts(port, bodies, connections, seconds, out))
    if out.errors:
        raise RuntimeError(f"/v1/decide: {out.errors[0]}")
    return out


def _apply(data_dir: Path, url: str, console: Console) -> None:
    path = data_dir / "definitions.yaml"
    path.write_text(DEFINITIONS, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "surmesure.cli", "apply", str(path)],
        env=server_env(url, "NORMAL", data_dir), cwd=data_dir, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"surmesure apply failed: {done.stdout}{done.stderr}")
    console.print(f"surmesure apply: {' '.join(done.stdout.split())}")


def run_http(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="surmesure-decide-") as tmp:
        data_dir = Path(tmp)
        url, users = prepare_store(data_dir, args.people, args.items, console)
        _apply(data_dir, url, console)
        rng = random.Random(0)
        people = rng.sample(users, min(len(users), 500))
        bodies = [orjson.dumps({"placement": "bench-hero", "user_id": u}) for u in people]
        bodies += [
            orjson.dumps(
                {"placement": "bench-hero", "anonymous_id": f"bench-{uuid.UUID(int=rng.getrandbits(128))}"}
            )
            for _ in people
        ]
        process, port = _serve(data_dir, url)
        try:
            kw: dict[str, Any] = {"connections": args.connections}
            sample = _sample_answers(port, bodies[:1] + bodies[-1:])
            console.print(f"a decision for a known person: {sample[0]}")
            console.print(f"for an anonymous visitor: {sample[1]}")
            measure(port, "warm-up", ["/healthz"], seconds=args.warmup, **kw)
            measure_decide(port, bodies, seconds=args.warmup, **kw)
            rounds: list[tuple[Measure, Measure]] = []
            cpu: list[tuple[float, float]] = []
            for n in range(args.rounds):
                pid = process.pid
                health, health_cpu = _cpu_ms(
                    pid, lambda: measure(port, "/healthz", ["/healthz"], seconds=args.seconds, **kw)
                )
                decide, decide_cpu = _cpu_ms(
                    pid, lambda: measure_decide(port, bodies, seconds=args.seconds, **kw)
                )
                rounds.append((health, decide))
                cpu.append((health_cpu, decide_cpu))
                for m, c in ((health, health_cpu), (decide, decide_cpu)):
                    console.print(
                        f"round {n + 1} {m.name:<12} {m.rate:8.0f} req/s  p50 {m.quantile(0.5):6.2f} ms  "
                        f"p99 {m.quantile(0.99):6.2f} ms  server CPU {c:5.2f} ms/req"
                    )
        finally:
            process.terminate()
            process.wait(20)
    figures: dict[str, Any] = {"connections": args.connections, "people": args.people, "items": args.items}
    for i, name in enumerate(("healthz", "decide")):
        figures[name] = {
            "rps": statistics.median(r[i].rate for r in rounds),
            "p50_ms": statistics.median(r[i].quantile(0.5) for r in rounds),
            "p99_ms": statistics.median(r[i].quantile(0.99) for r in rounds),
            "cpu_ms_per_request": statistics.median(c[i] for c in cpu),
        }
    figures["ratio"] = figures["decide"]["rps"] / figures["healthz"]["rps"]
    console.print(f"\n[bold]medians of {args.rounds}[/] at {args.connections} connections:")
    for name in ("healthz", "decide"):
        f = figures[name]
        console.print(
            f"  {name:<10} {f['rps']:8.0f} req/s  p50 {f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms  "
            f"server CPU {f['cpu_ms_per_request']:5.2f} ms/req"
        )
    console.print(f"  ratio decide / healthz: [bold]{figures['ratio']:.2f}[/]")
    return figures


def _sample_answers(port: int, bodies: list[bytes]) -> list[str]:
    import http.client

    out = []
    for body in bodies:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(
            "POST", "/v1/decide", body,
            {"Authorization": f"Bearer {SECRET_KEY}", "Content-Type": "application/json"},
        )  # fmt: skip
        answer = orjson.loads(conn.getresponse().read())
        conn.close()
        out.append(f"variant {answer.get('variant')} ({answer.get('kind')}); {answer.get('reason')}")
    return out


# -- regret -----------------------------------------------------------------------------------
BANNERS = ("Women", "Shoes", "Electronics")  # one banner per promoted root, then a generic one


def click_rates(people: list[Any]) -> np.ndarray:
    """people x arms click probabilities from the latent top categories (see the docstring)."""
    from surmesure.demo._vocab import TREE

    root_of = {leaf: root for root, leaves in TREE.items() for leaf in leaves}
    rates = np.zeros((len(people), len(BANNERS) + 1))
    for p, person in enumerate(people):
        roots = [root_of.get(c) for c in person.top_categories]
        for k, banner in enumerate(BANNERS):
            rates[p, k] = (
                0.02 + (0.10 if roots[:1] == [banner] else 0.0) + (0.04 if banner in roots[1:3] else 0.0)
            )
        rates[p, -1] = 0.03
    return rates


def _placement(name: str) -> dict[str, Any]:
    variants = [{"id": b.lower(), "content": {"headline": f"{b}: new season"}} for b in BANNERS]
    variants.append({"id": "generic", "content": {"headline": "Everything new"}})
    return {"channel": "web", "slot": name, "variants": variants}


def simulate_regret(
    decisions: Any, people: list[Any], rates: np.ndarray, args: argparse.Namespace, seed: int
) -> dict[str, float]:
    from surmesure.recommendations.service import Who

    rng = np.random.default_rng(seed)
    weights = np.array([max(p.visit_rate, 1e-6) for p in people])
    visitors = rng.choice(len(people), size=args.horizon, p=weights / weights.sum())
    best_arm = int(np.argmax(rates.T @ (weights / weights.sum())))
    pid, eid = f"banner-s{seed}", f"banner-ts-s{seed}"
    decisions.put_placement(pid, _placement(pid))
    arms = [{"name": v["id"], "variant": v["id"]} for v in _placement(pid)["variants"]]
    decisions.put_experiment(eid, {"placement": pid, "kind": "thompson", "arms": arms, "floor": 0.02})
    names = [a["name"] for a in arms]
    with decisions.engine.connect() as conn:
        design = decisions.experiments(conn)[eid][0]
    regret_ts = 0.0
    chosen = [0] * len(names)
    pending: list[tuple[int, float]] = []
    started = time.perf_counter()
    for t, v in enumerate(visitors):
        person = people[v]
        who = Who(person.anonymous_ids[0], "anonymous_id")
        answer = decisions.decide(pid, who, {})
        arm = names.index(answer["experiment"]["arm"])
        chosen[arm] += 1
        regret_ts += float(rates[v, best_arm] - rates[v, arm])
        pending.append((arm, float(rng.random() < rates[v, arm])))
        if len(pending) == args.batch or t == len(visitors) - 1:
            # the minute refresh, in simulated time: this batch's clicks reach the posterior
            bandit = decisions.policies.policy(eid, design)
            bandit.update([a for a, _ in pending], [r for _, r in pending])
            decisions.policies.hold(eid, design, bandit)
            pending.clear()
    elapsed = time.perf_counter() - started
    return {
        "ts": regret_ts,
        "uniform": float(np.sum(rates[visitors, best_arm]) - np.sum(rates[visitors].mean(axis=1))),
        "oracle": 0.0,
        "oracle_clicks": float(np.sum(rates[visitors, best_arm])),
        "per_person_gap": float(np.sum(rates[visitors].max(axis=1) - rates[visitors, best_arm])),
        "decide_ms": elapsed / len(visitors) * 1e3,
        "best_arm": best_arm,
        "arm_rates": [float(x) for x in rates[visitors].mean(axis=0)],
        "ts_shares": [c / len(visitors) for c in chosen],
    }


def run_regret(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from surmesure.app import build_services
    from surmesure.config import load_settings
    from surmesure.demo.generator import generate

    shop = generate(people=args.people, items=50, seed=42)
    rates = click_rates(shop.people)
    rows = []
    with tempfile.TemporaryDirectory(prefix="surmesure-regret-") as tmp:
        data_dir = Path(tmp)
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(server_env(f"sqlite:///{data_dir / 'store.db'}", "NORMAL", data_dir))
        try:
            services = build_services(load_settings())
            try:
                for seed in range(args.seeds):
                    rows.append(
                        simulate_regret(services.capabilities["decisions"], shop.people, rates, args, seed)
                    )
                    r = rows[-1]
                    console.print(
                        f"seed {seed}: regret TS {r['ts']:7.1f}  uniform {r['uniform']:7.1f}  "
                        f"({r['decide_ms']:.2f} ms a decision); arm rates "
                        f"{[round(x, 4) for x in r['arm_rates']]}, "
                        f"TS shares {[round(x, 2) for x in r['ts_shares']]}"
                    )
            finally:
                services.close()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    figures = {
        "horizon": args.horizon, "batch": args.batch, "seeds": args.seeds,
        "regret_ts": med("ts"), "regret_uniform": med("uniform"),
        "ts_over_uniform": float(statistics.median(r["ts"] / r["uniform"] for r in rows)),
        "ts_clicks_over_oracle": float(statistics.median(1 - r["ts"] / r["oracle_clicks"] for r in rows)),
        "uniform_clicks_over_oracle": float(
            statistics.median(1 - r["uniform"] / r["oracle_clicks"] for r in rows)
        ),
        "per_person_oracle_gap": med("per_person_gap"), "decide_ms": med("decide_ms"),
    }  # fmt: skip
    console.print(
        f"\n[bold]regret[/] over {args.horizon} visitors (batches of {args.batch}), "
        f"median of {args.seeds} seeds,"
        " against the best fixed banner:"
    )
    console.print(f"  Thompson (decisions service) {figures['regret_ts']:8.1f}")
    console.print(f"  uniform                      {figures['regret_uniform']:8.1f}")
    console.print(
        f"  TS / uniform [bold]{figures['ts_over_uniform']:.2f}[/]; clicks / oracle: TS "
        f"{figures['ts_clicks_over_oracle']:.3f}, uniform {figures['uniform_clicks_over_oracle']:.3f}"
    )
    console.print(
        f"  (a per-person oracle would get {figures['per_person_oracle_gap']:.1f} more clicks than the best"
        " fixed banner: a contextual bandit's headroom)"
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--horizon", type=int, default=20000, help="visitors per regret run")
    parser.add_argument("--batch", type=int, default=200, help="visitors between posterior updates")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", choices=("http", "regret"))
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    console = Console()
    figures: dict[str, Any] = {}
    if args.only != "regret":
        figures["http"] = run_http(args, console)
    if args.only != "http":
        figures["regret"] = run_regret(args, console)
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
