"""What a benchmark figure was measured on: hardware, software and threads."""

import os
import platform
import shutil
import subprocess

import keras

from keras_segup.ops.dispatch import backend_module
from keras_segup.utils.allocator import allocator_facts
from keras_segup.utils.allocator import describe_allocator


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def _gpus():
    """`[{"name", "driver", "memory"}]` from nvidia-smi; empty without an NVIDIA GPU."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [[field.strip() for field in line.split(",")] for line in out.splitlines() if line.strip()]
    return [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows if len(r) == 3]


def machine_facts():
    """The facts a reader needs to trust, or reproduce, a timing.

    Returns:
        dict: `cpu` (model name), `cores` (usable by this process),
        `threads` (the backend's intra-op threads where it says, else
        None: one per core), `gpus` (name, driver, memory; empty without
        one), `backend`, `backend_version`, `device` (what the backend
        computes on), `keras`, `python`, `platform`, `allocator` (the C
        allocator's policy for freed memory,
        `keras_segup.utils.allocator.allocator_facts`).

    Example:
    >>> sorted(machine_facts())[:4]
    ['allocator', 'backend', 'backend_version', 'cores']
    """
    version, threads, devices, device = backend_module().facts()
    return {
        "cpu": _cpu_model(),
        "cores": _usable_cores(),
        "threads": threads,
        "gpus": _gpus(),
        "backend": keras.backend.backend(),
        "backend_version": version,
        "device": device,
        "devices": devices,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "allocator": allocator_facts(),
    }


def describe_machine(facts):
    """One line: `"Intel Xeon ... (2 cores, 2 threads), no GPU; torch 2.13.0 on cpu, keras 3.15.1;
    malloc: glibc 2.36, default thresholds"`."""
    threads = f", {facts['threads']} threads" if facts["threads"] else ""
    gpus = "; ".join(f"{g['name']} (driver {g['driver']}, {g['memory']})" for g in facts["gpus"]) or "no GPU"
    return (
        f"{facts['cpu']} ({facts['cores']} cores{threads}), {gpus}; "
        f"{facts['backend']} {facts['backend_version']} on {facts['device']}, keras {facts['keras']}"
        f"; malloc: {describe_allocator(facts['allocator'])}"
    )
