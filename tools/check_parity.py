"""Checks keras_segup heads against official-code parity fixtures.

Usage: python tools/check_parity.py FIXTURE.npz [FIXTURE.npz ...]

Prints, per official output, the max abs difference and the tolerance of
the fixture's JSON (`keras_segup.convert.parity.check_fixture`) on the
current KERAS_BACKEND. Exits 1 if any output is off, 2 if a fixture is of
an unknown kind or unreadable.
"""

import sys

import keras

from keras_segup.convert.parity import FixtureError
from keras_segup.convert.parity import check_fixture


def main(paths):
    if not paths:
        print(__doc__)
        return 2
    status = 0
    for path in paths:
        try:
            rows = check_fixture(path)
        except FixtureError as error:
            print(f"{path}: {error}")
            status = 2
            continue
        print(f"{path} on {keras.backend.backend()}:")
        for name, diff, atol, rtol, ok in rows:
            print(
                f"  {name:<22} max abs diff {diff:.3e}  "
                f"tolerance atol {atol:g} + rtol {rtol:g}  {'ok' if ok else 'OFF'}"
            )
            if not ok and status == 0:
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
