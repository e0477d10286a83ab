"""Time remaining of a job: its type's history blended with this run's own pace, and how sure we are.

The type's history alone (median run time of its recent completed jobs, scaled by the progress left) is
wrong for a run that is not like the others: a 30-step demo after sixty 1-step demos "has about 0 s left"
for its whole run. The run's own pace (``progress`` reached in ``elapsed`` seconds) extrapolates its total
run time, ``elapsed / fraction``, but is noisy early on. So the two totals are blended:

    w_own = 1 - (1 - fraction) * median / (median + elapsed)
    total = w_own * own_total + (1 - w_own) * median

``w_own`` starts at the progress fraction and rises towards 1 both with progress and with elapsed time
measured against the type's usual run time: once a run has lasted several medians, its history says
little about it. Remaining is ``total - elapsed`` (never negative). With no history, the run's pace alone;
with no progress yet, the history alone.

Confidence (``low`` / ``medium`` / ``high``) says how much the estimate can be trusted, and ``basis`` says
in words what it rests on, for the page to show beside the number.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from platform_jobs.jobs import flow_status
from platform_jobs.jobs.states import JobStatus

# The run's own extrapolation and the history "agree" when their totals are within this ratio.
AGREEMENT_RATIO = 1.5
# Below this elapsed time a run's pace is too noisy to be called reliable on its own.
MIN_PACE_SECONDS = 2.0


@dataclass(frozen=True)
class Estimate:
    remaining_seconds: float
    median_seconds: float  # of the type's recent completed runs (0 when it has none)
    samples: int  # how many completed runs the median is of
    wait_seconds: float = 0.0  # of which waiting for a slot or a rate-limit turn (flow_status)
    confidence: str = "low"  # low | medium | high
    basis: str = ""  # what the estimate rests on, in words
    own_seconds: float | None = None  # remaining by this run's own pace alone (None: no pace yet)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _history_only(median: float, samples: int, done: float, elapsed: float | None,
                  job_type: str) -> tuple[float, str, str]:
    remaining = median * (1 - done)
    basis = f"median of the last {samples} completed {job_type} runs ({_seconds(median)})"
    if elapsed is not None and elapsed > median:
        # Already past the usual run time with no progress to extrapolate from: the history is wrong here.
        return max(0.0, median - elapsed), "low", basis + "; this run has already taken longer, with no progress"
    if elapsed is not None and done == 0:
        remaining = max(0.0, median - elapsed)
    return remaining, "medium" if samples >= 5 else "low", basis + ", scaled by the progress left"


def _pace_confidence(fraction: float, elapsed: float, agree: bool, samples: int) -> str:
    if elapsed >= MIN_PACE_SECONDS and (fraction >= 0.5 or (agree and samples >= 5 and fraction >= 0.1)):
        return "high"
    if fraction >= 0.2 or agree:
        return "medium"
    return "low"


def blend(median: float | None, samples: int, fraction: float, elapsed: float | None,
          job_type: str = "this type") -> tuple[float, str, str, float | None] | None:
    """Remaining seconds of a run, its confidence, its basis and the run's own extrapolation (or None when
    nothing is known: no history and no pace). ``elapsed`` is the run's time so far at its last progress
    report (None: not running)."""
    fraction = max(0.0, min(1.0, fraction))
    has_pace = elapsed is not None and elapsed > 0 and fraction > 0
    if not has_pace:
        if median is None:
            return None
        remaining, confidence, basis = _history_only(median, samples, fraction, elapsed, job_type)
        return remaining, confidence, basis, None
    assert elapsed is not None
    own_total = elapsed / fraction
    own_remaining = max(0.0, own_total - elapsed)
    pace = f"this run's pace ({fraction:.0%} in {_seconds(elapsed)})"
    if median is None:
        confidence = _pace_confidence(fraction, elapsed, False, 0)
        return own_remaining, confidence, pace + f"; no {job_type} run has completed yet", own_remaining
    weight = 1 - (1 - fraction) * median / (median + elapsed) if median + elapsed > 0 else 1.0
    total = weight * own_total + (1 - weight) * median
    agree = median > 0 and 1 / AGREEMENT_RATIO <= own_total / median <= AGREEMENT_RATIO
    history = f"the median of the last {samples} completed {job_type} runs ({_seconds(median)})"
    relation = "which agrees with" if agree else "weighted at " + f"{weight:.0%} against"
    basis = f"{pace}, {relation} {history}"
    return max(0.0, total - elapsed), _pace_confidence(fraction, elapsed, agree, samples), basis, own_remaining


def estimate_remaining(durations: Sequence[float], status: JobStatus, progress: int,
                       wait: flow_status.Wait | None = None, elapsed: float | None = None,
                       job_type: str = "this type") -> Estimate | None:
    """Estimated seconds until an active job finishes (None for a finished job, or when nothing is known).

    ``durations`` are run times of recent completed jobs of the type; ``elapsed`` is how long the running
    run took to reach ``progress`` (None: unknown, the history alone is used). A pending job has all of its
    run ahead of it, plus its wait when flow control holds it back (``wait``: until its rate-limit turn, or
    about ``ceil((ahead + 1) / limit)`` median runs for a slot; see flow_status); the broker queue's own wait
    is not included.
    """
    if status not in (JobStatus.PENDING, JobStatus.RUNNING):
        return None
    median = statistics.median(durations) if durations else None
    waiting = flow_status.wait_seconds(wait, median)
    running = status is JobStatus.RUNNING
    blended = blend(median, len(durations), progress / 100 if running else 0.0, elapsed if running else None,
                    job_type)
    if blended is None:
        if not waiting:
            return None
        return Estimate(remaining_seconds=round(waiting, 1), median_seconds=0.0, samples=0,
                        wait_seconds=round(waiting, 1), confidence="low",
                        basis="the wait for its turn only; no run of its type has completed yet")
    remaining, confidence, basis, own = blended
    if waiting:
        basis += f", plus about {_seconds(waiting)} waiting for its turn"
    return Estimate(remaining_seconds=round(remaining + waiting, 1), median_seconds=round(median or 0.0, 3),
                    samples=len(durations), wait_seconds=round(waiting, 1), confidence=confidence, basis=basis,
                    own_seconds=round(own, 1) if own is not None else None)
