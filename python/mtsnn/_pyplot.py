"""matplotlib, imported on demand: plotting is optional and needs no display."""

from __future__ import annotations

from types import ModuleType


def import_pyplot(purpose: str) -> ModuleType:
    """Return matplotlib.pyplot on the file-only Agg backend.

    Raises:
        ImportError: matplotlib is not installed; the message names ``purpose`` and says how to
            install it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: works without a display
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            f"{purpose} needs matplotlib, which is not installed: pip install matplotlib"
        ) from err
    return plt
