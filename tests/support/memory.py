"""Peak Python allocation of a function, measured with tracemalloc in a fresh interpreter.

Why not in the test process: on CPython 3.11, `tracemalloc.start()`/`stop()` race with any
thread that allocates meanwhile, including native threads (livekit's FFI callbacks, gRPC)
entering Python; a full `make test` segfaulted in `tracemalloc.stop()` that way. A spawned
child holds only the threads the measured code starts itself.
"""

from __future__ import annotations

import multiprocessing
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def _measure(fn: Callable[[], T]) -> tuple[T, int]:
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def peak_in_child(fn: Callable[[], T], timeout_s: float = 120.0) -> tuple[T, int]:
    """`fn()`'s result and its peak traced bytes; `fn` must be picklable (module level)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_measure, fn).result(timeout=timeout_s)
