"""The Universal Scalability Law (Gunther): how throughput grows with concurrency, and why
it stops growing.

    X(N) = λN / (1 + σ(N - 1) + κN(N - 1))

- λ: throughput of one worker (or one user) alone: the ideal slope;
- σ (contention): the share of the work that is serialized: a lock, a hot row, a single
  database, one Redis thread. Throughput approaches λ/σ and stays there;
- κ (coherency): the cost of keeping workers consistent with each other, growing with the
  number of pairs: cache invalidation between processes, lock hand-offs, connections
  fighting over the same rows. With κ > 0 throughput peaks at N* = √((1 - σ)/κ) and
  then falls (retrograde scaling): more workers make it slower.

``fit_usl`` fits λ, σ, κ ≥ 0 to measured (N, throughput) points by bounded nonlinear least
squares; ``plot_usl`` draws the points and the curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Below this κ the coherency term is numerical noise: with N up to a few hundred it adds
# less than 0.01% to the denominator, so no peak is predicted.
KAPPA_NEGLIGIBLE = 1e-9
# Likewise for σ: under 1e-9 of the work serialized is the optimizer's rounding.
SIGMA_NEGLIGIBLE = 1e-9
# A term of the denominator smaller than this at the largest measured N barely bends the
# curve: scaling is called (nearly) linear.
NEGLIGIBLE_PENALTY = 0.05


def _rate(value: float) -> str:
    """12,500 rather than 1.25e+04; small rates keep 3 significant digits."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


class UslError(ValueError):
    """The points cannot be fitted (too few, or not positive)."""


