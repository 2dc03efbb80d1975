"""What an installed package (not the checkout) and a machine without TensorFlow can do."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]

# None in sys.modules: `import tensorflow` raises ImportError and
# `importlib.util.find_spec("tensorflow")` says None, as when it is not installed
BLOCK_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = None
"""

WITHOUT_TENSORFLOW = BLOCK_TENSORFLOW + """
import numpy as np
import keras_segup.models
from keras_segup.models import FANetSegmenter, Segmenter
from keras_segup import inference, layers, ops
from tests.test_case import TestCase
model = TestCase.small_segmenter("fanet")
classes = model.segment(np.zeros((1, 64, 96, 3), "float32"))
assert classes.shape == (1, 64, 96)
Segmenter.from_preset("gai_cityscapes", load_weights=False)
from keras_segup.quantization import QuantizationAwareModel
QuantizationAwareModel(model, sample_size=(64, 96)).calibrate(np.zeros((1, 64, 96, 3), "float32"))
assert sys.modules["tensorflow"] is None
try:
    import keras_segup.data
except ImportError as error:
    print("DATA:", error)
try:
    import keras_segup.export
except ImportError as error:
    print("EXPORT:", error)
"""


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="the tensorflow backend is TensorFlow")
def test_models_work_without_tensorflow():
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "DATA: keras_segup.data (tf.data pipelines) needs TensorFlow" in out.stdout
    assert "EXPORT: keras_segup.export (TFLite and ONNX, converted by TensorFlow) needs TensorFlow" in out.stdout
    assert "pip install tensorflow" in out.stdout


PRESET_FACTS = """
import json, keras_segup
from keras_segup.models import Segmenter
from keras_segup.presets import list_presets
import io, contextlib
with contextlib.redirect_stdout(io.StringIO()):
    rows = list_presets()
model = Segmenter.from_preset("ifa_r50_ade20k", load_weights=False)
print("FACTS " + json.dumps({
    "file": keras_segup.__file__, "rows": rows,
    "classes": model.class_names[:3], "palette": model.palette[:2], "config": model.head.get_config(),
}))
"""


def preset_facts(python, cwd):
    out = subprocess.run(
        [python, "-c", PRESET_FACTS], cwd=cwd, capture_output=True, text=True, timeout=600,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = [line for line in out.stdout.splitlines() if line.startswith("FACTS ")][-1]
    return json.loads(line[len("FACTS "):])


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="backend-independent: run once, under jax")
def test_a_wheel_knows_the_same_presets(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "dist"), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )
    (wheel,) = (tmp_path / "dist").glob("keras_segup-*.whl")
    # a fresh venv that sees this environment's dependencies but not the checkout
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, str(wheel)],
        check=True, capture_output=True, timeout=600,
    )
    installed = preset_facts(python, tmp_path)
    editable = preset_facts(sys.executable, ROOT)
    assert installed["file"].startswith(site) and not editable["file"].startswith(site)
    assert installed["rows"] == editable["rows"] and len(installed["rows"]) >= 9
    assert all(row["parameters"] and row["gflops"] for row in installed["rows"])
    for key in ("classes", "palette", "config"):
        assert installed[key] == editable[key]
