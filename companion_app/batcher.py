"""Group plan requests that arrive within a few milliseconds into one rollout batch.

Why: a rollout of 300 samples is a handful of small matrix products; on a GPU (and on a CPU with
several cores) 32 requests cost little more than one when they share the products. Requests wait
at most `window_ms` for company. While a batch is being planned, new requests queue and form the
next batch, so under load the batches grow by themselves.

Planning runs on one worker thread: the event loop stays free to answer health checks and to
reject bad or unauthenticated requests while the predictor works.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import torch

from companion_app.planner import PlanJob, Planner, PlanResult

log = logging.getLogger(__name__)


class Batcher:
    """An async queue in front of a Planner. Start it inside the event loop; close it on shutdown."""

    def __init__(self, planner: Planner, window_ms: float = 3.0, max_batch: int = 64, threads: int = 1) -> None:
        if window_ms < 0 or max_batch < 1:
            raise ValueError(f"Batcher: window_ms={window_ms} must be >= 0 and max_batch={max_batch} >= 1")
        self.planner = planner
        self.window_s = window_ms / 1000.0
        self.max_batch = max_batch
        self.batches = 0  # planned batches and jobs so far: for logs, tests and benchmarks
        self.jobs = 0
        self._queue: asyncio.Queue[tuple[PlanJob, asyncio.Future[PlanResult]]] | None = None
        self._task: asyncio.Task[None] | None = None
        # torch's CPU thread count, set in the worker itself: that is the thread that plans
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ami-planner",
                                            initializer=torch.set_num_threads, initargs=(threads,))

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ami-batcher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass  # the cancellation asked for above
        self._executor.shutdown(wait=True)

    async def submit(self, job: PlanJob) -> PlanResult:
        assert self._queue is not None, "Batcher.start() must run before submit()"
        fut: asyncio.Future[PlanResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((job, fut))
        return await fut

    async def _collect(self) -> list[tuple[PlanJob, asyncio.Future[PlanResult]]]:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.window_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            groups: dict[tuple[str, int, int, int], list[tuple[PlanJob, asyncio.Future[PlanResult]]]] = \
                defaultdict(list)
            for job, fut in batch:
                if not fut.done():  # a client that hung up has cancelled its future
                    groups[job.key()].append((job, fut))
            for items in groups.values():
                jobs = [job for job, _ in items]
                try:
                    results = await loop.run_in_executor(self._executor, self.planner.plan_batch, jobs)
                except Exception as e:  # handed to every waiting request (a 500 for each), not swallowed
                    log.exception("planning a batch of %d failed", len(jobs))
                    for _, fut in items:
                        if not fut.done():
                            fut.set_exception(e)
                    continue
                self.batches += 1
                self.jobs += len(jobs)
                for (_, fut), result in zip(items, results):
                    if not fut.done():
                        fut.set_result(result)
