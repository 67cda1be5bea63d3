"""Shared by the benchmark scripts: median timing of a call, and measurements in worker processes.

A worker is the benchmark script itself run with ``--worker ...``; it prints one
line ``RESULT {json}`` that :func:`worker_result` reads back.
"""

import json
import statistics
import subprocess
import time
from typing import Callable, Dict, List, Optional


def median_ms(call: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``call()`` in ms, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def print_result(result: Dict) -> None:
    print("RESULT " + json.dumps(result))


def worker_result(command: List[str], timeout: float, **kwargs) -> Dict:
    """Run a worker; its RESULT dict, or ``{"error": ...}`` on a time-out or a failure."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout}s"}
    for line in done.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    last: Optional[str] = (done.stderr.strip().splitlines() or ["failed"])[-1]
    return {"error": last[:100]}
