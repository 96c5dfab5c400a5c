"""A per-process cache of what is costly to build (a model, opened vector layers), keyed by
what it was built from, so that a task carries only file paths and settings: each process
(this one, or a cluster's worker) builds an object once and keeps it for every later task."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

Value = TypeVar("Value")

_CACHE: dict[Hashable, Any] = {}
_CACHE_LOCK = threading.Lock()


def per_process(key: Hashable, build: Callable[[], Value]) -> Value:
    """The object cached under ``key`` in this process, built by ``build`` the first time.

    A worker builds it once (the lock makes its other threads wait rather than build it
    again) and keeps it for every later task.
    """
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = build()
        value: Value = _CACHE[key]
        return value
