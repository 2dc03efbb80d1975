"""Checks a keras_segup head against an official-code parity fixture.

Usage: python tools/check_parity.py FIXTURE.npz [FIXTURE.npz ...]

Builds the head matching the fixture, loads its `param/*` weights with
`keras_segup.convert`, runs `input/*` on the current KERAS_BACKEND and
prints, per `output/*`, the max abs difference and the tolerance from the
fixture's JSON (|ours - official| <= atol + rtol * |official|). Exits 1 if
any output is off, 2 if a fixture is of an unknown kind or unreadable.
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np

from keras_segup import convert
from keras_segup.layers.resizing import resize_bilinear

# kind -> (loader, input names P2..P5, (output name, head output index,
#          upsampled to the image?) ..., align_corners of the final resize)
KINDS = {
    "gai": {
        "marker": "seg_head.fpn_in.0.0.weight",
        "loader": lambda params: convert.load_gai_head(params),
        "inputs": ("c2", "c3", "c4", "c5"),
        "outputs": {
            "logits_lowres": (0, False),
            "logits": (0, True),
            "aux0_logits_lowres": (1, False),
            "aux1_logits_lowres": (2, False),
        },
        "align_corners": False,
    },
    "fanet": {
        "marker": "ffm_32.w_qs.conv.weight",
        "loader": lambda params: convert.load_fanet_head(params),
        "inputs": ("feat4", "feat8", "feat16", "feat32"),
        "outputs": {
            "logits_lowres": (0, False),
            "logits": (0, True),
            "aux1_logits_lowres": (1, False),
            "aux1_logits": (1, True),
            "aux2_logits_lowres": (2, False),
            "aux2_logits": (2, True),
        },
        "align_corners": True,
    },
    "ifa": {
        "marker": "decoder.ifa.imnet.0.weight",
        "loader": lambda params: convert.load_ifa_head(params),
        "inputs": ("x1", "x2", "x3", "x4"),
        "outputs": {
            "logits_lowres": (0, False),
            "logits": (0, True),
            "aux_logits_lowres": (1, False),
            "aux_logits": (1, True),
        },
        "align_corners": True,
    },
}


class FixtureError(Exception):
    pass


def fixture_kind(params):
    for kind, spec in KINDS.items():
        if spec["marker"] in params:
            return kind
    raise FixtureError(
        f"unknown fixture kind: none of the markers "
        f"{[s['marker'] for s in KINDS.values()]} is among its params"
    )


def check(path):
    """Runs one fixture.

    Returns:
        List of `(output name, max abs diff, atol, rtol, ok)`.
    """
    path = Path(path)
    try:
        data = np.load(path)
        spec_json = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError) as error:
        raise FixtureError(f"cannot read fixture {path}: {error}") from error
    params = {k[len("param/") :]: data[k] for k in data.files if k.startswith("param/")}
    kind = KINDS[fixture_kind(params)]
    head = kind["loader"](params)
    features = [np.transpose(data[f"input/{n}"], (0, 2, 3, 1)) for n in kind["inputs"]]
    outputs = head(features, training=False, return_aux=True)
    image_size = tuple(int(n) for n in data["input/image_size"])
    tolerance = spec_json["tolerance_guidance"]
    atol, rtol = tolerance["suggested_atol"], tolerance["suggested_rtol"]
    rows = []
    for name, (index, upsample) in kind["outputs"].items():
        ours = outputs[index]
        if upsample:
            ours = resize_bilinear(ours, image_size, kind["align_corners"])
        ours = np.transpose(keras.ops.convert_to_numpy(ours), (0, 3, 1, 2))
        official = data[f"output/{name}"]
        if ours.shape != official.shape:
            rows.append((name, float("inf"), atol, rtol, False))
            continue
        diff = np.abs(ours.astype(np.float64) - official)
        ok = bool(np.all(diff <= atol + rtol * np.abs(official)))
        rows.append((name, float(diff.max()), atol, rtol, ok))
    return rows


def main(paths):
    if not paths:
        print(__doc__)
        return 2
    status = 0
    for path in paths:
        try:
            rows = check(path)
        except FixtureError as error:
            print(f"{path}: {error}")
            status = 2
            continue
        print(f"{path} on {keras.backend.backend()}:")
        for name, diff, atol, rtol, ok in rows:
            verdict = "ok" if ok else "OFF"
            print(
                f"  {name:<22} max abs diff {diff:.3e}  "
                f"tolerance atol {atol:g} + rtol {rtol:g}  {verdict}"
            )
            if not ok and status == 0:
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
