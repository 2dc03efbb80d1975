"""Checks every family against its official-code fixture in ../shared/parity."""

import numpy as np
import pytest

from keras_segup import convert
from keras_segup.convert.parity import FixtureError
from keras_segup.convert.parity import check_fixture


@pytest.mark.parametrize("kind", ["gai", "ifa", "fanet"])
def test_official_fixture(kind, shared_dir):
    rows = check_fixture(shared_dir / "parity" / f"{kind}_public.npz")
    assert len(rows) >= 4
    off = [(name, diff) for name, diff, _, _, ok in rows if not ok]
    assert not off, f"outputs off the official ones: {off}"


def test_unknown_fixture_kind(tmp_path):
    path = tmp_path / "mystery.npz"
    np.savez(path, **{"param/foo.weight": np.zeros(3), "input/x": np.zeros(3)})
    path.with_suffix(".json").write_text("{}")
    with pytest.raises(FixtureError, match="unknown fixture kind"):
        check_fixture(path)


def test_missing_fixture(tmp_path):
    with pytest.raises(FixtureError, match="cannot read fixture"):
        check_fixture(tmp_path / "absent.npz")


def test_wrong_output_is_reported_off(shared_dir, tmp_path):
    data = dict(np.load(shared_dir / "parity" / "fanet_public.npz"))
    data["output/logits"] = data["output/logits"] + 0.01
    path = tmp_path / "fanet_public.npz"
    np.savez(path, **data)
    path.with_suffix(".json").write_text((shared_dir / "parity" / "fanet_public.json").read_text())
    verdicts = {name: ok for name, _, _, _, ok in check_fixture(path)}
    assert verdicts["logits"] is False and verdicts["logits_lowres"] is True


def test_converter_errors(shared_dir):
    data = np.load(shared_dir / "parity" / "gai_public.npz")
    params = {k[6:]: data[k] for k in data.files if k.startswith("param/")}
    missing = dict(params)
    del missing["seg_head.merge.3.weight"]
    with pytest.raises(ValueError, match=r"(?s)missing keys \(1\).*seg_head.merge.3.weight"):
        convert.load_gai_head(missing)
    extra = {**params, "backbone.conv1.weight": np.zeros((64, 3, 3, 3), "float32")}
    with pytest.raises(ValueError, match="(?s)unexpected keys.*backbone.conv1.weight.*strict=False"):
        convert.load_gai_head(extra)
    assert convert.load_gai_head(extra, strict=False).built
    wrong = {**params, "seg_head.merge.3.weight": np.zeros((128, 128, 1, 1), "float32")}
    with pytest.raises(ValueError, match="(?s)shape mismatches:.*seg_head.merge.3.weight"):
        convert.load_gai_head(wrong)
    prefixed = {f"module.{k}": v for k, v in params.items()}
    assert convert.load_gai_head(prefixed, strip_prefix="module.").built
    with pytest.raises(ValueError, match="not a checkpoint of this head"):
        convert.load_ifa_head(params)


def test_failed_conversion_writes_nothing(shared_dir):
    data = np.load(shared_dir / "parity" / "fanet_public.npz")
    params = {k[6:]: data[k] for k in data.files if k.startswith("param/")}
    head = convert.load_fanet_head(params)
    before = [np.array(w) for w in head.get_weights()]
    broken = dict(params)
    broken["clslayer_8.conv_out.weight"] = np.zeros((3, 3), "float32")
    broken["ffm_32.w_qs.conv.weight"] = params["ffm_32.w_qs.conv.weight"] * 2
    with pytest.raises(ValueError, match="shape mismatches"):
        convert.load_fanet_head(broken, head=head)
    for a, b in zip(before, head.get_weights()):
        np.testing.assert_array_equal(a, b)
