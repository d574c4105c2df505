"""mtsnn.keep_freed_memory: large tensors allocated again and again stop costing page faults."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

from test_training_support import subprocess_env

# In a fresh process, since the setting is process-wide and cannot be undone.
_PROGRAM = textwrap.dedent(
    """
    import resource, sys, torch, mtsnn
    if sys.argv[1] == "keep":
        assert mtsnn.keep_freed_memory()
    x = torch.randn(2, 8 << 20)  # 64 MiB results: above glibc's largest mmap threshold
    for _ in range(10):  # the first allocations grow the heap
        x * 2
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        x * 2
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
    """
)


def _faults_per_call(mode: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _PROGRAM, mode],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=True,
    )
    return float(result.stdout.split()[-1])


def test_keeping_freed_memory_removes_the_page_faults():
    assert resource.getpagesize() == 4096
    default, kept = _faults_per_call("default"), _faults_per_call("keep")
    assert default > 10_000  # 64 MiB of fresh 4 KiB pages per call
    assert kept < default / 4
