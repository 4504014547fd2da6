"""Workloads whose profile is known: shared by the profile tests and the benchmark."""

from __future__ import annotations

# Two functions that take 70% and 30% of the time, by busy loops on the clock; and fib, a
# CPU-bound cell of a fixed amount of work, timed inside the kernel.
SEVENTY_THIRTY = """\
import time
def seventy():
    end = time.perf_counter() + 0.007
    while time.perf_counter() < end:
        pass
def thirty():
    end = time.perf_counter() + 0.003
    while time.perf_counter() < end:
        pass
def work(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        seventy()
        thirty()
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def cpu(repeat):
    start = time.perf_counter()
    for _ in range(repeat):
        fib(22)
    return time.perf_counter() - start
"""

# A cell that runs until interrupted, almost all of its time in ``hot`` (and its generator
# expression); it prints "crunching" once it is under way.
HOT_LOOP = """\
def hot(n):
    return sum(i * i for i in range(n))

def crunch():
    print("crunching", flush=True)
    while True:
        hot(20_000)

crunch()
"""
