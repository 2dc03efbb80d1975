"""Runs the test suite once per Keras backend, each in its own process.

Usage: python tools/run_tests.py [--backends jax,torch,tensorflow] [--jobs N] [PYTEST ARGS...]

With `--jobs 2` two backends run at the same time (their output is printed
whole when each finishes): much of the suite is single-threaded graph
building and XLA compilation, so two processes share two cores well.
Prints one summary line per backend and a closing total. Exits non-zero if
any backend's run failed or collected no tests.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BACKENDS = ("jax", "torch", "tensorflow")


def count(junit_path):
    """(passed, failed, skipped) from a pytest junit XML file."""
    suite = ET.parse(junit_path).getroot()
    if suite.tag == "testsuites":
        suite = suite[0]
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return total - failed - skipped, failed, skipped


def run_backend(backend, pytest_args, tmp, capture):
    """Runs pytest under one backend; returns (backend, exit code, seconds, junit path).

    With `capture`, the output is printed in one piece when the run ends.
    """
    junit = Path(tmp) / f"{backend}.xml"
    env = {**os.environ, "KERAS_BACKEND": backend}
    if backend == "jax":
        # tests run many small eager ops, each compiled once: cheaper
        # XLA optimisation halves compile time (numerics unchanged)
        env.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
        # many tests compile the same small programs: reuse them within the run
        env.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tmp) / "jax_cache"))
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
    header = f"\n===== KERAS_BACKEND={backend} =====\n"
    command = [sys.executable, "-m", "pytest", f"--junitxml={junit}", *pytest_args]
    start = time.time()
    if capture:
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        code = done.returncode
        print(header + done.stdout, flush=True)
    else:
        print(header, flush=True)
        code = subprocess.call(command, env=env)
    return backend, code, time.time() - start, junit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--jobs", type=int, default=1, help="backends run at the same time")
    args, pytest_args = parser.parse_known_args()
    backends = [b for b in args.backends.split(",") if b]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s) {sorted(unknown)}; choose from {BACKENDS}")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    rows, ok, totals = {}, True, [0, 0, 0]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        runs = [pool.submit(run_backend, b, pytest_args, tmp, args.jobs > 1) for b in backends]
        for run in runs:
            backend, code, seconds, junit = run.result()
            passed, failed, skipped = count(junit) if junit.exists() else (0, 0, 0)
            totals = [t + n for t, n in zip(totals, (passed, failed, skipped))]
            status = "ok"
            if code == 5 or passed == 0:
                status = "FAILED (no tests ran)"
            elif code != 0:
                status = f"FAILED (pytest exit {code})"
            ok &= status == "ok"
            rows[backend] = (
                f"{backend:<11} {passed:5d} passed {failed:4d} failed "
                f"{skipped:4d} skipped {seconds:7.1f}s  {status}"
            )
    print("\n===== summary per backend =====")
    print("\n".join(rows[b] for b in backends))
    print(f"total: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
