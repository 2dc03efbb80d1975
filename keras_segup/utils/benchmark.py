"""The frame of the benchmark command lines in `tools/benchmark_*.py`.

Each script measures one suite. It runs itself once per backend, each in a
fresh process (Keras fixes its backend at import), JAX first, whose XLA
cost analysis gives the FLOP counts of every table; the child prints its
rows and its machine facts (`keras_segup.utils.machine`) as JSON, and the
parent prints one table per backend, each under the facts it was measured
with, and with `--json FILE` writes everything to a file.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from keras_segup.utils.atomic import write_atomically

BACKENDS = ("jax", "torch", "tensorflow")
# the input sizes of the model and export suites, and their presets: one per family
SIZES = ((512, 1024), (1024, 2048))
FAMILY_PRESETS = ("gai_cityscapes", "fanet_r18_cityscapes", "ifa_r50_cityscapes", "rsp_r50_cityscapes")


def sizes_argument(text):
    """`"512x1024,1024x2048"` -> `((512, 1024), (1024, 2048))`, for argparse."""
    try:
        sizes = tuple(tuple(int(n) for n in size.split("x")) for size in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(len(size) != 2 or min(size) < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes are HxW,HxW with positive ints; got {text!r}")
    return sizes


def presets_argument(text):
    """`"a,b"` -> `("a", "b")`, for argparse."""
    return tuple(filter(None, text.split(",")))


def add_selection_arguments(parser):
    """`--presets` and `--sizes` of the model and export suites."""
    parser.add_argument("--presets", type=presets_argument, default=(),
                        help="presets NAME,NAME (default: one per family)")
    parser.add_argument("--sizes", type=sizes_argument, default=SIZES,
                        help="input sizes HxW,HxW (default: 512x1024,1024x2048)")


def run_benchmark(script, description, measure, print_table, add_arguments=None, argv=None):
    """Parses the command line, measures on every backend and prints the tables.

    Args:
        script: the path of the calling script (it is run again per backend).
        description: the script's description (its docstring's first line).
        measure: `measure(args) -> rows` (JSON-serialisable dicts), run in
            the child process of each backend.
        print_table: `print_table(backend, rows, flops)`, where `flops` maps
            a row's `"case"` to the `"gflops"` the JAX run measured.
        add_arguments: adds the suite's own options to the parser.
        argv: the arguments (default `sys.argv[1:]`).

    Returns:
        The exit code: 0, or 1 when a backend's run failed.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--repeats", type=int, default=10, help="timed runs after warm-up (median)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows and the machine facts as JSON")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="let glibc's malloc reuse freed blocks up to 1 GiB in each backend's process "
                             "(keras_segup.utils.allocator.keep_freed_memory)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    if set(backends) - set(BACKENDS) or not backends:
        parser.error(f"--backends takes names from {BACKENDS}; got {args.backends!r}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}")
    if args.child:  # one backend, in this process
        from keras_segup.utils.allocator import keep_freed_memory
        from keras_segup.utils.machine import machine_facts

        if args.keep_freed_memory:
            keep_freed_memory()
        rows = measure(args)
        print("ROWS " + json.dumps({"machine": machine_facts(), "rows": rows}))
        return 0

    from keras_segup.utils.machine import describe_machine

    results, facts, status = {}, {}, 0
    for backend in sorted(backends, key=lambda b: b != "jax"):
        out = subprocess.run(
            [sys.executable, script, *argv, "--child"],
            env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("ROWS ")]
        if out.returncode or not lines:
            print(f"\n{backend}: failed\n{out.stderr[-3000:]}")
            status = 1
            continue
        child = json.loads(lines[-1][len("ROWS "):])
        results[backend], facts[backend] = child["rows"], child["machine"]
    flops = {row["case"]: row["gflops"] for row in results.get("jax", []) if "gflops" in row}
    for backend in backends:
        if backend in results:
            print(f"\nmachine: {describe_machine(facts[backend])}")
            print_table(backend, results[backend], flops)
    if args.json:
        record = {"suite": description, "command": [os.path.basename(script), *argv],
                  "results": {b: {"machine": facts[b], "rows": results[b]} for b in results}}
        write_atomically(args.json, lambda temporary: Path(temporary).write_text(json.dumps(record, indent=1)))
        print(f"\nWrote {args.json}.")
    return status
