"""Generation progress: samples done/total, kept tokens per second, ETA.

Written through pytest's terminal reporter with output capture suspended (generation runs
during collection, or in the xdist controller), rewritten in place on a terminal and
printed every ``interval`` seconds otherwise; silent with ``-q``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence


def fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    def __init__(
        self,
        label: str,
        total: int,
        write: Callable[[str, bool], None],
        interval: float = 10.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.label, self.total, self._write, self.interval, self._clock = label, total, write, interval, clock
        self.done = 0
        self.tokens = 0
        self.start = self._last = clock()
        self._write(self.line(), False)

    def line(self) -> str:
        elapsed = max(self._clock() - self.start, 1e-9)
        text = f"codex: generating {self.label}: {self.done}/{self.total} samples"
        if self.done:
            rate = self.tokens / elapsed
            eta = elapsed / self.done * (self.total - self.done)
            text += f", {rate:.1f} tok/s, {fmt_seconds(elapsed)} elapsed"
            if self.done < self.total:
                text += f", ETA {fmt_seconds(eta)}"
        return text

    def update(self, completions: Sequence) -> None:
        self.done += len(completions)
        self.tokens += sum(c.num_tokens or 0 for c in completions)
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            self._write(self.line(), False)

    def close(self) -> None:
        self._write(self.line(), True)


def terminal_progress(config, interval_tty: float = 0.2, interval_log: float = 10.0):
    """A ``(label, total) -> Progress | None`` factory writing to pytest's terminal (None when
    quiet).  The terminal reporter is looked up when generation starts, not before."""
    if config is None:
        return None

    def factory(label: str, total: int) -> Progress | None:
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is None or config.getoption("verbose", 0) < 0:
            return None
        capman = config.pluginmanager.get_plugin("capturemanager")
        tty = bool(getattr(tr, "isatty", False))

        def write(line: str, final: bool) -> None:
            def emit() -> None:
                if tty:
                    tr.rewrite(line, erase=True)
                    if final:
                        tr.write_line("")
                else:
                    tr.write_line(line)

            if capman is not None:
                with capman.global_and_fixture_disabled():
                    emit()
            else:
                emit()

        return Progress(label, total, write, interval_tty if tty else interval_log)

    return factory