@dataclass
class UslFit:
    """λ, σ, κ fitted to measured points, and what they predict."""

    lambda_: float  # throughput of one (requests/s per worker alone)
    sigma: float  # contention
    kappa: float  # coherency
    r2: float  # share of the throughput's variance the curve explains (1.0 = exact)
    points: int  # how many points were fitted
    max_n: float  # the largest N measured
    kappa_fixed: bool = False  # True when κ was held at 0 (two points only)
    notes: list[str] = field(default_factory=list)

    def predict(self, n: float) -> float:
        """The throughput the law predicts at concurrency ``n``."""
        return self.lambda_ * n / (1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0))

    @property
    def peak_n(self) -> float | None:
        """N* where throughput peaks: √((1 - σ)/κ); 1 when σ ≥ 1 (adding a worker never
        helps); None when κ = 0 (no peak: throughput rises towards λ/σ for ever)."""
        if self.sigma >= 1.0:
            return 1.0
        if self.kappa <= KAPPA_NEGLIGIBLE:
            return None
        return math.sqrt((1.0 - self.sigma) / self.kappa)

    @property
    def peak_throughput(self) -> float | None:
        """X(N*), or None when there is no peak."""
        peak = self.peak_n
        return None if peak is None else self.predict(peak)

    @property
    def ceiling(self) -> float:
        """What throughput approaches with unbounded N when κ = 0: λ/σ (inf if σ = 0)."""
        return self.lambda_ / self.sigma if self.sigma > 0 else math.inf

    def verdict(self) -> str:
        """One sentence: what limits scaling, contention (σ) or coherency (κ)."""
        n = self.max_n
        contention = self.sigma * (n - 1.0)
        coherency = self.kappa * n * (n - 1.0)
        params = f"σ = {self.sigma:.3g}, κ = {self.kappa:.3g}"
        fixed = " (κ held at 0: two points cannot show a peak)" if self.kappa_fixed else ""
        peak = self.peak_n
        if contention < NEGLIGIBLE_PENALTY and coherency < NEGLIGIBLE_PENALTY:
            return (
                f"Throughput scales almost linearly up to N = {n:g} ({params}){fixed}: "
                "no serialization or crosstalk is visible yet; measure at higher N to find "
                "the limit."
            )
        if peak is not None and (coherency >= contention or peak <= n):
            where = (
                f"peaks at N* = {peak:.1f} ({_rate(self.predict(peak))}/s) and falls beyond it"
                if peak > 1.0
                else "falls as soon as N exceeds 1"
            )
            return (
                f"Coherency limits scaling ({params}): throughput {where}; the workers pay "
                "for staying consistent with each other (shared rows or locks handed "
                "between them, cache invalidation, connection churn), a cost that grows "
                "with the number of pairs: more workers past N* make the site slower."
            )
        ceiling = f"λ/σ = {_rate(self.ceiling)}/s" if self.sigma > 0 else "no ceiling"
        peak_text = f"; a small coherency cost makes it peak at N* = {peak:.0f}" if peak else ""
        return (
            f"Contention limits scaling ({params}){fixed}: {self.sigma:.1%} of the work is "
            f"serialized (a lock, a hot row, one database or one cache thread), so "
            f"throughput levels off towards {ceiling}{peak_text}; more workers add "
            "little: shorten the serialized part."
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["peak_n"] = self.peak_n
        data["peak_throughput"] = self.peak_throughput
        data["verdict"] = self.verdict()
        return data


def _usl(n: NDArray[np.float64], lam: float, sigma: float, kappa: float) -> NDArray[np.float64]:
    result: NDArray[np.float64] = lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
    return result


def _initial_guess(n: NDArray[np.float64], x: NDArray[np.float64], fit_kappa: bool) -> list[float]:
    """λ from X(1) when measured (else the best X/N), then σ, κ from the linearized law
    N·λ/X - 1 = σ(N - 1) + κN(N - 1) by nonnegative least squares: a start close enough
    that the nonlinear fit does not wander into a local minimum."""
    from scipy.optimize import nnls

    ones = n == 1.0
    lam = float(np.mean(x[ones])) if ones.any() else float(np.max(x / n))
    y = n * lam / x - 1.0
    columns = [n - 1.0, n * (n - 1.0)] if fit_kappa else [n - 1.0]
    a = np.column_stack(columns)
    coefficients, _ = nnls(a, y)
    sigma = float(coefficients[0])
    kappa = float(coefficients[1]) if fit_kappa else 0.0
    return [lam, sigma, kappa]


def fit_usl(points: Sequence[tuple[float, float]]) -> UslFit:
    """Fit the law to ``(N, throughput)`` points (N > 0: workers or concurrent users).

    λ, σ, κ are bounded to ≥ 0. With two distinct N only λ and σ are fitted (κ = 0). Fewer
    than two distinct N cannot be fitted."""
    from scipy.optimize import least_squares

    if len(points) < 2:
        raise UslError(
            f"the scalability law needs at least 2 measured points (N, throughput); got "
            f"{len(points)}: measure at more worker counts"
        )
    n = np.array([float(p[0]) for p in points], dtype=np.float64)
    x = np.array([float(p[1]) for p in points], dtype=np.float64)
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(x))):
        raise UslError("points must be finite numbers")
    if np.any(n <= 0) or np.any(x <= 0):
        raise UslError("N and throughput must be positive in every point")
    distinct = len(set(n.tolist()))
    if distinct < 2:
        raise UslError(
            f"all {len(points)} points have N = {n[0]:g}: the law needs at least 2 different N"
        )
    notes: list[str] = []
    fit_kappa = distinct >= 3
    if not fit_kappa:
        notes.append(
            "only 2 different N: λ and σ fitted with κ held at 0, so no peak can be "
            "predicted; measure a third N to see coherency costs"
        )
    elif distinct == 3:
        notes.append("3 different N for 3 parameters: the curve passes through the points")

    start = _initial_guess(n, x, fit_kappa)
    scale = float(np.max(x))

    def residuals(params: NDArray[np.float64]) -> NDArray[np.float64]:
        lam, sigma = float(params[0]), float(params[1])
        kappa = float(params[2]) if fit_kappa else 0.0
        # Relative to the largest throughput, so the tolerances mean the same at any scale.
        result: NDArray[np.float64] = (_usl(n, lam, sigma, kappa) - x) / scale
        return result

    best: Any = None
    # The linearized start, and a few others: least squares on this law has shallow
    # valleys (σ and κ trade off over a short range of N), so keep the best of several.
    starts = [start, [start[0], 0.0, 0.0], [float(np.max(x / n)), 0.05, 0.001]]
    for guess in starts:
        x0 = np.array(guess[:3] if fit_kappa else guess[:2], dtype=np.float64)
        x0 = np.maximum(x0, 0.0)
        x0[0] = max(x0[0], 1e-12)
        solution = least_squares(
            residuals,
            x0,
            bounds=(np.zeros_like(x0), np.full_like(x0, np.inf)),
            x_scale="jac",
            xtol=1e-12,
            ftol=1e-12,
            gtol=1e-12,
            max_nfev=10_000,
        )
        if best is None or solution.cost < best.cost:
            best = solution
    params = best.x
    lam, sigma = float(params[0]), float(params[1])
    kappa = float(params[2]) if fit_kappa else 0.0
    # The optimizer stops a hair above a bound it should sit on: report those as 0.
    sigma = 0.0 if sigma < SIGMA_NEGLIGIBLE else sigma
    kappa = 0.0 if kappa < KAPPA_NEGLIGIBLE else kappa
    predicted = _usl(n, lam, sigma, kappa)
    total = float(np.sum((x - np.mean(x)) ** 2))
    residual = float(np.sum((x - predicted) ** 2))
    r2 = 1.0 - residual / total if total > 0 else 1.0
    return UslFit(
        lambda_=lam,
        sigma=sigma,
        kappa=kappa,
        r2=r2,
        points=len(points),
        max_n=float(np.max(n)),
        kappa_fixed=not fit_kappa,
        notes=notes,
    )


