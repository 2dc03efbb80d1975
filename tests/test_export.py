"""Export: every family to TFLite and ONNX (on the TensorFlow backend, in process),
the round trip from JAX- and torch-built models (TensorFlow subprocess), quantized
files, and refusals that leave no file behind."""

import keras
import numpy as np
import pytest

from keras_segup.export import ExportError
from keras_segup.export import export_onnx
from keras_segup.export import export_tflite
from keras_segup.export.common import verify
from keras_segup.export.onnx import onnx_runner
from keras_segup.export.tflite import convert_tflite
from keras_segup.export.tflite import isolated_runner
from keras_segup.export.tflite import tflite_runner
from tests.test_case import TestCase

SIZE = (128, 256)
BACKEND = keras.backend.backend()
only_tensorflow = pytest.mark.skipif(BACKEND != "tensorflow", reason="family sweep runs in process on TensorFlow")


def tf_ops(path):
    """The ops of a `.tflite` file."""
    import tensorflow as tf

    return tf.lite.Interpreter(model_path=str(path))._get_ops_details()


def per_pixel_model(classes=4):
    """Logits with wide margins that depend on colour alone: quantizes cleanly."""
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(classes, 1)(inputs / 255.0 - 0.5))
    kernel = (np.eye(3, classes, dtype="float32") * 40.0)[None, None]
    model.layers[-1].set_weights([kernel, np.zeros(classes, "float32")])
    return model


def unverified_int8_logits(model, path, frames, runner):
    """Converts `model` to int8 TFLite at the frames' size without the agreement check (random
    weights leave near ties) and runs `runner` on the first two frames."""
    convert_tflite(model, path, {"input_size": frames.shape[1:3], "output": "logits", "quantization": "int8",
                                 "representative_data": frames})
    return runner(path)(frames[:2])


