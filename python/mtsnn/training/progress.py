"""A one-line progress bar on stderr: steps, images/s, running loss and accuracy."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """Redraws one line (with carriage returns) at most every ``interval`` seconds.

    Disabled (every method a no-op) unless ``enabled`` and the stream is a terminal, so logs
    redirected to a file stay clean.

    Args:
        total: number of steps in the pass.
        label: text before the bar (e.g. "epoch 3/12").
        enabled: False for --quiet, or on ranks other than 0.
        stream: where to draw (stderr).
        interval: minimum seconds between redraws.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        interval: float = 0.2,
        width: int = 24,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and self.stream.isatty()
        self.total = max(total, 1)
        self.label = label
        self.interval = interval
        self.width = width
        self.start = time.perf_counter()
        self._last_draw = -float("inf")

    def update(self, done: int, images: int, metrics: Callable[[], dict[str, float]]) -> None:
        """Record ``done`` steps and ``images`` images so far; redraw if it is time.

        ``metrics`` (called only when drawing, since reading values from an accelerator waits
        for it) returns the running loss and accuracy as {"loss": ..., "acc": ...}.
        """
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.interval and done < self.total:
            return
        self._last_draw = now
        elapsed = max(now - self.start, 1e-9)
        filled = self.width * done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        values = metrics()
        self.stream.write(
            f"\r{self.label} [{bar}] {done}/{self.total} {images / elapsed:7.0f} img/s "
            f"loss {values['loss']:.4f} acc {100 * values['acc']:6.2f}%\x1b[K"
        )
        self.stream.flush()

    def close(self) -> None:
        """Erase the line, leaving the cursor at its start."""
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
