"""The errors a training run reports to its user (the CLI prints them without a traceback)."""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid or inconsistent run configuration (a usage error: the CLI exits with 2)."""


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, tampered with or does not fit the model."""


class OutputDirError(RuntimeError):
    """The output directory cannot take the run's files (not writable, or too little space)."""
