"""How well a judge reads success from part of an episode: AUROC, Brier score, calibration error.

Scores are taken after the judge has seen a fraction of each episode (10/25/50/75% of that
episode's own length), so "at 25%" asks: a quarter of the way through this attempt, can
the judge tell whether it will succeed?
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

FRACTIONS = (0.1, 0.25, 0.5, 0.75)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2.0
    return float((ranks[labels].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean squared error of the probabilities (0 is perfect; 0.25 is always saying 0.5)."""
    return float(np.mean((np.asarray(probs, dtype=float) - np.asarray(labels, dtype=float)) ** 2))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin: (mean predicted probability, observed success rate, count)."""
    probs, labels = np.asarray(probs, dtype=float), np.asarray(labels, dtype=float)
    which = np.minimum((probs * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.bincount(which, weights=probs, minlength=bins) / count
        observed = np.bincount(which, weights=labels, minlength=bins) / count
    return predicted, observed, count


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the count-weighted gap between predicted and observed rates."""
    predicted, observed, count = reliability(probs, labels, bins)
    filled = count > 0
    return float(np.sum(count[filled] * np.abs(predicted[filled] - observed[filled])) / count.sum())


def at_fraction(probs: np.ndarray, lengths: np.ndarray, fraction: float) -> np.ndarray:
    """Each episode's prediction after it has shown ``fraction`` of its steps (at least one)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    seen = np.maximum(1, np.ceil(fraction * np.asarray(lengths)).astype(int))
    return probs[np.arange(len(seen)), seen - 1]


def scores(probs: np.ndarray, lengths: np.ndarray, labels: np.ndarray, fraction: float) -> dict[str, float]:
    """AUROC, Brier and ECE of the predictions at ``fraction`` of each episode."""
    p = at_fraction(probs, lengths, fraction)
    return {"auroc": auroc(p, labels), "brier": brier(p, labels), "ece": ece(p, labels)}


def calibration_rows(
    probs: np.ndarray, lengths: np.ndarray, labels: np.ndarray, fractions: Sequence[float] = FRACTIONS
) -> list[dict[str, float]]:
    """One row per fraction: fraction, auroc, brier, ece."""
    return [{"fraction": f, **scores(probs, lengths, labels, f)} for f in fractions]


def reliability_diagram(
    path: str | Path,
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str = "",
    bins: int = 10,
) -> Path:
    """A PNG of reliability curves: ``curves[name] = (probabilities, labels)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    for name, (p, y) in curves.items():
        predicted, observed, count = reliability(p, y, bins)
        keep = count > 0
        ax.plot(predicted[keep], observed[keep], marker="o", label=f"{name} (ECE {ece(p, y, bins):.3f})")
    ax.set_xlabel("predicted success probability")
    ax.set_ylabel("observed success rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
