"""The vehicle page's history charts, drawn on the server: readings turned into the coordinates of an SVG in the
person's units, a sentence that says what the chart shows, and the same data as a table (templates/vehicles/
_chart.html draws them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from math import ceil, floor, log10
from typing import ClassVar

from django.utils import dateformat, timezone

from vehicles.presentation import KM_PER_MILE, distance_text, percent_text

# The SVG's own coordinates (it scales to the page's width) and the plot inside them, room left for the labels.
WIDTH, HEIGHT = 480, 180
LEFT, RIGHT, TOP, BOTTOM = 78, 470, 10, 150
X_LABELS_AT = 170


@dataclass(frozen=True)
class Tick:
    position: float
    text: str
    # SVG's text-anchor: the first date label starts at the left edge, the last ends at the right.
    anchor: str = "end"


@dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    summary: str
    # A line of points "x,y x,y ..." (levels, ranges, odometer), or bands (x, width) where a flag was on (charging).
    points: str
    bands: list[tuple[float, float]]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]

    # The drawing's frame, for the template.
    view_box: ClassVar[str] = f"0 0 {WIDTH} {HEIGHT}"
    left: ClassVar[int] = LEFT
    right: ClassVar[int] = RIGHT
    top: ClassVar[int] = TOP
    bottom: ClassVar[int] = BOTTOM
    plot_height: ClassVar[int] = BOTTOM - TOP
    y_label_x: ClassVar[int] = LEFT - 6
    x_label_y: ClassVar[int] = X_LABELS_AT


def _day(moment: datetime) -> str:
    return dateformat.format(timezone.localtime(moment), "j M")


def _when(moment: datetime) -> str:
    return dateformat.format(timezone.localtime(moment), "j M, H:i")


def _nice_ceiling(value: float) -> float:
    """The next 1, 2 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** floor(log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


class _Frame:
    """The drawing's time axis: from `start` at the left edge of the plot to `end` at its right."""

    def __init__(self, *, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self._origin, self._span = start.timestamp(), (end - start).total_seconds()

    def x(self, moment: datetime) -> float:
        share = (moment.timestamp() - self._origin) / self._span
        return round(LEFT + min(max(share, 0.0), 1.0) * (RIGHT - LEFT), 1)

    def x_ticks(self, days: int) -> list[Tick]:
        step = timedelta(days=days) / 3
        anchors = ("start", "middle", "middle", "end")
        return [Tick(self.x(self.start + step * i), _day(self.start + step * i), anchors[i]) for i in range(4)]


def _y(value: float, low: float, high: float) -> float:
    return round(BOTTOM - (value - low) / (high - low) * (BOTTOM - TOP), 1)


def _series(readings: list, field: str) -> list[tuple[datetime, float]]:
    return [(reading.recorded_at, value) for reading in readings if (value := getattr(reading, field)) is not None]


def _daily_rows(series: list[tuple[datetime, float]], show: Callable[[float], str]) -> list[tuple[str, ...]]:
    """One row a day that had a reading, newest first: the lowest, the highest and the last value that day."""
    days: dict[date, list[float]] = {}
    zone = timezone.get_current_timezone()
    for moment, value in series:
        days.setdefault(moment.astimezone(zone).date(), []).append(value)
    rows = [
        (dateformat.format(day, "D j M"), show(min(values)), show(max(values)), show(values[-1]))
        for day, values in days.items()
    ]
    return rows[::-1]


def _level_chart(
    slug: str, title: str, series: list[tuple[datetime, float]], frame: _Frame, days: int, units: str, kind: str
) -> Chart:
    def show(value: float) -> str:
        return percent_text(value) if kind == "percent" else distance_text(value, units)

    # Drawn in the units shown: percent, or kilometres or miles.
    scale = 1 / KM_PER_MILE if kind != "percent" and units == "imperial" else 1.0
    unit = "%" if kind == "percent" else "mi" if units == "imperial" else "km"
    values = [value * scale for _, value in series]
    if kind == "percent":
        low, high = 0.0, 100.0
    elif kind == "distance":
        low, high = 0.0, _nice_ceiling(max(values))
    else:
        # The odometer only grows: its own span, not from zero, or a month's driving would be a flat line.
        low, high = float(floor(min(values))), float(ceil(max(values)))
        if high <= low:
            high = low + 1
    points, previous = [], None
    for (moment, _), value in zip(series, values, strict=True):
        x, y = frame.x(moment), _y(value, low, high)
        if y == previous:
            continue  # another signal changed: this line goes on flat
        if previous is not None:
            points.append(f"{x},{previous}")  # the value held until this change
        points.append(f"{x},{y}")
        previous = y
    points.append(f"{frame.x(frame.end)},{previous}")
    y_ticks = [Tick(_y(value, low, high), f"{value:,.0f} {unit}") for value in (low, (low + high) / 2, high)]
    first, last = series[0], series[-1]
    lowest, highest = min(series, key=lambda item: item[1]), max(series, key=lambda item: item[1])
    if kind == "odometer":
        summary = (
            f"{show(last[1] - first[1])} driven between {_day(first[0])} and {_day(last[0])}; "
            f"the odometer last read {show(last[1])}."
        )
    elif len(series) == 1 or lowest[1] == highest[1]:
        summary = f"{title}: {show(last[1])}, unchanged since {_day(first[0])}."
    else:
        summary = (
            f"{title}: {show(last[1])} at the last reading; over the last {days} days between {show(lowest[1])} "
            f"({_day(lowest[0])}) and {show(highest[1])} ({_day(highest[0])})."
        )
    return Chart(
        slug=slug,
        title=title,
        summary=summary,
        points=" ".join(points),
        bands=[],
        y_ticks=y_ticks,
        x_ticks=frame.x_ticks(days),
        columns=("Day", "Lowest", "Highest", "Last"),
        rows=_daily_rows(series, show),
    )


def _charging_chart(series: list[tuple[datetime, float]], frame: _Frame, days: int) -> Chart:
    bands, rows, started, sessions, seconds = [], [], None, 0, 0.0
    previous = None
    for moment, charging in series:
        if charging == previous:
            continue
        if charging:
            started, sessions = moment, sessions + 1
        elif started is not None:
            bands.append((frame.x(started), round(frame.x(moment) - frame.x(started), 1)))
            seconds += (moment - started).total_seconds()
            started = None
        rows.append((_when(moment), "Started charging" if charging else "Stopped charging"))
        previous = charging
    if started is not None:
        bands.append((frame.x(started), round(frame.x(frame.end) - frame.x(started), 1)))
        seconds += (frame.end - started).total_seconds()
    if sessions:
        hours = round(seconds / 3600)
        duration = f"about {hours} hour{'s' if hours != 1 else ''}" if hours else "under an hour"
        summary = f"Charged {sessions} time{'s' if sessions != 1 else ''} in the last {days} days, {duration} in all."
        if started is not None:
            summary += " Charging now."
    else:
        summary = f"Did not charge in the last {days} days."
    return Chart(
        slug="charging",
        title="Charging",
        summary=summary,
        points="",
        bands=[(x, max(width, 1.0)) for x, width in bands],
        y_ticks=[],
        x_ticks=frame.x_ticks(days),
        columns=("When", "What"),
        rows=rows[::-1],
    )


def history_charts(*, readings: list, units: str, days: int, now: datetime | None = None) -> list[Chart]:
    """A chart for each tracked signal the car reported in the last `days` days (readings oldest first: Reading
    instances, or history.recent's rows)."""
    end = now or timezone.now()
    frame = _Frame(start=end - timedelta(days=days), end=end)
    both_ranges = all(_series(readings, field) for field in ("electric_range_km", "fuel_range_km"))
    charts = []
    for field, slug, title, kind in (
        ("battery_percent", "battery", "Battery", "percent"),
        ("fuel_percent", "fuel", "Fuel", "percent"),
        ("electric_range_km", "electric-range", "Electric range" if both_ranges else "Range", "distance"),
        ("fuel_range_km", "fuel-range", "Fuel range" if both_ranges else "Range", "distance"),
        ("odometer_km", "odometer", "Odometer", "odometer"),
    ):
        if series := _series(readings, field):
            charts.append(_level_chart(slug, title, series, frame, days, units, kind))
    if series := _series(readings, "charging"):
        charts.append(_charging_chart(series, frame, days))
    return charts