def plot_usl(
    fit: UslFit,
    points: Sequence[tuple[float, float]],
    path: str | Path,
    *,
    title: str = "Throughput vs concurrency (Universal Scalability Law)",
    unit: str = "requests/s",
    xlabel: str = "N (workers or concurrent users)",
) -> Path:
    """Write an SVG or PNG (by ``path``'s suffix) of the measured points, the fitted curve
    up to 2 x max(N, N*), and N* marked."""
    # The object-oriented API with the Agg canvas: no pyplot, so no global backend or
    # figure state is touched (safe in a server or a test run).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() not in {".svg", ".png"}:
        raise UslError(f"{path}: write a .svg or a .png")
    measured_n = [float(p[0]) for p in points]
    measured_x = [float(p[1]) for p in points]
    peak = fit.peak_n
    right = 2.0 * max(max(measured_n, default=1.0), peak or 0.0, 1.0)
    grid = np.linspace(1.0, right, 400)
    curve = _usl(grid, fit.lambda_, fit.sigma, fit.kappa)

    figure = Figure(figsize=(7.0, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(grid, fit.lambda_ * grid, linestyle=":", color="grey", label="linear (λN)")
    axes.plot(
        grid,
        curve,
        color="tab:blue",
        label=f"USL fit: λ={fit.lambda_:.3g}, σ={fit.sigma:.3g}, κ={fit.kappa:.3g} "
        f"(R²={fit.r2:.3f})",
    )
    axes.scatter(measured_n, measured_x, color="black", zorder=3, label="measured")
    if peak is not None:
        peak_x = fit.predict(peak)
        axes.axvline(peak, color="tab:red", linestyle="--", linewidth=1)
        axes.scatter([peak], [peak_x], color="tab:red", marker="D", zorder=4)
        axes.annotate(
            f"N* = {peak:.1f}",
            (peak, peak_x),
            textcoords="offset points",
            xytext=(6, 6),
            color="tab:red",
        )
    top = max([*measured_x, float(np.max(curve))]) * 1.15
    axes.set_ylim(0.0, top)
    axes.set_xlim(0.0, right)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(f"throughput ({unit})")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
