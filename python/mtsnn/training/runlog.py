"""Per-epoch run log: ``log.jsonl`` (one JSON object per epoch), and TensorBoard when installed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mtsnn.training.fileio import atomic_write

LOG_FILE = "log.jsonl"
TENSORBOARD_DIR = "tensorboard"


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Return the records of a log.jsonl (a run directory or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / LOG_FILE
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


class RunLog:
    """Appends one record per epoch to ``run_dir/log.jsonl`` and mirrors it to TensorBoard.

    Args:
        run_dir: the run directory.
        completed_epochs: epochs already done (a resumed run); records of later epochs (written
            after the checkpoint the run resumes from) are dropped. 0 starts a fresh log.
    """

    def __init__(self, run_dir: str | os.PathLike[str], completed_epochs: int) -> None:
        self.path = Path(run_dir) / LOG_FILE
        kept = []
        if completed_epochs and self.path.is_file():
            kept = [r for r in read_log(self.path) if r["epoch"] <= completed_epochs]
        atomic_write(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode())
        self._writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        # purge_step drops events of epochs that the resumed run repeats.
        self._writer = SummaryWriter(
            str(Path(run_dir) / TENSORBOARD_DIR), purge_step=completed_epochs + 1
        )

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` (which holds "epoch") durably; add its numbers to TensorBoard."""
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        if self._writer is not None:
            for key, value in record.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self._writer.add_scalar(key, value, record["epoch"])
            self._writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
