"""``map_batches``: run a pure batch function over a stream of Arrow record batches, in order.

The function is named ``"module:function"`` and called as ``fn(batch, **kwargs)``; it returns a
record batch with one row per input row. Results come back in input order whatever the engine,
so the output depends only on the input and the function (both engines and every worker count
give identical bytes). At most ``2 x workers`` batches are in flight: memory stays bounded however
long the stream.

Engines (``LAKEHOUSE_ENGINE``, see :mod:`lakehouse.engine.settings`):

- ``local``: a pool of *spawned* processes (never forked: delta-rs and DuckDB threads do not
  survive a fork), kept for the life of the process so models load once per worker;
- ``ray``: Ray tasks, on a local Ray started here when ``RAY_ADDRESS`` is unset, or on the
  cluster it names. Workers need the ``lakehouse`` package and its models installed, and read
  S3 with the same ``AWS_*`` settings (docs/scaling.md).
"""

from __future__ import annotations

import atexit
import functools
import importlib
import logging
import os
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from lakehouse.engine.progress import Progress
from lakehouse.engine.settings import EngineSettings, engine_settings

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("lakehouse.engine")


@functools.lru_cache(maxsize=None)
def resolve(fn_path: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function (imported once per process)."""
    module, _, name = fn_path.partition(":")
    if not module or not name:
        raise ValueError(f"a batch function is named 'module:function', got {fn_path!r}")
    return getattr(importlib.import_module(module), name)


def call(fn_path: str, batch: "pa.RecordBatch", kwargs: dict[str, Any]) -> "pa.RecordBatch":
    """What a worker runs for one batch."""
    out = resolve(fn_path)(batch, **kwargs)
    if out.num_rows != batch.num_rows:
        raise RuntimeError(f"{fn_path} returned {out.num_rows} rows for {batch.num_rows}")
    return out


# -- local processes -------------------------------------------------------------------------
_POOL: Any = None
_POOL_WORKERS = 0


def _local_pool(workers: int) -> Any:
    global _POOL, _POOL_WORKERS
    if _POOL is None or _POOL_WORKERS != workers:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if _POOL is not None:
            _POOL.shutdown(wait=True, cancel_futures=True)
        _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        _POOL_WORKERS = workers
        from lakehouse.engine import watchdog

        watchdog.start()
    return _POOL


# -- Ray -------------------------------------------------------------------------------------
# One actor per worker: a batch function's models load once per actor and stay loaded across
# stages; at most ``workers`` batches run at once, whatever the cluster's size.
_RAY_ACTORS: list[Any] = []


class _Worker:
    def call(self, fn_path: str, batch: "pa.RecordBatch", kwargs: dict[str, Any]) -> "pa.RecordBatch":
        return call(fn_path, batch, kwargs)


def _ray_actors(settings: EngineSettings) -> list[Any]:
    global _RAY_ACTORS
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if settings.ray_address:
            kwargs["address"] = settings.ray_address
        else:
            # every core of this machine (at least the workers asked for): a later stage or call
            # asking for more actors than the first one must not wait forever for a CPU resource
            kwargs["num_cpus"] = max(1, settings.resolved_workers(), os.cpu_count() or 1)
        ray.init(**kwargs)
        if not settings.ray_address:  # a local Ray: it ends with this process, even when killed
            from lakehouse.engine import watchdog

            watchdog.start()
    n = settings.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    if len(_RAY_ACTORS) != n:
        for a in _RAY_ACTORS:
            ray.kill(a)
        actor = ray.remote(num_cpus=1, max_restarts=1, max_task_retries=2)(_Worker)
        _RAY_ACTORS = [actor.remote() for _ in range(n)]
    return _RAY_ACTORS


def _ray_map(fn_path: str, stream: Iterable["pa.RecordBatch"], kwargs: dict[str, Any], actors: list[Any],
             progress: Progress) -> Iterator["pa.RecordBatch"]:
    """In-order results with exactly one batch in flight per actor (plus one queued each)."""
    import ray

    pending: deque[tuple[Any, int]] = deque()
    turn = 0
    for batch in stream:
        if batch.num_rows == 0:
            continue
        pending.append((actors[turn % len(actors)].call.remote(fn_path, batch, kwargs), batch.num_rows))
        turn += 1
        while len(pending) >= 2 * len(actors):
            ref, n = pending.popleft()
            yield ray.get(ref)
            progress.update(n)
    while pending:
        ref, n = pending.popleft()
        yield ray.get(ref)
        progress.update(n)


def shutdown() -> None:
    """End the local pool and a Ray this process started (also runs at exit)."""
    global _POOL, _RAY_ACTORS
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)
        _POOL = None
    if _RAY_ACTORS:
        _RAY_ACTORS = []
        try:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        except Exception:  # pragma: no cover - best effort at exit
            pass


atexit.register(shutdown)


# -- the map -------------------------------------------------------------------------------
def _ordered(submit: Callable[["pa.RecordBatch"], Any], wait: Callable[[Any], "pa.RecordBatch"],
             batches: Iterable["pa.RecordBatch"], in_flight: int, progress: Progress) -> Iterator["pa.RecordBatch"]:
    pending: deque[tuple[Any, int]] = deque()
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append((submit(batch), batch.num_rows))
        while len(pending) >= in_flight:
            fut, n = pending.popleft()
            yield wait(fut)
            progress.update(n)
    while pending:
        fut, n = pending.popleft()
        yield wait(fut)
        progress.update(n)


def _rebatch(batches: Iterable["pa.RecordBatch"], rows: int) -> Iterator["pa.RecordBatch"]:
    """Cut (or leave) batches to at most ``rows`` rows; small batches are passed through."""
    for b in batches:
        if b.num_rows <= rows:
            yield b
        else:
            for off in range(0, b.num_rows, rows):
                yield b.slice(off, rows)


def map_keeping(fn_path: str, batches: Iterable["pa.RecordBatch"], keep: list[str], **kw: Any
                ) -> Iterator[tuple["pa.RecordBatch", "pa.RecordBatch"]]:
    """Like :func:`map_batches`, yielding ``(kept input columns, output)`` pairs of equal length:
    ids and keys stay on the driver and are matched to results by order."""
    import pyarrow as pa

    queue: deque[pa.RecordBatch] = deque()

    def inputs() -> Iterator[pa.RecordBatch]:
        for b in batches:
            if b.num_rows:
                queue.append(b.select(keep))
                yield b

    for out in map_batches(fn_path, inputs(), **kw):
        parts, n = [], out.num_rows
        while n > 0:
            head = queue[0]
            if head.num_rows <= n:
                parts.append(queue.popleft())
                n -= head.num_rows
            else:
                parts.append(head.slice(0, n))
                queue[0] = head.slice(n)
                n = 0
        kept = parts[0] if len(parts) == 1 else pa.Table.from_batches(parts).combine_chunks().to_batches()[0]
        yield kept, out


def map_batches(fn_path: str, batches: Iterable["pa.RecordBatch"], *, kwargs: dict[str, Any] | None = None,
                stage: str | None = None, total: int | None = None, settings: EngineSettings | None = None,
                batch_rows: int | None = None) -> Iterator["pa.RecordBatch"]:
    """Apply ``fn_path`` to every batch, in order, on the configured engine; log progress."""
    settings = settings or engine_settings()
    kwargs = kwargs or {}
    rows = batch_rows or settings.batch_rows
    progress = Progress(stage or fn_path, total, settings.progress_seconds)
    stream = _rebatch(batches, rows)
    if settings.engine == "ray":
        actors = _ray_actors(settings)
        log.info("engine ray: stage=%s workers=%d", stage, len(actors))
        yield from _ray_map(fn_path, stream, kwargs, actors, progress)
    else:
        workers = settings.resolved_workers()
        if workers <= 1:
            for b in stream:
                if b.num_rows:
                    yield call(fn_path, b, kwargs)
                    progress.update(b.num_rows)
        else:
            pool = _local_pool(workers)
            log.info("engine local: stage=%s workers=%d", stage, workers)
            yield from _ordered(lambda b: pool.submit(call, fn_path, b, kwargs), lambda f: f.result(), stream,
                                2 * workers, progress)
    progress.finish()
