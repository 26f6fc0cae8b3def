"""Off-policy evaluation on the Open Bandit Dataset against obp, and bandit regret
(issue #4, points 5 and 9).

    .venv/bin/python benchmarks/ope.py                 # ours only (obp not installed)
    /path/to/venv-with-obp/bin/python benchmarks/ope.py --runs 10
    .venv/bin/python benchmarks/ope.py --only regret

**OPE.** As obp's own example (``examples/obd/evaluate_off_policy_estimators.py``, and
its quickstart): the logs of the uniform-random policy in the "all" campaign are used to
estimate the value of the Bernoulli Thompson sampling policy that ran beside it; the
ground truth is that policy's on-policy value, the mean click of the "bts" logs.

* ``obp``: obp's ``InverseProbabilityWeighting``, ``SelfNormalizedInverseProbabilityWeighting``,
  ``DirectMethod`` and ``DoublyRobust`` with obp's ``RegressionModel`` (logistic
  regression on context and item features, 3-fold cross-fitting, as in its quickstart);
* ``ours | obp's model``: our estimators on the same logs, ``action_dist`` and reward
  model — the largest absolute difference to obp checks the formulas;
* ``ours``: our estimators with our own cross-fitted reward model (``fit_reward_model``
  with the item features: a logistic regression per slot on user and item features, as
  obp's, but our folds); ``ours/item``: one logistic regression per item and slot,
  shrunk to the slot's click rate where an item has too few clicks.

The first table is the logs as they are (obp's quickstart); the second, medians over
``--runs`` bootstrap resamples (obp's example).

The evaluation policy is obp's ``BernoulliTS`` with the ZOZOTOWN prior (100,000 Monte-Carlo
draws) when obp is importable; without obp, the empirical (item, slot) frequencies of the
bts logs stand in for it (``--policy empirical``), and only our figures are printed.

obp 0.4.1 imports torch and seaborn, and its dataset loader does not run on pandas 3, so
the logs are read here with the csv module into the same arrays obp's
``OpenBanditDataset`` builds. To get obp beside our numpy and scikit-learn::

    python -m venv venv-obp
    venv-obp/bin/pip install --no-deps obp seaborn torch   # torch: a CPU wheel is enough
    echo "$PWD/.venv/lib/python3.11/site-packages" > venv-obp/lib/python3.11/site-packages/main.pth
    echo "$PWD/src" >> venv-obp/lib/python3.11/site-packages/main.pth

**Regret.** A simulated placement with known click rates: Bernoulli Thompson sampling
(probabilities recomputed after every batch of feedback, as a live placement would be)
against uniform allocation and the oracle that always shows the best variant; prints the
median cumulative (expected) regret over seeds and the ratio TS / uniform. Then a
contextual one: three kinds of people who each prefer another variant; linear Thompson
sampling on the person's features against context-free Thompson sampling and uniform
allocation, regret measured against the per-person oracle.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from surmesure.experiments.bandits import BernoulliThompson, LinearThompson, bound_probabilities
from surmesure.experiments.ope import LoggedFeedback, estimate_all, fit_reward_model, relative_error

HERE = Path(__file__).resolve().parent
DEFAULT_OBD = HERE.parent.parent / "shared" / "datasets" / "open-bandit-dataset-small"
ESTIMATORS = ("ipw", "snipw", "dm", "dr")
SEED = 12345


def _codes(values: list[str]) -> np.ndarray:
    """Label-encode strings as their rank among the sorted distinct values (LabelEncoder)."""
    uniq = sorted(set(values))
    index = {v: i for i, v in enumerate(uniq)}
    return np.array([index[v] for v in values])


def load_obd(root: Path, policy: str, campaign: str) -> dict[str, Any]:
    """One (policy, campaign) file as obp's ``obtain_batch_bandit_feedback`` arrays."""
    folder = root / policy / campaign
    with (folder / f"{campaign}.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows.sort(key=lambda r: r["timestamp"])
    user_cols = [c for c in rows[0] if c.startswith("user_feature")]
    blocks = []
    for col in user_cols:  # one-hot, first category dropped (pandas get_dummies(drop_first))
        values = [r[col] for r in rows]
        cats = sorted(set(values))[1:]
        blocks.append(np.array([[v == c for c in cats] for v in values], dtype=float))
    positions = np.array([int(r["position"]) for r in rows])
    with (folder / "item_context.csv").open(newline="") as f:
        items = sorted(csv.DictReader(f), key=lambda r: int(r["item_id"]))
    item_cols = [c for c in items[0] if c.startswith("item_feature") and c != "item_feature_0"]
    action_context = np.column_stack(
        [_codes([it[c] for it in items]) for c in item_cols] + [[float(it["item_feature_0"]) for it in items]]
    )
    return {
        "n_rounds": len(rows),
        "n_actions": len(items),
        "action": np.array([int(r["item_id"]) for r in rows]),
        "position": np.searchsorted(np.unique(positions), positions),
        "reward": np.array([float(r["click"]) for r in rows]),
        "pscore": np.array([float(r["propensity_score"]) for r in rows]),
        "context": np.hstack(blocks),
        "action_context": action_context.astype(float),
    }


def _bootstrap(feedback: dict[str, Any], seed: int) -> dict[str, Any]:
    out = dict(feedback)
    idx = np.random.default_rng(seed).choice(feedback["n_rounds"], feedback["n_rounds"], replace=True)
    for key in ("action", "position", "reward", "pscore", "context"):
        out[key] = feedback[key][idx]
    return out


def _empirical_policy(bts: dict[str, Any], len_list: int) -> np.ndarray:
    counts = np.zeros((bts["n_actions"], len_list))
    np.add.at(counts, (bts["action"], bts["position"]), 1.0)
    return counts / counts.sum(axis=0, keepdims=True)


def run_ope(root: Path, campaign: str, runs: int, policy: str) -> None:
    random_logs = load_obd(root, "random", campaign)
    bts_logs = load_obd(root, "bts", campaign)
    truth = float(bts_logs["reward"].mean())
    n, n_actions, len_list = random_logs["n_rounds"], random_logs["n_actions"], 3
    try:
        from obp.ope import (
            DirectMethod,
            DoublyRobust,
            InverseProbabilityWeighting,
            OffPolicyEvaluation,
            RegressionModel,
            SelfNormalizedInverseProbabilityWeighting,
        )
        from obp.policy import BernoulliTS
        from sklearn.linear_model import LogisticRegression

        have_obp = True
    except ImportError as exc:
        have_obp = False
        print(f"obp is not importable ({exc}); printing our estimates only", file=sys.stderr)
    if policy == "bts" and not have_obp:
        policy = "empirical"
    t0 = time.perf_counter()
    if policy == "bts":
        bts_policy = BernoulliTS(
            n_actions=n_actions,
            len_list=len_list,
            is_zozotown_prior=True,
            campaign=campaign,
            random_state=SEED,
        )
        dist = bts_policy.compute_batch_action_dist(n_sim=100_000, n_rounds=1)[0]
    else:
        dist = _empirical_policy(bts_logs, len_list)
    action_dist = np.broadcast_to(dist, (n, n_actions, len_list))
    print(
        f"OPE: random/{campaign} logs ({n:,} rounds, {n_actions} items, {len_list} slots) -> "
        f"evaluation policy {policy!r} ({time.perf_counter() - t0:.1f} s); "
        f"on-policy value of bts/{campaign}: {truth:.5f}; {runs} bootstrap runs"
    )
    logged: dict[str, list[float]] = {}
    est: dict[str, list[float]] = {}
    for run in range(runs + 1):  # run 0: the logs as they are (obp's quickstart); then bootstraps
        fb_dict = random_logs if run == 0 else _bootstrap(random_logs, run)
        out = logged if run == 0 else est
        fb = LoggedFeedback.of(
            fb_dict["context"],
            fb_dict["action"],
            fb_dict["reward"],
            fb_dict["pscore"],
            action_dist,
            fb_dict["position"],
        )
        q_ours = fit_reward_model(fb, n_folds=3, c=100.0, seed=run, action_context=fb_dict["action_context"])
        ours = estimate_all(fb, q_ours)
        per_item = estimate_all(fb, fit_reward_model(fb, n_folds=3, seed=run))
        for name in ESTIMATORS:
            out.setdefault(f"ours:{name}", []).append(ours[name])
            out.setdefault(f"item:{name}", []).append(per_item[name])
        if not have_obp:
            continue
        model = RegressionModel(
            n_actions=n_actions,
            len_list=len_list,
            action_context=fb_dict["action_context"],
            base_model=LogisticRegression(max_iter=1000, C=100, random_state=SEED),
        )
        q_obp = model.fit_predict(
            context=fb_dict["context"],
            action=fb_dict["action"],
            reward=fb_dict["reward"],
            position=fb_dict["position"],
            n_folds=3,
            random_state=SEED,
        )
        feedback = {**fb_dict, "action_dist": np.asarray(action_dist)}
        ope = OffPolicyEvaluation(
            bandit_feedback=feedback,
            ope_estimators=[
                InverseProbabilityWeighting(),
                SelfNormalizedInverseProbabilityWeighting(),
                DirectMethod(),
                DoublyRobust(),
            ],
        )
        theirs = ope.estimate_policy_values(
            action_dist=np.asarray(action_dist), estimated_rewards_by_reg_model=q_obp
        )
        same_model = estimate_all(fb, q_obp)
        for name in ESTIMATORS:
            out.setdefault(f"obp:{name}", []).append(float(theirs[name]))
            out.setdefault(f"same:{name}", []).append(same_model[name])
    print("\nThe logs as they are (obp's quickstart):")
    _print_ope(logged, truth, have_obp)
    if runs:
        print(f"\nMedians of {runs} bootstrap resamples of the logs (obp's example):")
        _print_ope(est, truth, have_obp)


def _print_ope(est: dict[str, list[float]], truth: float, have_obp: bool) -> None:
    def med(key: str) -> float:
        return float(np.median(est[key]))

    def rel(key: str) -> float:
        return float(np.median([relative_error(v, truth) for v in est[key]]))

    if have_obp:
        print(
            f"{'estimator':<10}{'obp':>11}{'ours|obp q':>11}{'max |diff|':>11}{'ours':>11}{'ours/item':>11}"
            f"{'rel-ee obp':>11}{'ours':>9}{'ours/item':>10}"
        )
        for name in ESTIMATORS:
            diff = max(abs(a - b) for a, b in zip(est[f"obp:{name}"], est[f"same:{name}"], strict=True))
            print(
                f"{name:<10}{med(f'obp:{name}'):>11.6f}{med(f'same:{name}'):>11.6f}{diff:>11.1e}"
                f"{med(f'ours:{name}'):>11.6f}{med(f'item:{name}'):>11.6f}"
                f"{rel(f'obp:{name}'):>11.3f}{rel(f'ours:{name}'):>9.3f}{rel(f'item:{name}'):>10.3f}"
            )
    else:
        print(f"{'estimator':<10}{'ours':>11}{'ours/item':>11}{'rel-ee ours':>12}{'ours/item':>10}")
        for name in ESTIMATORS:
            print(
                f"{name:<10}{med(f'ours:{name}'):>11.6f}{med(f'item:{name}'):>11.6f}"
                f"{rel(f'ours:{name}'):>12.3f}{rel(f'item:{name}'):>10.3f}"
            )
    print(
        "ours: pooled logistic model on user and item features (C=100, 3 folds); ours/item: one model"
        " per item and slot; rel-ee = |estimate - on-policy value| / on-policy value"
    )


def simulate_regret(
    rates: np.ndarray, horizon: int, batch: int, seed: int, floor: float = 0.0
) -> dict[str, float]:
    """Expected cumulative regret of TS (batch updates), uniform allocation and the oracle."""
    rng = np.random.default_rng(seed)
    k, best = rates.size, float(rates.max())
    ts = BernoulliThompson(k, floor=floor, n_draws=2_000, seed=seed)
    regret_ts = 0.0
    for _ in range(horizon // batch):
        q = bound_probabilities(ts.probabilities(), floor, 1.0)
        arms = rng.choice(k, size=batch, p=q)
        clicks = rng.random(batch) < rates[arms]
        ts.update(arms, clicks.astype(float))
        regret_ts += float(np.sum(best - rates[arms]))
    arms_uniform = rng.integers(0, k, size=horizon)
    regret_uniform = float(np.sum(best - rates[arms_uniform]))
    return {"ts": regret_ts, "uniform": regret_uniform, "oracle": 0.0}


def run_regret(seeds: int, horizon: int, batch: int) -> None:
    rates = np.array([0.040, 0.045, 0.050, 0.055, 0.065])  # hero-banner variants of the demo shop
    rows = [simulate_regret(rates, horizon, batch, seed) for seed in range(seeds)]
    bounded = [simulate_regret(rates, horizon, batch, seed, floor=0.02) for seed in range(seeds)]

    def med(xs: list[dict[str, float]], key: str) -> float:
        return float(np.median([r[key] for r in xs]))

    print()
    print(
        f"Regret: {rates.size} variants, click rates {rates.tolist()}, {horizon:,} decisions, "
        f"TS updated every {batch}, median of {seeds} seeds"
    )
    print(f"{'policy':<24}{'cum. regret':>12}{'/ uniform':>12}{'clicks / oracle':>17}")
    oracle_clicks = horizon * float(rates.max())
    for label, xs, key in (
        ("oracle", rows, "oracle"),
        ("thompson", rows, "ts"),
        ("thompson, floor 2%", bounded, "ts"),
        ("uniform", rows, "uniform"),
    ):
        r = med(xs, key)
        share = (oracle_clicks - r) / oracle_clicks
        print(f"{label:<24}{r:>12.1f}{r / med(rows, 'uniform'):>12.3f}{share:>17.3f}")


def simulate_contextual(rates: np.ndarray, horizon: int, batch: int, seed: int) -> dict[str, float]:
    """Regret against the per-person oracle when each kind of person prefers another variant.

    ``rates[g, a]`` is the click rate of variant ``a`` for people of kind ``g``; the
    features are the kind's one-hot vector (as a profile's segment or persona would be).
    """
    rng = np.random.default_rng(seed)
    kinds, k = rates.shape
    best = rates.max(axis=1)
    people = rng.integers(0, kinds, size=horizon)
    features = np.eye(kinds)[people]
    lin = LinearThompson(k, kinds, v=0.05, n_draws=500, seed=seed)
    ts = BernoulliThompson(k, n_draws=2_000, seed=seed)
    regret = {"linear-ts": 0.0, "thompson": 0.0, "uniform": 0.0}
    for start in range(0, horizon, batch):
        rows = np.arange(start, min(start + batch, horizon))
        lin_arms = np.array([lin.decide(features[i]).arm for i in rows])
        ts_arms = rng.choice(k, size=rows.size, p=ts.probabilities())
        for name, arms in (("linear-ts", lin_arms), ("thompson", ts_arms)):
            regret[name] += float(np.sum(best[people[rows]] - rates[people[rows], arms]))
        lin.update(
            lin_arms, features[rows], (rng.random(rows.size) < rates[people[rows], lin_arms]).astype(float)
        )
        ts.update(ts_arms, (rng.random(rows.size) < rates[people[rows], ts_arms]).astype(float))
        uniform = rng.integers(0, k, size=rows.size)
        regret["uniform"] += float(np.sum(best[people[rows]] - rates[people[rows], uniform]))
    return regret


def run_contextual(seeds: int, horizon: int, batch: int) -> None:
    # three kinds of people, three variants, each kind prefers another one
    rates = np.array([[0.08, 0.04, 0.03], [0.03, 0.07, 0.04], [0.04, 0.03, 0.06]])
    rows = [simulate_contextual(rates, horizon, batch, seed) for seed in range(seeds)]
    uniform = float(np.median([r["uniform"] for r in rows]))
    print()
    print(
        f"Contextual: 3 kinds of people x 3 variants (each kind prefers another), {horizon:,} decisions, "
        f"updates every {batch}, median of {seeds} seeds; regret against the per-person oracle"
    )
    print(f"{'policy':<24}{'cum. regret':>12}{'/ uniform':>12}")
    for name in ("linear-ts", "thompson", "uniform"):
        r = float(np.median([row[name] for row in rows]))
        print(f"{name:<24}{r:>12.1f}{r / uniform:>12.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--obd", type=Path, default=Path(os.environ.get("SURMESURE_OBD", DEFAULT_OBD)))
    parser.add_argument("--campaign", default="all", choices=("all", "men", "women"))
    parser.add_argument("--policy", default="bts", choices=("bts", "empirical"))
    parser.add_argument("--runs", type=int, default=5, help="bootstrap resamples of the logs")
    parser.add_argument("--seeds", type=int, default=11, help="seeds of the regret simulation")
    parser.add_argument("--horizon", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--only", choices=("ope", "regret"))
    args = parser.parse_args(argv)
    if args.only != "regret":
        run_ope(args.obd, args.campaign, args.runs, args.policy)
    if args.only != "ope":
        run_regret(args.seeds, args.horizon, args.batch)
        run_contextual(args.seeds, args.horizon // 2, args.batch)


if __name__ == "__main__":
    main()
