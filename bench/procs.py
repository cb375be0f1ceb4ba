"""The processes the bench starts (each in a process group of its own, always stopped) and what /proc says about
their CPU time and memory."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("bench")

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Service:
    """A started process group; `stop()` is idempotent."""

    name: str
    process: subprocess.Popen
    log_path: Path
    # Celery's prefork pool deadlocks at exit when its children are signalled with it: signal the main process only.
    term_main_only: bool = False
    stopped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, grace: float = 15.0) -> None:
        if self.stopped:
            return
        self.stopped = True
        with contextlib.suppress(ProcessLookupError):
            if self.term_main_only:
                self.process.send_signal(signal.SIGTERM)
            else:
                os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0f s; killing its process group", self.name, grace)
        # Whatever is left of the group (children that outlived the main process) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


class Services:
    """Every process the bench started, stopped in reverse order however the bench ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Service] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], *, term_main_only: bool = False) -> Service:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - argv is built by the bench itself
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        service = Service(name, process, log_path, term_main_only=term_main_only)
        self.started.append(service)
        return service

    def stop_all(self) -> None:
        for service in reversed(self.started):
            service.stop()


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and parentheses; everything after the last ')' is numeric fields.
    return text[text.rindex(")") + 2 :].split()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    return children


def tree(pid: int) -> list[int]:
    """`pid` and every live descendant."""
    children = _children_map()
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    return found


def _cpu_ticks(pid: int, fields: slice) -> float:
    """The sum of the given /proc/PID/stat time fields, in seconds; 0 once the process is gone."""
    try:
        values = _stat_fields(pid)[fields]
    except OSError:
        return 0.0
    return sum(int(value) for value in values) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """User plus system time of the process and of its children that it has already reaped."""
    return _cpu_ticks(pid, slice(11, 15))


def own_cpu_seconds(pid: int) -> float:
    """User plus system time of the process alone."""
    return _cpu_ticks(pid, slice(11, 13))


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(each) for each in tree(pid))


def machine_times() -> tuple[int, int, int]:
    """Jiffies since boot on all CPUs: total, idle (with I/O wait), and stolen by the hypervisor."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values), values[3] + values[4], values[7]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def memory_kib(pid: int) -> tuple[int, int]:
    """Resident set size and proportional set size (shared pages split between their sharers), in KiB."""
    rss = pss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def peak_rss_kib(pid: int) -> int:
    """The largest resident set size the process has had (VmHWM), in KiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def find_process(prefix: str, needle: str) -> int | None:
    """The first process whose command line starts with `prefix` and contains `needle`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = cmdline(int(entry.name))
            if line.startswith(prefix) and needle in line:
                return int(entry.name)
    return None


def wait_idle(pid: int, *, timeout: float = 15.0, window: float = 0.5, busy_share: float = 0.05) -> None:
    """Until the process tree spends less than `busy_share` of a core over `window` seconds (a server's processes done
    starting: gunicorn answers as soon as its first process can, while the others still import), or `timeout`."""
    deadline = time.monotonic() + timeout
    before = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(window)
        after = tree_cpu_seconds(pid)
        if after - before < busy_share * window:
            return
        before = after
    logger.warning("process %d still busy after %.0f s", pid, timeout)


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
