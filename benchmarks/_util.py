"""Small helpers shared by the benchmark modules."""

from __future__ import annotations

import statistics
from typing import Any


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0–100) of samples, by nearest rank."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def row(
    name: str,
    value: float,
    unit: str,
    *,
    anchor: str | None = None,
    anchor_value: float | None = None,
    target: str = "",
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """One table row; ratio is julep_nb / anchor (> 1 means julep_nb is ahead when
    higher is better, so for latencies the ratio is anchor / julep_nb)."""
    ratio = None
    if anchor_value:
        ratio = (
            value / anchor_value if higher_is_better else anchor_value / value if value else None
        )
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "anchor": anchor,
        "anchor_value": anchor_value,
        "ratio": ratio,
        "target": target,
    }


def mean(samples: list[float]) -> float:
    return statistics.fmean(samples) if samples else float("nan")
