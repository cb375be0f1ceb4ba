"""Medians and spread of a few repetitions."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """'min to max (±p % of the median)': with a few runs on a noisy machine the range says more than a deviation."""
    middle = median(values)
    half_range = (max(values) - min(values)) / 2
    percent = 100 * half_range / middle if middle else 0.0
    return f"{fmt(min(values))} to {fmt(max(values))} (±{percent:.0f} %)"


def fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
