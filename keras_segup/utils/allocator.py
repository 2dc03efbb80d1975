"""The C allocator's handling of large freed blocks, which CPU timings depend on.

glibc's malloc serves each block above its mmap threshold (at most 32 MB
by default, adjusted as blocks are freed) with fresh pages from the
kernel and hands them back when the block is freed, and it returns the
free top of its heap above the trim threshold. A segmentation model's
large buffers (19-class logits at 1024x2048 are 160 MB) are then
page-faulted in anew at every call: on 2 CPU cores, writing one new 40 MB
buffer took 10-14 ms against 1-1.5 ms into kept memory, and the official
PyTorch FANet head at 1024x2048 took 270-307 ms against 176-194 ms
(docs/benchmarks.md).
"""

import ctypes
import os
import platform

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD")
_kept_bytes = None  # what keep_freed_memory set in this process


def _glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def keep_freed_memory(limit_bytes=1 << 30):
    """Lets glibc's malloc keep freed blocks of up to `limit_bytes` for reuse.

    Sets malloc's mmap and trim thresholds (`mallopt`) for this process, so
    that a model's large buffers reuse the pages of the previous call's
    instead of being page-faulted in again (the module docstring has the
    figures). The process then keeps its peak memory. Every backend's CPU
    allocations go through malloc, so this speeds up all of them, and the
    official PyTorch code as much. The same from the shell, for any
    process: `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=1073741824`.
    It has no effect on GPU memory.

    Args:
        limit_bytes: the largest block kept, and the free memory the heap
            keeps (default 1 GiB).

    Returns:
        True where it was set; False where the C library is not glibc
        (macOS, Windows, musl), which keeps its own policy.

    Example:
    ```python
    from keras_segup.utils.allocator import keep_freed_memory
    keep_freed_memory()  # once, before the first call of the model
    model.predict_on_batch(images)
    ```
    """
    global _kept_bytes
    if isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int) or limit_bytes < 1:
        raise ValueError(f"keep_freed_memory: limit_bytes must be a positive int; got {limit_bytes!r}")
    libc = _glibc()
    if libc is None:
        return False
    if not (libc.mallopt(_M_MMAP_THRESHOLD, limit_bytes) and libc.mallopt(_M_TRIM_THRESHOLD, limit_bytes)):
        raise ValueError(f"keep_freed_memory: glibc refused limit_bytes={limit_bytes}; try 1 << 30")
    _kept_bytes = limit_bytes
    return True


def allocator_facts():
    """How this process's C allocator treats freed memory, for a benchmark's facts.

    Returns:
        dict: `libc` (e.g. `"glibc 2.36"`), `kept_bytes` (what
        `keep_freed_memory` set, else None) and `environment` (the
        allocator's variables that are set: `MALLOC_*_THRESHOLD_`,
        `GLIBC_TUNABLES`, `LD_PRELOAD`, which can load another allocator).

    Example:
    >>> sorted(allocator_facts())
    ['environment', 'kept_bytes', 'libc']
    """
    name, version = platform.libc_ver()
    return {
        "libc": f"{name} {version}".strip() or platform.system(),
        "kept_bytes": _kept_bytes,
        "environment": {key: os.environ[key] for key in _ENVIRONMENT if key in os.environ},
    }


def describe_allocator(facts):
    """One phrase: `"glibc 2.36, freed blocks kept up to 1024 MiB"` or `"glibc 2.36, default thresholds"`."""
    policy = [f"{key}={value}" for key, value in facts["environment"].items()]
    if facts["kept_bytes"]:
        policy.insert(0, f"freed blocks kept up to {facts['kept_bytes'] / 2**20:g} MiB")
    return f"{facts['libc']}, {' '.join(policy) or 'default thresholds'}"
