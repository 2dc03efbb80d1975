"""`QuantizationAwareModel`: the forward pass through the int8 grids, which outputs get ranges,
training that reaches kernels, batch norms and ranges, `.keras` files, and baked kernels that
TFLite's int8 file holds exactly."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_segup.quantization import QuantizationAwareModel
from keras_segup.quantization import fake_quantize_activations
from keras_segup.quantization import fake_quantize_weights
from keras_segup.quantization import quantization_units
from tests.test_case import TestCase

BACKEND = keras.backend.backend()


def conv_bn_relu_conv():
    """conv -> batch norm -> ReLU -> conv: TFLite's int8 file has two tensors, the ReLU's and the
    last convolution's."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs / 255.0)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.ReLU(name="relu")(x)
    return keras.Model(inputs, keras.layers.Conv2D(3, 1, name="classifier")(x))


def frames(count=4, size=(16, 16), seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, *size, 3)).astype("float32")


def labels(count=4, size=(16, 16), classes=3, seed=1):
    return np.random.default_rng(seed).integers(0, classes, (count, *size)).astype("int32")


class TestQuantizationAwareModel(TestCase):
    def test_forward_pass_is_the_int8_files_computation(self):
        keras.utils.set_random_seed(0)
        model = conv_bn_relu_conv()
        qat = QuantizationAwareModel(model, sample_size=(16, 16))
        # the convolution and batch norm are folded into one op before the ReLU: no tensor of their own
        assert len(qat.ranges) == 3  # the input scaling, the ReLU, the classifier
        qat.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(True),
                    metrics=[])
        qat.fit(frames(), labels(), batch_size=2, epochs=1, verbose=0)
        scaled_range, relu_range, logits_range = (self.to_numpy(r) for r in qat.ranges)
        assert 0 <= scaled_range[0] < 0.01 and 0.99 < scaled_range[1] <= 1 and relu_range[0] == 0 < relu_range[1]

        x = frames(2, seed=3)
        conv, norm, classifier = (model.get_layer(n) for n in ("conv", "norm", "classifier"))
        h = fake_quantize_activations(x / 255.0, *scaled_range)
        h = ops.conv(h, fake_quantize_weights(conv.kernel), padding="same") + conv.bias
        h = norm(h, training=False)
        h = fake_quantize_activations(ops.relu(h), *relu_range)
        h = ops.conv(h, fake_quantize_weights(classifier.kernel)) + classifier.bias
        expected = fake_quantize_activations(h, *logits_range)
        np.testing.assert_allclose(self.to_numpy(qat.predict_on_batch(x)), self.to_numpy(expected), atol=1e-5)

    def test_calibrate_sets_the_ranges_of_the_float_network(self):
        keras.utils.set_random_seed(0)
        model = conv_bn_relu_conv()
        qat = QuantizationAwareModel(model, sample_size=(16, 16))
        images = frames(5)
        qat.calibrate(images, batch_size=2)
        hidden = keras.Model(model.inputs, model.get_layer("relu").output).predict_on_batch(images)
        logits = model.predict_on_batch(images)
        np.testing.assert_allclose(np.stack([self.to_numpy(r) for r in qat.ranges]),
                                   [[images.min() / 255, images.max() / 255], [0.0, hidden.max()],
                                    [logits.min(), logits.max()]], rtol=1e-5)
        with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
            qat.calibrate(images[0])

    def test_conv_batch_norm_act_is_one_unit(self):
        from keras_segup.layers.conv_bn_act import ConvBNAct

        model = self.small_segmenter("gai")
        units = quantization_units(model)
        assert any(isinstance(unit, ConvBNAct) for unit in units)
        inner = {id(layer) for unit in units if isinstance(unit, ConvBNAct) for layer in unit._flatten_layers(False)}
        assert not inner & {id(unit) for unit in units}

    def test_one_fit_step_trains_kernels_statistics_and_ranges(self):
        keras.utils.set_random_seed(0)
        model = self.small_segmenter("fanet")
        model(np.zeros((1, 64, 64, 3), "float32"))
        qat = QuantizationAwareModel(model, sample_size=(64, 64), freeze_batch_norm=False)
        assert qat.trainable_variables and len(qat.trainable_variables) == len(model.trainable_variables)
        kernels = {v.path: self.to_numpy(v) for v in model.trainable_variables if v.name == "kernel"}
        means = {v.path: self.to_numpy(v) for v in model.non_trainable_variables if v.name == "moving_mean"}
        qat.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = qat.fit(frames(2, (64, 64)), labels(2, (64, 64), 5), batch_size=2, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0]) and "mean_iou" in history.history
        changed = lambda before, variables: sum(  # noqa: E731
            not np.array_equal(before[v.path], self.to_numpy(v)) for v in variables if v.path in before)
        assert changed(kernels, model.trainable_variables) == len(kernels)  # the gradient passes the rounding
        assert changed(means, model.non_trainable_variables) == len(means)
        ranges = np.stack([self.to_numpy(r) for r in qat.ranges])
        assert np.all(ranges[:, 0] <= ranges[:, 1]) and len(ranges) > 40  # every range was set

    def test_batch_norms_keep_their_statistics_by_default(self):
        keras.utils.set_random_seed(0)
        model = conv_bn_relu_conv()
        norm = model.get_layer("norm")
        norm.moving_mean.assign(np.full(4, 0.3, "float32"))
        qat = QuantizationAwareModel(model, sample_size=(16, 16))
        qat.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(True),
                    metrics=[])
        qat.fit(frames(), labels(), batch_size=2, epochs=1, verbose=0)
        np.testing.assert_array_equal(self.to_numpy(norm.moving_mean), np.full(4, 0.3, "float32"))
        assert not np.array_equal(self.to_numpy(norm.gamma), np.ones(4))  # its scale trains

    def test_frozen_batch_norm_folded_into_its_convolution_still_normalizes(self):
        from keras_segup.layers import BatchNormalization
        from keras_segup.layers import Conv2D

        def model(fold):
            keras.utils.set_random_seed(0)
            inputs = keras.Input((None, None, 3))
            conv, norm = Conv2D(4, 3, padding="same", use_bias=False), BatchNormalization()
            outputs = keras.layers.Conv2D(3, 1)(keras.layers.ReLU()(norm(conv(inputs / 255.0))))
            norm.moving_mean.assign(np.full(4, 0.2, "float32"))
            norm.moving_variance.assign(np.full(4, 0.01, "float32"))
            if fold:
                conv.fold(norm)  # as the papers' ResNets do
            return QuantizationAwareModel(keras.Model(inputs, outputs), sample_size=(16, 16))

        x = frames(2)
        plain, folded = model(False), model(True)
        np.testing.assert_allclose(self.to_numpy(folded(x, training=True)), self.to_numpy(plain(x, training=True)),
                                   atol=1e-4)

    @pytest.mark.one_backend("torch")  # the per-backend parts are tested above
    def test_keras_file_round_trip(self, tmp_path):
        keras.utils.set_random_seed(0)
        model = self.small_segmenter("gai")
        model(np.zeros((1, 64, 64, 3), "float32"))
        qat = QuantizationAwareModel(model, momentum=0.9, sample_size=(64, 64))
        qat.compile(optimizer=keras.optimizers.Adam(1e-3))
        qat.fit(frames(2, (64, 64)), labels(2, (64, 64), 5), batch_size=2, epochs=1, verbose=0)
        qat.save(tmp_path / "qat.keras")
        loaded = keras.saving.load_model(tmp_path / "qat.keras")
        assert isinstance(loaded, QuantizationAwareModel) and loaded.momentum == 0.9
        np.testing.assert_array_equal(np.stack([self.to_numpy(r) for r in loaded.ranges]),
                                      np.stack([self.to_numpy(r) for r in qat.ranges]))
        x = frames(1, (64, 64), seed=5)
        np.testing.assert_allclose(self.to_numpy(loaded.predict_on_batch(x)),
                                   self.to_numpy(qat.predict_on_batch(x)), atol=1e-5)
        loaded.fit(frames(2, (64, 64)), labels(2, (64, 64), 5), batch_size=2, epochs=1, verbose=0)  # compiled

    def test_bake_writes_kernels_on_the_grid(self):
        model = conv_bn_relu_conv()
        qat = QuantizationAwareModel(model, sample_size=(16, 16))
        before = self.predict_classes(model)
        qat.bake()
        for layer in ("conv", "classifier"):
            kernel = self.to_numpy(model.get_layer(layer).kernel)
            np.testing.assert_allclose(self.to_numpy(fake_quantize_weights(kernel)), kernel, rtol=1e-6, atol=1e-7)
        assert (self.predict_classes(model) == before).mean() > 0.9

    @staticmethod
    def predict_classes(model):
        return model.predict_on_batch(frames(2, seed=7)).argmax(-1)

    @pytest.mark.parametrize("momentum", [1.0, -0.1])
    def test_momentum_out_of_range_is_refused(self, momentum):
        with pytest.raises(ValueError, match="momentum"):
            QuantizationAwareModel(conv_bn_relu_conv(), momentum=momentum)

    def test_defaults_of_compile_are_a_segmenters(self):
        with pytest.raises(ValueError, match="pass `optimizer`, `loss` and `metrics` for the Functional model"):
            QuantizationAwareModel(conv_bn_relu_conv(), sample_size=(16, 16)).compile(optimizer="adam")

    @pytest.mark.skipif(BACKEND != "tensorflow", reason="the TFLite converter runs in process on TensorFlow")
    def test_int8_file_holds_the_baked_kernels(self, tmp_path):
        import tensorflow as tf

        from keras_segup.export.tflite import convert_tflite

        inputs = keras.Input((None, None, 3))  # no scaling: TFLite would fold it into the kernel
        hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
        model = keras.Model(inputs, keras.layers.Conv2D(3, 1, name="classifier")(hidden))
        QuantizationAwareModel(model, sample_size=(16, 16)).bake()
        convert_tflite(model, tmp_path / "m.tflite", {"input_size": (16, 16), "output": "logits",
                                                      "quantization": "int8", "representative_data": frames(8) / 255})
        interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "m.tflite"))
        tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
        filters = [tensors[op["inputs"][1]] for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
        assert len(filters) == 2
        for layer, tensor in zip(("conv", "classifier"), filters):
            assert tensor["dtype"] == np.int8
            scales = tensor["quantization_parameters"]["scales"]
            stored = interpreter.get_tensor(tensor["index"]).astype("float32") * scales[:, None, None, None]
            kernel = self.to_numpy(model.get_layer(layer).kernel).transpose(3, 0, 1, 2)  # HWIO -> OHWI
            np.testing.assert_allclose(stored, kernel, rtol=1e-6, atol=1e-7)
