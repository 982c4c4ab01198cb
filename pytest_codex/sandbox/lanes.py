"""Lanes: a single pytest process runs its samples on more than one CPU.

Without xdist the items run one after another in the main thread, and a sample's work (its
fork, its code, its exit) happens while the main thread waits: one CPU is busy at a time.
``Lanes`` runs the samples ahead of their items on executors of their own, one thread per
executor, so that when an item runs, its samples are done or under way:

* The plan is the samples of the selected items, in the order pytest will run them.  A lane
  takes the first sample nobody has taken, at most ``lookahead`` samples past the first of the
  item now running (``LOOKAHEAD`` per lane: enough to keep the lanes busy while one runs a
  slow sample, little computed for nothing after ``-x`` or Ctrl-C).
* The item (``results``) takes its samples from the lanes; one that no lane has taken yet it
  runs itself, on the main executor, as without lanes; it waits only for samples a lane is
  running, each bounded by its own wall-clock guard.  A sample is judged, as always, by the
  trusted side of the executor that ran it (``judge``), in this process: a lane's thread does
  what the main thread would have done, on its own executor (its own fork server, its own
  unprivileged uid).
* Every sample runs once, with the same time limit (one ``TimeLimits``; a problem's limit is
  measured once, under a lock of its own), so the verdicts are those of a run without lanes.
  A sample whose planned text differs from what the item asks for (it cannot, short of a
  plugin changing completions) runs here.
* ``close`` stops the lanes: no new sample is taken, a running one is ended (its control
  socket is shut down, so its verdict is never used), and each thread closes its executor.

A harness error in a lane (``SandboxError``) is raised in the item that asked for the sample.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pytest_codex.core.problems import Problem
from pytest_codex.core.verdicts import Executor, SampleResult

LOOKAHEAD = 32  # samples per lane a lane may run ahead of the item running
JOIN_TIMEOUT = 10.0


class LaneExecutor(Executor, Protocol):
    def interrupt(self) -> None:
        """End the sample running now (from another thread); its result is not to be used."""
        ...


Limit = Callable[[Problem, Executor], float]  # a sample's CPU-time limit, measured with that executor


@dataclass(frozen=True)
class Job:
    problem: Problem
    completion: str


class _Slot:
    """One planned sample: free, taken by a thread, then done (``event`` set, ``outcome``)."""

    __slots__ = ("job", "taken", "outcome", "event")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.taken = False
        self.outcome: SampleResult | BaseException | None = None
        self.event = threading.Event()


class Lanes:
    """``count`` lanes, each a thread that opens its executor (``open_executor(cpu)``: the
    thread is the executor's trusted side, pinned with its fork server to ``cpu`` when there
    are CPUs enough) and closes it when the lanes stop."""

    def __init__(
        self, open_executor: Callable[[int | None], LaneExecutor], count: int, lookahead: int | None = None
    ) -> None:
        self.count = count
        self.lookahead = LOOKAHEAD * count if lookahead is None else lookahead
        self._limit: Limit | None = None
        self._limit_lock = threading.Lock()  # guards _limit_locks
        self._limit_locks: dict[str, threading.Lock] = {}  # task id -> its measurement's lock
        self._window = threading.Condition()  # guards the slots' ``taken``; lanes wait on it
        self._slots: list[_Slot] = []
        self._by_key: dict[Hashable, list[int]] = {}  # an item's key -> its slots' indices
        self._next = 0  # no slot before this one is free
        self._current = 0  # the first slot of the item running now
        self._started = False
        self._stopping = False
        self._opened: list[LaneExecutor | BaseException | None] = [None] * count
        self._open_done = [threading.Event() for _ in range(count)]
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        pin = 0 < count <= len(cpus)  # as xdist's workers: pinned when each has a CPU of its own
        self._threads = [
            threading.Thread(
                target=self._lane,
                args=(number, open_executor, cpus[number] if pin else None),
                name=f"codex-lane-{number}",
                daemon=True,
            )
            for number in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def __len__(self) -> int:
        return self.count

    def executors(self) -> list[LaneExecutor]:
        """The lanes' executors, once open (the first error opening one is raised)."""
        opened = []
        for executor in self._wait_open():
            if isinstance(executor, BaseException):
                raise executor
            assert executor is not None
            opened.append(executor)
        return opened

    def _wait_open(self) -> list[LaneExecutor | BaseException | None]:
        for done in self._open_done:
            done.wait()
        return list(self._opened)

    def limit(self, problem: Problem, executor: Executor) -> float:
        """The time limit of a sample of ``problem`` (the first call measures it: one
        measurement per problem, different problems' at once)."""
        assert self._limit is not None, "start() gives the time limits"
        with self._limit_lock:
            lock = self._limit_locks.setdefault(problem.task_id, threading.Lock())
        with lock:
            return self._limit(problem, executor)

    def start(self, items: Sequence[tuple[Hashable, Problem, Sequence[str]]], limit: Limit) -> None:
        """Plan the samples of ``items`` (key, problem, completions), in run order, and let the
        lanes run them; ``limit`` gives a sample's time limit."""
        with self._window:
            self._limit = limit
            for key, problem, completions in items:
                for text in completions:
                    self._by_key.setdefault(key, []).append(len(self._slots))
                    self._slots.append(_Slot(Job(problem, text)))
            self._started = True
            self._window.notify_all()

    def _take_next(self) -> _Slot | None:
        """The first free slot within the look-ahead, marked taken; waits while there is
        none; None when stopping or nothing is left."""
        with self._window:
            while True:
                if self._stopping:
                    return None
                if self._started:
                    while self._next < len(self._slots) and self._slots[self._next].taken:
                        self._next += 1
                    if self._next >= len(self._slots):
                        return None
                    slot = self._slots[self._next]
                    if self._next <= self._current + self.lookahead:
                        slot.taken = True
                        return slot
                self._window.wait()

    def _lane(self, number: int, open_executor: Callable[[int | None], LaneExecutor], cpu: int | None) -> None:
        try:
            executor = open_executor(cpu)
        except BaseException as exc:  # raised where the executors are asked for
            self._opened[number] = exc
            self._open_done[number].set()
            return
        self._opened[number] = executor
        self._open_done[number].set()
        try:
            while (slot := self._take_next()) is not None:
                job = slot.job
                try:
                    slot.outcome = executor.run(job.problem, job.completion, self.limit(job.problem, executor))
                except BaseException as exc:  # raised in the item that takes it
                    slot.outcome = exc
                slot.event.set()
        finally:
            executor.close()  # here: it restores this thread's CPU and policy

    def results(
        self, key: Hashable, problem: Problem, completions: Sequence[str], here: Executor
    ) -> list[SampleResult]:
        """The results of an item's samples, in order: from the lanes, or run on ``here``
        (the main executor) when no lane has taken them."""
        with self._window:
            indices = self._by_key.pop(key, [])
            if indices and indices[0] > self._current:
                self._current = indices[0]
                self._window.notify_all()
            slots = [self._slots[i] for i in indices]
            mine = [slot for slot in slots if not slot.taken]
            for slot in mine:
                slot.taken = True
        if [slot.job.completion for slot in slots] != list(completions):  # not the plan: run them here
            return [here.run(problem, text, self.limit(problem, here)) for text in completions]
        for slot in mine:
            slot.outcome = here.run(problem, slot.job.completion, self.limit(problem, here))
            slot.event.set()
        results = []
        for slot in slots:
            slot.event.wait()
            outcome, slot.outcome = slot.outcome, None  # handed out once; keep nothing
            if isinstance(outcome, BaseException):
                raise outcome
            assert outcome is not None
            results.append(outcome)
        return results

    def close(self) -> None:
        """Stop the lanes: no sample is taken any more, the running ones are ended
        (``interrupt``), and each thread closes its executor and ends."""
        with self._window:
            self._stopping = True
            self._window.notify_all()
        for executor in self._wait_open():
            if executor is not None and not isinstance(executor, BaseException):
                executor.interrupt()
        for thread in self._threads:
            thread.join(JOIN_TIMEOUT)
