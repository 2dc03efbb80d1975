"""The benchmark frame: every figure comes with its method and machine, on screen and as JSON."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

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


def test_frame_prints_the_machine_and_writes_json(tmp_path):
    script = tmp_path / "suite.py"
    script.write_text(SUITE)
    backend = keras.backend.backend()
    out = run(script, "--backends", backend, "--json", tmp_path / "out.json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "machine: " in out.stdout and f"{backend} " in out.stdout and f"table {backend} 1.5" in out.stdout
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["command"][:3] == ["suite.py", "--backends", backend]
    machine = record["results"][backend]["machine"]
    assert machine["backend"] == backend and machine["cores"] >= 1 and machine["cpu"]
    assert record["results"][backend]["rows"] == [{"case": "one", "ms": 1.5, "gflops": 2.0}]


@pytest.mark.one_backend("torch")
def test_heads_suite_runs_one_head(tmp_path):
    backend = keras.backend.backend()
    out = run("tools/benchmark_heads.py", "--backends", backend, "--sizes", "32x64", "--repeats", "1",
              "--heads", "fanet", "--json", tmp_path / "heads.json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "FANet (R18, strides 8-64) 32x64" in out.stdout and "no official code" in out.stdout
    row = json.loads((tmp_path / "heads.json").read_text())["results"][backend]["rows"][0]
    assert row["size"] == [32, 64] and row["ours"]["repeats"] == 1 and row["params"] > 0
