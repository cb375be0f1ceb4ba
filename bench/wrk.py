"""One wrk run (one thread, `--latency`) and what the bench reads from its report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Report:
    per_second: float
    p50_ms: float
    p99_ms: float
    requests: int


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS_MS[unit]


def run(
    url: str, *, seconds: int, connections: int, timeout: float, options: list[str], script_args: list[str]
) -> Report:
    """wrk on `url` for `seconds` over `connections`, with `options` before the URL and `script_args` after it (for a
    Lua script's `init`); any error response or socket error fails the run."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *options, url, *script_args]
    output = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=timeout).stdout  # noqa: S603
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw errors on {url}:\n{output}")
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE))
    per_second = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if per_second is None or set(latency) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's output for {url}:\n{output}")
    return Report(
        per_second=float(per_second.group(1)),
        p50_ms=_milliseconds(latency["50"]),
        p99_ms=_milliseconds(latency["99"]),
        requests=int(re.search(r"^\s+(\d+) requests in", output, re.MULTILINE).group(1)),
    )
