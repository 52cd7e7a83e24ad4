"""The Goodhart monitor: is a policy trained against a learned judge fooling it?

Whenever a policy learns from a learned signal (judge-shaped rewards, a frozen judge's
gradient, judge-accepted episodes), each evaluation records the judge's estimated success
(its final probability, averaged over the evaluation episodes) beside the true success
(verified by the environment). A judged-minus-true gap above ``threshold`` is flagged: in
the run's log, in the CSV (``goodhart_flag``) and in the progress bar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger("groundworld.goodhart")

GOODHART_THRESHOLD = 0.15
"""Default largest tolerated judged-minus-true success gap (every config that flags gaps uses it)."""


@dataclass
class GoodhartReading:
    step: int
    true_success: float
    judged_success: float

    @property
    def gap(self) -> float:
        """Judged minus true success: positive when the judge is more optimistic than the world."""
        return self.judged_success - self.true_success


@dataclass
class GoodhartMonitor:
    """Records judged vs true success per evaluation and flags gaps above ``threshold``."""

    threshold: float = GOODHART_THRESHOLD
    """Largest tolerated judged-minus-true success gap."""
    readings: list[GoodhartReading] = field(default_factory=list)

    def record(self, step: int, true_success: np.ndarray | list[bool], judged: np.ndarray | list[float]) -> dict:
        """Add one evaluation (per-episode true outcomes and judge probabilities); return log columns."""
        true_success, judged = np.asarray(true_success, dtype=float), np.asarray(judged, dtype=float)
        if true_success.shape != judged.shape or true_success.size == 0:
            raise ValueError(
                f"need one judge probability per evaluation episode, got {judged.shape} vs {true_success.shape}"
            )
        reading = GoodhartReading(step, float(true_success.mean()), float(judged.mean()))
        self.readings.append(reading)
        flagged = reading.gap > self.threshold
        if flagged:
            logger.warning(
                "Goodhart gap at step %d: the judge estimates %.2f success, the environment verifies %.2f",
                step,
                reading.judged_success,
                reading.true_success,
            )
        return {
            "judged_success": reading.judged_success,
            "goodhart_gap": reading.gap,
            "goodhart_flag": float(flagged),
        }

    def record_evaluation(self, step: int, episodes: list[dict]) -> dict:
        """:meth:`record` for evaluation episodes (``agents.evaluate``'s records with ``"success"``
        and the ``"judge"`` estimate that a judge wrapper left in their final info)."""
        return self.record(step, [e["success"] for e in episodes], [e["judge"] for e in episodes])

    @property
    def flagged(self) -> list[GoodhartReading]:
        return [r for r in self.readings if r.gap > self.threshold]

    @property
    def worst_gap(self) -> float:
        return max((r.gap for r in self.readings), default=float("nan"))

    def summary(self) -> str:
        if not self.readings:
            return "no evaluations recorded"
        last = self.readings[-1]
        return (
            f"judged {last.judged_success:.2f} vs true {last.true_success:.2f} (gap {last.gap:+.2f}); "
            f"worst gap {self.worst_gap:+.2f}; {len(self.flagged)}/{len(self.readings)} evaluations flagged "
            f"(threshold {self.threshold})"
        )
