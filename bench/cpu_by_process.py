"""CPU by kind of process while a command runs: where a benchmark's time goes.

    python bench/cpu_by_process.py -- python bench/queue.py --sizes 10000 --no-write
    python bench/cpu_by_process.py --every 2 -- python bench/export.py --sizes 100000 --no-write

Every ``--every`` seconds it reads /proc (Linux) and prints, per kind of
process, the cores it used over the interval (user + system): gunicorn
workers, PostgreSQL backends, the queue bench's load generator, Celery,
Redis, the rest, and the machine's idle cores. A process that ends between
two samples loses its last interval, so short-lived children are undercounted.
The command's own output goes through unchanged.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter

TICKS = os.sysconf("SC_CLK_TCK")
# (kind, a piece of the command line that marks it), the first match wins.
KINDS = (
    ("gunicorn", "gunicorn"),
    ("loadgen", "--child load"),
    ("celery", "celery"),
    ("redis", "redis-server"),
)


def kind_of(cmdline: str) -> str:
    if cmdline.startswith("postgres"):
        return "postgres"
    for kind, mark in KINDS:
        if mark in cmdline:
            return kind
    return "other"


def sample() -> Counter:
    """Clock ticks of CPU so far, per kind, and the machine's idle ticks."""
    ticks: Counter = Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        ticks[kind_of(cmdline)] += int(fields[11]) + int(fields[12])  # utime + stime
    with open("/proc/stat") as fh:
        ticks["idle"] = int(fh.readline().split()[4])
    return ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to watch after --")
    child = subprocess.Popen(command)
    before, then = sample(), time.monotonic()
    while child.poll() is None:
        time.sleep(args.every)
        now, at = sample(), time.monotonic()
        cores = {k: (now[k] - before.get(k, 0)) / TICKS / (at - then) for k in now}
        line = " ".join(f"{k}={v:.2f}" for k, v in sorted(cores.items()) if v >= 0.01)
        print(f"[cpu {time.strftime('%H:%M:%S')}] cores: {line}", file=sys.stderr, flush=True)
        before, then = now, at
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
