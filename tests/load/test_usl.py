"""The Universal Scalability Law fit recovers known parameters from synthetic curves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from django_pareto.load.usl import UslError, UslFit, fit_usl, plot_usl

NS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]


def usl(n: float, lam: float, sigma: float, kappa: float) -> float:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def points(
    lam: float, sigma: float, kappa: float, noise: float = 0.0, ns: list[int] = NS
) -> list[tuple[float, float]]:
    # Deterministic "noise": alternating +/- noise, no random generator involved.
    return [
        (float(n), usl(n, lam, sigma, kappa) * (1 + (noise if i % 2 else -noise)))
        for i, n in enumerate(ns)
    ]


CASES = [
    pytest.param(100.0, 0.05, 0.001, id="contention-and-coherency"),
    pytest.param(250.0, 0.02, 0.0, id="contention-only"),
    pytest.param(40.0, 0.1, 0.02, id="retrograde"),
    pytest.param(500.0, 0.0, 0.0005, id="coherency-only"),
    pytest.param(80.0, 0.0, 0.0, id="linear"),
]


@pytest.mark.parametrize(("lam", "sigma", "kappa"), CASES)
def test_exact_points_give_back_the_parameters(lam: float, sigma: float, kappa: float) -> None:
    fit = fit_usl(points(lam, sigma, kappa))
    assert fit.lambda_ == pytest.approx(lam, rel=1e-4)
    assert fit.sigma == pytest.approx(sigma, abs=1e-5)
    assert fit.kappa == pytest.approx(kappa, abs=1e-7)
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    assert not fit.kappa_fixed
    if kappa > 0:
        expected = math.sqrt((1 - sigma) / kappa)
        assert fit.peak_n == pytest.approx(expected, rel=1e-3)
        assert fit.peak_throughput == pytest.approx(usl(expected, lam, sigma, kappa), rel=1e-3)
    else:
        assert fit.peak_n is None
        assert fit.peak_throughput is None


@pytest.mark.parametrize(("lam", "sigma", "kappa"), CASES)
def test_noisy_points_stay_close(lam: float, sigma: float, kappa: float) -> None:
    fit = fit_usl(points(lam, sigma, kappa, noise=0.02))
    assert fit.lambda_ == pytest.approx(lam, rel=0.05)
    assert fit.sigma == pytest.approx(sigma, abs=0.01)
    assert fit.kappa == pytest.approx(kappa, abs=2e-4)
    assert fit.r2 > 0.98
    # What matters to the user: the curve predicts the true one within the noise.
    for n in NS:
        assert fit.predict(n) == pytest.approx(usl(n, lam, sigma, kappa), rel=0.05)


def test_retrograde_curve_is_blamed_on_coherency() -> None:
    fit = fit_usl(points(40.0, 0.1, 0.02))
    assert fit.peak_n is not None and fit.peak_n < 64
    # The predicted peak is above every measured point's prediction around it.
    assert fit.predict(fit.peak_n) >= fit.predict(fit.peak_n - 1)
    assert fit.predict(fit.peak_n) >= fit.predict(fit.peak_n + 1)
    assert fit.verdict().startswith("Coherency limits scaling")
    assert "N* = 6.7" in fit.verdict()


def test_contention_only_curve_is_blamed_on_contention() -> None:
    fit = fit_usl(points(250.0, 0.02, 0.0))
    verdict = fit.verdict()
    assert verdict.startswith("Contention limits scaling")
    assert "λ/σ = 12,500/s" in verdict
    assert fit.ceiling == pytest.approx(12500, rel=1e-3)


def test_linear_curve_says_so() -> None:
    assert "almost linearly" in fit_usl(points(80.0, 0.0, 0.0)).verdict()


def test_points_without_n_equal_one() -> None:
    fit = fit_usl(points(100.0, 0.05, 0.001, ns=[2, 4, 8, 16, 32]))
    assert fit.lambda_ == pytest.approx(100.0, rel=1e-4)
    assert fit.peak_n == pytest.approx(math.sqrt(0.95 / 0.001), rel=1e-3)


def test_two_points_fit_lambda_and_sigma_only() -> None:
    data = [(1.0, 100.0), (4.0, usl(4, 100.0, 0.1, 0.0))]
    fit = fit_usl(data)
    assert fit.kappa_fixed
    assert fit.kappa == 0.0
    assert fit.lambda_ == pytest.approx(100.0, rel=1e-6)
    assert fit.sigma == pytest.approx(0.1, rel=1e-6)
    assert fit.peak_n is None
    assert any("κ held at 0" in note for note in fit.notes)
    assert "two points cannot show a peak" in fit.verdict()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "at least 2 measured points"),
        ([(1.0, 100.0)], "at least 2 measured points"),
        ([(4.0, 100.0), (4.0, 110.0)], "2 different N"),
        ([(0.0, 100.0), (2.0, 150.0)], "positive"),
        ([(1.0, 100.0), (2.0, -1.0)], "positive"),
    ],
)
def test_unfittable_points_are_refused(data: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(UslError, match=message):
        fit_usl(data)


def test_sigma_of_one_or_more_peaks_at_one() -> None:
    fit = UslFit(lambda_=100.0, sigma=1.5, kappa=0.0, r2=1.0, points=3, max_n=8)
    assert fit.peak_n == 1.0


def test_json_is_plain_data() -> None:
    fit = fit_usl(points(100.0, 0.05, 0.001))
    data = json.loads(json.dumps(fit.to_json()))
    assert data["peak_n"] == pytest.approx(fit.peak_n)
    assert data["verdict"] == fit.verdict()


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_plot_is_written(tmp_path: Path, suffix: str) -> None:
    data = points(40.0, 0.1, 0.02, noise=0.02)
    path = plot_usl(fit_usl(data), data, tmp_path / f"usl{suffix}")
    assert path.is_file()
    assert path.stat().st_size > 1000
    if suffix == ".svg":
        assert "<svg" in path.read_text()
    else:
        assert path.read_bytes().startswith(b"\x89PNG")


def test_plot_without_peak(tmp_path: Path) -> None:
    data = points(250.0, 0.02, 0.0)
    assert plot_usl(fit_usl(data), data, tmp_path / "flat.svg").stat().st_size > 1000


def test_plot_refuses_other_formats(tmp_path: Path) -> None:
    data = points(250.0, 0.02, 0.0)
    with pytest.raises(UslError, match="svg"):
        plot_usl(fit_usl(data), data, tmp_path / "usl.jpg")
