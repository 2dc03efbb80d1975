"""The benchmark frame: every figure comes with its method and machine, on screen and as JSON."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_segup.utils.allocator import allocator_facts
from keras_segup.utils.allocator import describe_allocator
from keras_segup.utils.allocator import keep_freed_memory
from keras_segup.utils.profiling import peak_memory
from keras_segup.utils.profiling import time_calls

REPO = Path(__file__).resolve().parents[1]

SUITE = '''"""A suite of one case."""
import sys
from keras_segup.utils.benchmark import run_benchmark

def measure(args):
    return [{"case": "one", "ms": 1.5, "gflops": 2.0}]

def print_table(backend, rows, flops):
    print(f"table {backend} {rows[0]['ms']} {flops}")

sys.exit(run_benchmark(__file__, __doc__, measure, print_table))
'''

# page faults of a second 64 MiB buffer after a first one was freed
PAGE_FAULTS = '''
import resource, sys
import numpy as np
from keras_segup.utils.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(64 * 2**20 // 8)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults()
print(faults())
'''
GLIBC = allocator_facts()["libc"].startswith("glibc")


def run(*argv):
    return subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True, cwd=REPO)


def test_time_calls_statistics():
    calls = []
    timing = time_calls(lambda: calls.append(1), repeats=5, warmup=3)
    assert len(calls) == 8 and len(timing["times_ms"]) == 5
    assert timing["min_ms"] <= timing["median_ms"] <= timing["max_ms"] and timing["iqr_ms"] >= 0
    assert time_calls(lambda: None, repeats=2)["iqr_ms"] is None  # no quartiles of two runs


def test_peak_memory_sees_a_large_allocation():
    extra, total = peak_memory(lambda: np.ones((64, 1024, 1024), np.float32).sum())
    assert total == 64 * 1024 * 1024 and extra >= 200 * 2**20  # the 256 MiB array


@pytest.mark.parametrize("keep", [False, pytest.param(True, marks=pytest.mark.one_backend("torch"))])
def test_frame_prints_the_machine_and_writes_json(tmp_path, keep):
    script = tmp_path / "suite.py"
    script.write_text(SUITE)
    backend = keras.backend.backend()
    out = run(script, "--backends", backend, "--json", tmp_path / "out.json", *["--keep-freed-memory"] * keep)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "machine: " in out.stdout and f"{backend} " in out.stdout and f"table {backend} 1.5" in out.stdout
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["command"][:3] == ["suite.py", "--backends", backend]
    machine = record["results"][backend]["machine"]
    assert machine["backend"] == backend and machine["cores"] >= 1 and machine["cpu"]
    assert record["results"][backend]["rows"] == [{"case": "one", "ms": 1.5, "gflops": 2.0}]
    assert f"malloc: {describe_allocator(machine['allocator'])}" in out.stdout
    assert machine["allocator"]["kept_bytes"] == (2**30 if keep and GLIBC else None)
    assert ("freed blocks kept up to 1024 MiB" in out.stdout) == (keep and GLIBC)


@pytest.mark.one_backend("torch")
@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_kept_freed_memory_is_reused_without_page_faults(tmp_path):
    script = tmp_path / "faults.py"
    script.write_text(PAGE_FAULTS)
    default, kept = (run(script, mode) for mode in ("default", "keep"))
    assert default.returncode == 0 and kept.returncode == 0, default.stderr[-2000:] + kept.stderr[-2000:]
    assert int(default.stdout.split()[-1]) > 0  # fresh pages: 33 with transparent huge pages, 16k without
    assert int(kept.stdout.split()[-1]) == 0


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "1GB"])
def test_keep_freed_memory_rejects_a_bad_limit(limit):
    with pytest.raises(ValueError, match="limit_bytes must be a positive int"):
        keep_freed_memory(limit)


def test_allocator_description():
    facts = {"libc": "glibc 2.36", "kept_bytes": None, "environment": {}}
    assert describe_allocator(facts) == "glibc 2.36, default thresholds"
    facts = {"libc": "glibc 2.36", "kept_bytes": 2**29, "environment": {"LD_PRELOAD": "libjemalloc.so.2"}}
    assert describe_allocator(facts) == "glibc 2.36, freed blocks kept up to 512 MiB LD_PRELOAD=libjemalloc.so.2"


@pytest.mark.one_backend("torch")
def test_heads_suite_runs_one_head(tmp_path):
    backend = keras.backend.backend()
    out = run("tools/benchmark_heads.py", "--backends", backend, "--sizes", "32x64", "--repeats", "1",
              "--heads", "fanet", "--json", tmp_path / "heads.json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "FANet (R18, strides 8-64) 32x64" in out.stdout and "no official code" in out.stdout
    row = json.loads((tmp_path / "heads.json").read_text())["results"][backend]["rows"][0]
    assert row["size"] == [32, 64] and row["ours"]["repeats"] == 1 and row["params"] > 0
