"""The error raised for a dataset file that exists but cannot be read."""

from __future__ import annotations

import os


class DatasetFormatError(ValueError):
    """A dataset file is malformed; the message always starts with the file (or member) name."""

    def __init__(self, source: str | os.PathLike[str], problem: str) -> None:
        self.source = os.fspath(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")
