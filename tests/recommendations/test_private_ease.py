"""Differentially private EASE (issue #5, point 6): the noise's scale follows epsilon
and the sensitivity (checked statistically, seeded), contributions are bounded, the
noise is symmetric, and epsilon = inf without bounding is exactly the non-private EASE."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from recshop import load
from scipy.sparse import csr_matrix
from scipy.sparse import random as sparse_random

from surmesure.recommendations import artifacts
from surmesure.recommendations.algorithms import EASE, load_model
from surmesure.recommendations.algorithms.private import (
    PrivateEASE,
    bound_contributions,
    gaussian_sigma,
    noise_scale,
    noisy_gram,
)
from surmesure.recommendations.training import train

from conftest import SECRET_KEY, LiveServer, make_settings


def _data(seed: int = 3, people: int = 400, items: int = 60) -> csr_matrix:
    m = sparse_random(people, items, density=0.15, random_state=seed, format="csr", dtype=np.float32)
    m.data = np.ceil(m.data * 5).astype(np.float32)  # weights 1-5: made binary by the model
    return csr_matrix(m)


def test_laplace_noise_has_scale_sensitivity_over_epsilon() -> None:
    c = 4
    cells = c * (c + 1) / 2  # the upper triangle, diagonal included, of one person's x xᵀ
    x = csr_matrix((10, 300), dtype=np.float32)  # nobody: the released matrix is the noise
    for epsilon in (0.5, 2.0):
        b = noise_scale(epsilon, 1e-6, "laplace", c)
        assert b == pytest.approx(cells / epsilon)
        noise = noisy_gram(x, b, "laplace", np.random.default_rng(42))
        upper = noise[np.triu_indices(300)]
        # Laplace(b): E|X| = b, Var X = 2 b²; 45,150 draws, so a few percent at most
        assert np.mean(np.abs(upper)) == pytest.approx(b, rel=0.03)
        assert np.std(upper) == pytest.approx(math.sqrt(2) * b, rel=0.03)
        assert abs(np.mean(upper)) < 0.05 * b
        assert np.array_equal(noise, noise.T)


def test_gaussian_noise_follows_the_analytic_calibration() -> None:
    c, delta = 4, 1e-6
    sens = math.sqrt(c * (c + 1) / 2)
    sigma1 = noise_scale(1.0, delta, "gaussian", c)
    sigma4 = noise_scale(4.0, delta, "gaussian", c)
    assert sigma1 == pytest.approx(gaussian_sigma(1.0, delta, sens))
    # the classic bound sqrt(2 ln(1.25/δ)) Δ/ε is valid (and loose) at ε <= 1
    assert sigma1 < math.sqrt(2 * math.log(1.25 / delta)) * sens
    assert sigma4 < sigma1 / 2.5  # more budget, less noise
    # at the calibrated sigma the privacy loss is exactly delta (Balle & Wang, Thm 8)
    phi = lambda t: 0.5 * math.erfc(-t / math.sqrt(2))  # noqa: E731
    a, b = sens / (2 * sigma1), 1.0 * sigma1 / sens
    assert phi(a - b) - math.e * phi(-a - b) == pytest.approx(delta, rel=1e-3)
    noise = noisy_gram(csr_matrix((5, 300), dtype=np.float32), sigma1, "gaussian", np.random.default_rng(7))
    assert np.std(noise[np.triu_indices(300)]) == pytest.approx(sigma1, rel=0.02)


def test_a_fitted_model_reports_its_noise_and_infinity_adds_none() -> None:
    x = _data()
    model = PrivateEASE(epsilon=2.0, mechanism="laplace", max_items_per_person=5).fit(x)
    assert model.noise_scale_ == pytest.approx(15 / 2.0)
    assert PrivateEASE(epsilon=math.inf, max_items_per_person=5).fit(x).noise_scale_ == 0.0
    with pytest.raises(ValueError, match="max_items_per_person"):
        PrivateEASE(epsilon=1.0, max_items_per_person=None).fit(x)


def test_contributions_are_bounded_per_person() -> None:
    x = _data()
    bounded = bound_contributions(x, 3, np.random.default_rng(0))
    assert np.diff(bounded.indptr).max() <= 3
    kept = bounded.multiply(x)  # only items the person had
    assert kept.nnz == bounded.nnz


def test_epsilon_inf_without_bounding_is_the_non_private_model() -> None:
    x = _data()
    private = PrivateEASE(epsilon=math.inf, max_items_per_person=None, lambda_=50.0, max_items=40).fit(x)
    plain = EASE(lambda_=50.0, weighting="binary", max_items=40).fit(x)
    assert np.array_equal(private.items_, plain.items_)
    assert np.array_equal(private.B_, plain.B_)
    ids_p, _ = private.recommend(np.arange(20), x[:20], N=10)
    ids_e, _ = plain.recommend(np.arange(20), x[:20], N=10)
    assert np.array_equal(ids_p, ids_e)


def test_noise_changes_the_model_and_more_budget_stays_closer() -> None:
    x = _data(people=2000)
    plain = PrivateEASE(epsilon=math.inf, max_items_per_person=8, noise_regularization=False).fit(x).B_
    far = PrivateEASE(epsilon=0.5, max_items_per_person=8, noise_regularization=False).fit(x).B_
    near = PrivateEASE(epsilon=50.0, max_items_per_person=8, noise_regularization=False).fit(x).B_
    assert np.linalg.norm(near - plain) < np.linalg.norm(far - plain)
    assert not np.array_equal(near, plain)


def test_training_in_dp_mode_serves_a_private_model(tmp_path: Path, sqlite_url: str) -> None:
    """``recommendations.privacy.mode = "dp"``: the trained hybrid's EASE part is private,
    the manifest says so, it is saved, loaded back and served over HTTP."""
    privacy = {"mode": "dp", "epsilon": 2.0, "max_items_per_person": 6, "seed": 1}
    settings = make_settings(tmp_path / "data", sqlite_url, recommendations={"privacy": privacy})
    with LiveServer(settings) as server, server.client(SECRET_KEY) as admin:
        load(server, admin)
        manifest = train(server.services.engine, settings)
        assert manifest["params"]["privacy"]["mode"] == "dp"
        assert manifest["params"]["privacy"]["epsilon"] == 2.0
        folder = artifacts.models_dir(settings.data_dir) / manifest["version"]
        model = load_model(folder / "model")
        assert isinstance(model.ease_, PrivateEASE)
        assert model.ease_.epsilon == 2.0
        assert model.ease_.noise_scale_ > 0
        server.services.capabilities["recommendations"].reload()
        answer = admin.get("/v1/recommendations", params={"user_id": "u1"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"]
