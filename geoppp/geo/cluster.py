"""Running tiles on a dask.distributed cluster: connecting to one, or starting one here.

The engine only needs a :class:`concurrent.futures.Executor`; a distributed ``Client`` gives
one whose futures are rerun elsewhere when a worker dies (the scheduler's own fault
tolerance), and a ``LocalCluster``'s nannies start a new worker in its place.

Workers keep what is costly to load (a model, opened vector layers) in a per-process cache
(:func:`~geoppp.geo.process_cache.per_process`), keyed by what it was built from, so that
tasks carry only file paths and settings. Each worker runs one numerical thread per task
thread, so that on every machine workers × threads ≤ cores when there are no more workers
than cores. This module imports dask.distributed: the step runner imports it only when a
cluster is asked for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from distributed import Client, LocalCluster, WorkerPlugin

from geoppp.errors import ClusterError


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow)."""
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class Cluster:
    """A connection to a cluster: where tasks go, and what it is in words."""

    executor: Executor
    description: str
    client: Any


class _LimitThreads(WorkerPlugin):
    """Calls ``set_threads(1)`` on each worker: one numerical thread per task thread.

    dask's nanny already starts workers with ``OMP_NUM_THREADS=1``; libraries that keep
    their own count (torch) are told here. Cores are used by worker processes instead:
    on this project's loaded 2-core machine one worker whose torch ran 2 OpenMP threads took
    258 s for what 2 threads in-process did in 16 s, while one-thread workers scaled.
    """

    name = "geoppp-limit-threads"

    def __init__(self, set_threads: Callable[[int], None]) -> None:
        self.set_threads = set_threads

    def setup(self, worker: Any) -> None:
        self.set_threads(1)


@contextmanager
def connect(
    scheduler: str | None = None,
    local_workers: int | None = None,
    set_threads: Callable[[int], None] | None = None,
    timeout: float = 120.0,
) -> Iterator[Cluster]:
    """Connect to the scheduler at ``scheduler``, or start a ``LocalCluster`` of
    ``local_workers`` processes (one task thread each) for the duration of the block.

    Args:
        scheduler: a running scheduler's address, e.g. ``tcp://10.0.0.5:8786``.
        local_workers: worker processes to start on this machine instead.
        set_threads: called with 1 on every worker, now and when one is replaced (e.g.
            ``torch.set_num_threads``).
        timeout: seconds to wait for the scheduler and the workers to come up.

    Raises:
        ClusterError: neither or both were given, or the cluster could not be reached.
    """
    if (scheduler is None) == (local_workers is None):
        raise ClusterError("give either a scheduler address or a number of local workers")
    if local_workers is not None and not 1 <= local_workers <= available_cores():
        raise ClusterError(
            f"--local-cluster {local_workers}: this machine has {available_cores()} core(s) "
            "for this process; give between 1 and that many workers (each runs one thread)"
        )
    local: Any = None
    try:
        if local_workers is not None:
            local = LocalCluster(
                n_workers=local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(local, timeout=timeout)
            description = f"a local cluster of {local_workers} worker process(es)"
        else:
            assert scheduler is not None
            client = Client(scheduler, timeout=timeout)
            description = f"the cluster at {scheduler}"
    except OSError as error:
        if local is not None:
            local.close()
        where = scheduler or f"a local cluster of {local_workers} workers"
        raise ClusterError(
            f"could not reach {where}: {error}; check that the scheduler is running and the "
            "address (e.g. tcp://HOST:8786) is right"
        ) from error
    try:
        if local_workers is not None:
            client.wait_for_workers(local_workers, timeout=timeout)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        description += f", {len(workers)} worker(s) now"
        if set_threads is not None:
            client.register_plugin(_LimitThreads(set_threads))
        yield Cluster(client.get_executor(pure=False), description, client)
    finally:
        client.close()
        if local is not None:
            local.close()
