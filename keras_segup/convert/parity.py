"""Checks a converted head against an official-code parity fixture.

A fixture is `NAME.npz` (`param/<official key>`, `input/<name>` NCHW and
`input/image_size`, `output/<name>` NCHW) with its specification
`NAME.json` beside it (`tolerance_guidance.suggested_atol/rtol`). Each
family's `<family>_parity.py` says how its fixture maps onto our head.
"""

import json
from pathlib import Path

import keras
import numpy as np

from keras_segup.models.fanet.fanet_parity import FANET_PARITY
from keras_segup.models.gai.gai_parity import GAI_PARITY
from keras_segup.models.ifa.ifa_parity import IFA_PARITY
from keras_segup.ops import resize_bilinear

PARITY_SPECS = {"gai": GAI_PARITY, "fanet": FANET_PARITY, "ifa": IFA_PARITY}


class FixtureError(ValueError):
    """A fixture that cannot be read or is of no known kind."""


def fixture_kind(params):
    """The family whose marker key is among the fixture's parameters."""
    for kind, spec in PARITY_SPECS.items():
        if spec["marker"] in params:
            return kind
    raise FixtureError(
        "unknown fixture kind: none of the markers "
        f"{[s['marker'] for s in PARITY_SPECS.values()]} is among its params"
    )


def check_fixture(path):
    """Converts the fixture's weights, runs its inputs and compares every output.

    Args:
        path: the `.npz` file; its `.json` specification lies beside it.

    Returns:
        A list of `(output name, max abs diff, atol, rtol, ok)`, where ok
        means `|ours - official| <= atol + rtol * |official|` everywhere.

    Raises:
        FixtureError: when the fixture cannot be read or is of no known kind.

    Example:
    ```python
    rows = check_fixture("../shared/parity/gai_public.npz")
    ```
    """
    path = Path(path)
    try:
        data = np.load(path)
        specification = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError) as error:
        raise FixtureError(f"cannot read fixture {path}: {error}") from error
    params = {k[len("param/") :]: data[k] for k in data.files if k.startswith("param/")}
    spec = PARITY_SPECS[fixture_kind(params)]
    head = spec["loader"](params)
    features = [np.transpose(data[f"input/{n}"], (0, 2, 3, 1)) for n in spec["inputs"]]
    outputs = head(features, training=False, return_aux=True)
    image_size = tuple(int(n) for n in data["input/image_size"])
    tolerance = specification["tolerance_guidance"]
    atol, rtol = tolerance["suggested_atol"], tolerance["suggested_rtol"]
    rows = []
    for name, (index, upsample) in spec["outputs"].items():
        ours = outputs[index]
        if upsample:
            ours = resize_bilinear(ours, image_size, head.align_corners)
        ours = np.transpose(keras.ops.convert_to_numpy(ours), (0, 3, 1, 2))
        official = data[f"output/{name}"]
        if ours.shape != official.shape:
            rows.append((name, float("inf"), atol, rtol, False))
            continue
        diff = np.abs(ours.astype(np.float64) - official)
        ok = bool(np.all(diff <= atol + rtol * np.abs(official)))
        rows.append((name, float(diff.max()), atol, rtol, ok))
    return rows
