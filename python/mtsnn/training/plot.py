"""Training curves of a run (loss and accuracy per epoch: train, validation if held out, test)
as a PNG."""

from __future__ import annotations

import os
from pathlib import Path

from mtsnn._pyplot import import_pyplot
from mtsnn.training.runlog import LOG_FILE, read_log

PLOT_FILE = "curves.png"


def plot_run(run_dir: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> Path:
    """Draw run_dir/log.jsonl into ``output`` (default run_dir/curves.png); return its path.

    Raises:
        ImportError: matplotlib is not installed (the message says how to install it).
        FileNotFoundError: the run has no log.jsonl.
    """
    plt = import_pyplot("mtsnn plot")
    from matplotlib.ticker import MaxNLocator  # importable once pyplot is

    run_dir = Path(run_dir)
    if not (run_dir / LOG_FILE).is_file():
        raise FileNotFoundError(f"{run_dir / LOG_FILE}: no such log (is {run_dir} a run?)")
    records = read_log(run_dir)
    epochs = [r["epoch"] for r in records]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    splits = [s for s in ("train", "validation", "test") if f"{s}_loss" in records[0]]
    for split in splits:
        loss_axes.plot(epochs, [r[f"{split}_loss"] for r in records], marker=".", label=split)
        accuracy_axes.plot(
            epochs, [100 * r[f"{split}_accuracy"] for r in records], marker=".", label=split
        )
    loss_axes.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    accuracy_axes.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(run_dir.name)
    figure.tight_layout()
    output = Path(output) if output is not None else run_dir / PLOT_FILE
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return output