class TestExport(TestCase):
    @only_tensorflow
    @pytest.mark.parametrize("family", ["fanet", "gai", "ifa", "rsp"])
    def test_family_exports_to_both_formats(self, family, tmp_path):
        model = self.small_segmenter(family, self.tiny_backbone())
        report = export_tflite(model, tmp_path / "m.tflite", SIZE)
        assert report["max_abs_diff"] <= 1e-3 and report["class_agreement"] >= 0.9999
        classes = export_onnx(model, tmp_path / "m.onnx", SIZE, output="classes")
        assert classes["class_agreement"] >= 0.9999
        x = np.random.default_rng(0).uniform(0, 255, (1, *SIZE, 3)).astype("float32")
        got = onnx_runner(tmp_path / "m.onnx")(x)
        assert got.dtype == np.int32 and got.shape == (1, *SIZE)
        np.testing.assert_array_equal(got, model.segment(x))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.tflite"]

    @only_tensorflow
    @pytest.mark.parametrize("family", ["gai", "rsp"])
    def test_onnx_at_a_size_the_levels_do_not_divide(self, family, tmp_path):
        # 130x258: the stride-4 level is 33x65, and 33 -> 130 is no whole factor; ONNX's shape
        # inference floored tf2onnx's resize scales to 129 and refused the graph
        model = self.small_segmenter(family, self.tiny_backbone())
        report = export_onnx(model, tmp_path / "m.onnx", (130, 258))
        assert report["max_abs_diff"] <= 1e-3 and report["class_agreement"] >= 0.9999

    @only_tensorflow
    def test_ifa_onnx_takes_any_size(self, tmp_path):
        # traced at a static size, tf2onnx would fold IFA's positional encodings
        # into constants that grow with the image (8 KB per stride-4 pixel)
        model = self.small_segmenter("ifa", self.tiny_backbone())
        export_onnx(model, tmp_path / "m.onnx", SIZE)
        run = onnx_runner(tmp_path / "m.onnx")
        x = np.random.default_rng(0).uniform(0, 255, (1, 96, 160, 3)).astype("float32")
        np.testing.assert_allclose(run(x), self.to_numpy(model.predict_on_batch(x)), atol=1e-4)

    @pytest.mark.skipif(BACKEND == "tensorflow", reason="the round trip starts from jax or torch")
    def test_model_trained_under_this_backend_exports_via_tensorflow(self, tmp_path):
        model = self.small_segmenter("fanet", self.tiny_backbone())
        model.compile(total_steps=10, warmup_steps=1)
        labels = np.random.default_rng(1).integers(0, 5, (2, *SIZE)).astype("int32")
        model.fit(np.random.default_rng(2).uniform(0, 255, (2, *SIZE, 3)), labels, epochs=1, verbose=0)
        # one format per backend (the subprocess path is the same for both):
        # TFLite from jax, which has no TFLite path of its own; ONNX from torch
        if BACKEND == "jax":
            report = export_tflite(model, tmp_path / "m.tflite", SIZE, output="classes")
            assert report["class_agreement"] >= 0.9999
        else:
            report = export_onnx(model, tmp_path / "m.onnx", SIZE)
            assert report["max_abs_diff"] <= 1e-3 and report["class_agreement"] >= 0.9999
        assert report["converted_by"].startswith("tensorflow (subprocess")

    @pytest.mark.skipif(BACKEND == "tensorflow", reason="the subprocess conversion starts from jax or torch")
    def test_selective_options_reach_the_tensorflow_subprocess(self, tmp_path):
        frames = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
        inputs = keras.Input((None, None, 3))
        model = keras.Model(inputs, keras.layers.Add()([per_pixel_model()(inputs), per_pixel_model()(inputs)]))
        report = export_tflite(model, tmp_path / "m.tflite", SIZE, "int8", frames, keep_float=("ADD",))
        assert report["converted_by"].startswith("tensorflow (subprocess") and report["class_agreement"] >= 0.97
        with pytest.raises(ExportError, match=r"keep_float names \['SOFTMAX'\], which this model has none of"):
            export_tflite(per_pixel_model(), tmp_path / "n.tflite", SIZE, "int8", frames, keep_float=("SOFTMAX",))

    @only_tensorflow
    def test_quantized_tflite(self, tmp_path, monkeypatch):
        import subprocess

        from keras_segup.export import tflite

        children, run = [], subprocess.run

        def counted(*args, **kwargs):
            children.append(args)
            return run(*args, **kwargs)

        monkeypatch.setattr(tflite.subprocess, "run", counted)
        model = per_pixel_model()
        frames = np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype("float32")
        half = export_tflite(model, tmp_path / "f16.tflite", SIZE, quantization="float16")
        full = export_tflite(model, tmp_path / "i8.tflite", SIZE, quantization="int8",
                             representative_data=frames, output="classes")
        assert half["class_agreement"] >= 0.999 and full["class_agreement"] >= 0.97
        assert len(children) == 1  # the four verification images run in one child process
        assert full["bytes"] < half["bytes"] * 2
        x = np.random.default_rng(3).uniform(0, 255, (1, *SIZE, 3)).astype("float32")
        assert tflite_runner(tmp_path / "i8.tflite")(x).dtype == np.int32

    @pytest.mark.parametrize("scale, passes", [(10.0, False), (1000.0, True)])
    def test_float32_logit_tolerance(self, scale, passes):
        # 1e-3 for logits of trained magnitude; 1e-5 of the largest |logit| beyond 100
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Rescaling(scale / 255.0)])
        images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")

        def shifted(x):
            return self.to_numpy(model.predict_on_batch(x)) + 2e-3

        if passes:
            assert verify(model, shifted, images, "logits", None)["class_agreement"] == 1.0
        else:
            with pytest.raises(ExportError, match="max abs logit difference 2.0.e-03"):
                verify(model, shifted, images, "logits", None)

    @only_tensorflow
    def test_failed_verification_leaves_no_file(self, tmp_path):
        # random-weight FANet logits are near ties: int8 cannot keep the class maps
        keras.utils.set_random_seed(1)
        model = self.small_segmenter("fanet", self.tiny_backbone())
        frames = np.random.default_rng(0).uniform(0, 255, (4, *SIZE, 3)).astype("float32")
        with pytest.raises(ExportError, match="disagrees with Keras: class maps agree on"):
            export_tflite(model, tmp_path / "i8.tflite", SIZE, quantization="int8", representative_data=frames)
        assert list(tmp_path.iterdir()) == []

    @only_tensorflow
    def test_dynamic_range_and_16x8(self, tmp_path):
        model = per_pixel_model()
        frames = np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype("float32")
        full = export_tflite(model, tmp_path / "f32.tflite", SIZE)
        weights = export_tflite(model, tmp_path / "dr.tflite", SIZE, quantization="dynamic_range")
        wide = export_tflite(model, tmp_path / "16x8.tflite", SIZE, quantization="int16x8",
                             representative_data=frames)
        assert weights["class_agreement"] >= 0.97 and wide["class_agreement"] >= 0.97
        ops = {
            name: {op["op_name"] for op in tf_ops(tmp_path / f"{name}.tflite")} for name in ("dr", "16x8")
        }
        assert "QUANTIZE" in ops["16x8"] and "QUANTIZE" not in ops["dr"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["16x8.tflite", "dr.tflite", "f32.tflite"]
        assert full["bytes"] > 0

    @only_tensorflow
    def test_selective_int8_keeps_the_most_lossy_layers_float(self, tmp_path):
        import tensorflow as tf

        inputs = keras.Input((None, None, 3))
        first = per_pixel_model()
        second = keras.layers.Conv2D(4, 1)  # the identity: two quantized convolutions
        model = keras.Model(inputs, second(first(inputs)))
        second.set_weights([np.eye(4, dtype="float32")[None, None], np.zeros(4, "float32")])
        frames = np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype("float32")
        for keep in (0, 1):
            report = export_tflite(model, tmp_path / f"k{keep}.tflite", SIZE, "int8", frames, keep_float=keep)
            assert report["class_agreement"] >= 0.97
        float_convs = {}
        for keep in (0, 1):
            interpreter = tf.lite.Interpreter(model_path=str(tmp_path / f"k{keep}.tflite"))
            dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
            float_convs[keep] = sum(
                dtypes[op["inputs"][0]] == np.float32
                for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"
            )
        assert float_convs == {0: 0, 1: 1}  # one of the two convolutions, kept in float

    @only_tensorflow
    def test_int8_products_of_two_activations_can_stay_float(self, tmp_path):
        # FANet's K^T V and Q (K^T V): TFLite's int8 BATCH_MATMUL of two activations loses the result
        keras.utils.set_random_seed(0)
        inputs = keras.Input((None, None, 3))
        features = keras.layers.Conv2D(8, 1, activation="relu")(inputs / 255.0)
        key = keras.layers.Conv2D(4, 1)(features)
        value = keras.layers.Conv2D(4, 1, activation="relu")(features)
        context = keras.ops.einsum("bhwd,bhwc->bdc", key, value)
        model = keras.Model(inputs, keras.ops.einsum("bhwd,bdc->bhwc", key, context))
        frames = np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype("float32")
        with pytest.raises(ExportError, match="class maps agree on"):
            export_tflite(model, tmp_path / "full.tflite", (64, 64), "int8", frames)
        report = export_tflite(model, tmp_path / "m.tflite", (64, 64), "int8", frames, keep_float=("BATCH_MATMUL",))
        assert report["class_agreement"] >= 0.99
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "m.tflite"))
        dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
        ops = interpreter._get_ops_details()
        assert {dtypes[op["inputs"][0]] for op in ops if op["op_name"] == "BATCH_MATMUL"} == {np.float32}
        assert {dtypes[op["inputs"][0]] for op in ops if op["op_name"] == "CONV_2D"} == {np.int8}
        assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]

    @only_tensorflow
    def test_kept_op_the_model_lacks_is_named(self, tmp_path):
        with pytest.raises(ExportError, match=r"keep_float names \['SOFTMAX'\], which this model has none of; "
                                              r"its TFLite ops are \[.*'CONV_2D'"):
            export_tflite(per_pixel_model(), tmp_path / "m.tflite", SIZE, "int8",
                          np.zeros((2, 64, 64, 3), "float32"), keep_float=("SOFTMAX",))
        assert list(tmp_path.iterdir()) == []

    def test_lossy_layers_are_ranked_by_steps_of_error(self, monkeypatch):
        import tensorflow as tf

        from keras_segup.export import tflite

        dump = "op_name,tensor_idx,num_elements,mean_squared_error,scale,tensor_name\n" \
               "CONV_2D,1,10,0.01,0.1,a\nCONV_2D,2,10,4.0,1.0,b\nMUL,3,10,0.09,0.01,c\nMUL,4,10,1.0,0.0,d\n"

        class Debugger:
            def __init__(self, **kwargs):
                pass

            def run(self):
                pass

            def layer_statistics_dump(self, file):
                file.write(dump)

        monkeypatch.setattr(tf.lite.experimental, "QuantizationDebugger", Debugger)
        # RMSE / scale: c 30 steps, b 2, a 1; d has no scale (not quantized)
        assert tflite._most_lossy_tensors(None, None, 2) == ["c", "b"]

    @only_tensorflow
    def test_a_file_that_crashes_the_runtime_is_refused_not_fatal(self, tmp_path):
        # an int8 -inf (GAI's column mask once was one) aborts the TFLite runtime as it prepares
        # the file: calibrated files are run in a child process
        inputs = keras.Input((None, None, 3))
        masked = keras.layers.Lambda(lambda x: keras.ops.where(x > 128.0, float("-inf"), x))(inputs)
        model = keras.Model(inputs, keras.layers.Conv2D(4, 1)(keras.ops.exp(masked - 255.0) + inputs))
        frames = np.random.default_rng(0).uniform(0, 255, (4, 64, 128, 3)).astype("float32")
        with pytest.raises(ExportError, match=r"runtime cannot run this file .*killed by signal 6"):
            export_tflite(model, tmp_path / "m.tflite", (64, 128), "int8", frames)
        assert list(tmp_path.iterdir()) == []

    @only_tensorflow
    def test_gai_quantizes_to_a_file_the_runtime_runs(self, tmp_path):
        keras.utils.set_random_seed(0)
        model = self.small_segmenter("gai", self.tiny_backbone())
        model(np.zeros((1, 64, 128, 3), "float32"))
        for variable in model.weights:
            if variable.path.endswith("gamma") and "attention" in variable.path:
                variable.assign([0.5])  # the criss-cross attention counts (it starts at 0)
        frames = np.random.default_rng(0).uniform(0, 255, (4, 64, 128, 3)).astype("float32")
        # the runtime once aborted on GAI's -inf mask, then refused its int8 division
        logits = unverified_int8_logits(model, tmp_path / "m.tflite", frames, isolated_runner)
        assert logits.shape == (2, 64, 128, 5) and np.isfinite(logits).all()

    @only_tensorflow
    def test_rsp_quantizes_to_a_file_the_runtime_runs(self, tmp_path):
        # RSP's outside-the-map mask was a -inf logit: with a learned (nonzero) offset
        # embedding, its int8 file aborted the runtime
        from keras_segup.models.rsp.rsp_layers import RelationalSemanticsExtractor

        keras.utils.set_random_seed(0)
        inputs = keras.Input((None, None, 3))
        low = keras.layers.Conv2D(16, 3, strides=4, padding="same", activation="relu")(inputs / 255.0)
        high = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(low)
        extractor = RelationalSemanticsExtractor(key_channels=8, num_heads=2)
        model = keras.Model(inputs, keras.layers.Conv2D(4, 1)(extractor([low, high])))
        extractor.position_embedding.assign(np.random.default_rng(0).normal(size=(9, 2)) * 2)
        frames = np.random.default_rng(0).uniform(0, 255, (4, 64, 128, 3)).astype("float32")
        report = export_tflite(model, tmp_path / "m.tflite", (64, 128), "int8", frames)
        assert report["class_agreement"] >= 0.97

    @only_tensorflow
    def test_rsp_quantizes_to_16x8_the_runtime_runs(self, tmp_path):
        # the region softmax was 5-D (B, H, W, k*k, G): TFLite's int16 SOFTMAX takes at most 4
        keras.utils.set_random_seed(0)
        model = self.small_segmenter("rsp", self.tiny_backbone())
        frames = np.random.default_rng(0).uniform(0, 255, (2, 64, 128, 3)).astype("float32")
        convert_tflite(model, tmp_path / "m.tflite", {"input_size": (64, 128), "output": "logits",
                                                      "quantization": "int16x8", "representative_data": frames})
        logits = isolated_runner(tmp_path / "m.tflite")(frames)
        assert logits.shape == (2, 64, 128, 5) and np.isfinite(logits).all()

    @only_tensorflow
    def test_max_pooled_maps_quantize_to_a_file_xnnpack_prepares(self, tmp_path):
        # the papers' ResNets max-pool with PyTorch's padding: padded with -inf, the pooled map's
        # int8 range was infinite and XNNPACK refused the next convolution
        from keras_segup.backbones.torch_layers import TorchMaxPool2D

        inputs = keras.Input((None, None, 3))
        pooled = TorchMaxPool2D(3, 1, 1, ceil_mode=True)(inputs / 255.0 - 0.5)
        model = keras.Model(inputs, keras.layers.Conv2D(4, 1)(pooled))
        model.layers[-1].set_weights([(np.eye(3, 4, dtype="float32") * 40.0)[None, None], np.zeros(4, "float32")])
        frames = np.random.default_rng(0).uniform(0, 255, (4, 64, 128, 3)).astype("float32")
        report = export_tflite(model, tmp_path / "m.tflite", (64, 128), "int8", frames)
        assert report["class_agreement"] >= 0.97
        assert "PADV2" not in {op["op_name"] for op in tf_ops(tmp_path / "m.tflite")}

    @only_tensorflow
    def test_ifa_quantizes_to_a_file_xnnpack_prepares(self, tmp_path):
        # the finest level's positional encoding is a constant (offset 0 on its own grid): as a
        # product of all-zero tensors (too large for the converter to fold at this size) its
        # int8 scale was ~1e-8, and XNNPACK refused the file
        keras.utils.set_random_seed(0)
        model = self.small_segmenter("ifa", self.tiny_backbone())
        frames = np.random.default_rng(0).uniform(0, 255, (2, 256, 512, 3)).astype("float32")
        logits = unverified_int8_logits(model, tmp_path / "m.tflite", frames, tflite_runner)
        assert logits.shape == (2, 256, 512, 5) and np.isfinite(logits).all()

    @only_tensorflow
    def test_a_file_the_interpreter_cannot_run_is_refused(self, tmp_path, monkeypatch):
        import tensorflow as tf

        def unprepared(self):
            raise RuntimeError("failed to create XNNPACK runtime")

        monkeypatch.setattr(tf.lite.Interpreter, "allocate_tensors", unprepared)
        with pytest.raises(ExportError, match="interpreter cannot prepare this file: failed to create XNNPACK runtime"):
            export_tflite(per_pixel_model(), tmp_path / "m.tflite", SIZE)
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize(
        "call, message",
        [
            (lambda m, p: export_tflite(m, p, (None, None)), "static input size"),
            (lambda m, p: export_tflite(m, p, SIZE, quantization="int4"), "Unknown quantization"),
            (lambda m, p: export_tflite(m, p, SIZE, quantization="int8"), "representative_data"),
            (lambda m, p: export_tflite(m, p, SIZE, quantization="int16x8"), "int16x8 quantization calibrates"),
            (lambda m, p: export_tflite(m, p, SIZE, keep_float=2), "Use it with quantization='int8'"),
            (lambda m, p: export_tflite(m, p, SIZE, "int8", np.zeros((1, 8, 8, 3)), keep_float=-1),
             "keep_float must be a number of layers"),
            (lambda m, p: export_tflite(m, p, SIZE, "int8", np.zeros((1, 8, 8, 3)), keep_float=("batch_matmul",)),
             r"or TFLite op names such as \('BATCH_MATMUL',\); got \('batch_matmul',\)"),
            (lambda m, p: export_tflite(m, p, SIZE, "int8", np.zeros((1, 8, 8, 3)), keep_float=()),
             "keep_float must be a number of layers"),
            (lambda m, p: export_onnx(m, p, SIZE, opset=9), "Opset 9 is not supported"),
            (lambda m, p: export_onnx(m, p, SIZE, output="probabilities"), "Unknown output"),
            (lambda m, p: export_onnx(m, p.parent / "missing" / "m.onnx", SIZE), "does not exist"),
        ],
    )
    def test_refused_before_anything_is_written(self, call, message, tmp_path):
        with pytest.raises(ExportError, match=message):
            call(per_pixel_model(), tmp_path / "m.onnx")
        assert list(tmp_path.iterdir()) == []
