"""Sampling profiles with py-spy (when installed) of a process tree under load, summarised as the functions that hold
the most samples."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
PROCESS = re.compile(r'^process (?P<pid>\d+):"(?P<command>.*)"$')


@dataclass(frozen=True)
class Profile:
    samples: int
    by_role: dict[str, int]
    # Samples with the function anywhere on the stack, and on top of it.
    inclusive: dict[str, int]
    own: dict[str, int]

    def share(self, *parts: str) -> float:
        """The fraction of samples inside the first function whose name contains every one of `parts`."""
        for name, count in sorted(self.inclusive.items(), key=lambda item: -item[1]):
            if all(part in name for part in parts):
                return count / self.samples
        return 0.0

    def top_own(self, count: int) -> list[tuple[str, int]]:
        return sorted(self.own.items(), key=lambda item: -item[1])[:count]

    def by_package(self, count: int) -> list[tuple[str, int]]:
        """Samples by the package of the function that was running: where the CPU went."""
        totals: Counter[str] = Counter()
        for name, samples in self.own.items():
            totals[_package(name)] += samples
        return totals.most_common(count)


# How the worker's samples split: a stack through the threads pool's executor ran a task; any other is the thread
# that receives, dispatches and acknowledges messages.
WORKER_ROLES = ("concurrent/futures/thread.py", "task threads", "the consumer thread")

# Packages big enough that their parts are worth telling apart.
SPLIT_PACKAGES = ("django", "celery", "kombu")


def _package(name: str) -> str:
    match = re.search(r"\(([^()]*)\)$", name)
    path = (match[1] if match else name).removeprefix("<frozen ").removesuffix(">")
    parts = path.removesuffix(".py").split("/")
    depth = 2 if parts[0] in SPLIT_PACKAGES and len(parts) > 2 else 1
    return ".".join(parts[:depth])


def py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def start(pid: int, seconds: int, output: Path) -> subprocess.Popen | None:
    executable = py_spy()
    if executable is None:
        return None
    argv = [executable, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--format", "raw"]
    # Threads the OS reports idle (waiting on a socket) are left out, so samples are time on a CPU. Not --gil: a C
    # extension waiting on PostgreSQL without releasing the interpreter lock would count as work.
    argv += ["--rate", "200", "--duration", str(seconds), "--output", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def finish(spy: subprocess.Popen, *, timeout: float) -> bool:
    """Whether py-spy finished its recording; on a machine too busy for it to keep up, it is stopped instead."""
    try:
        spy.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
        return False
    return spy.returncode == 0


def _name(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['function']} ({path})"


def summarise(path: Path, *, roles: tuple[str, str, str] | None = None) -> Profile:
    """Samples per role (`roles`: a file, the role of a stack with a frame from it, the role of any other), and per
    function."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if not PROCESS.match(frame) and not frame.startswith("thread ")]
        names = [_name(frame) for frame in frames]
        if not names:
            continue
        samples += count
        if roles:
            marker, inside, outside = roles
            by_role[inside if any(marker in name for name in names) else outside] += count
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    return Profile(samples=samples, by_role=dict(by_role), inclusive=dict(inclusive), own=dict(own))
