import contextlib
import itertools

import keras
import numpy as np
from keras import ops

from keras_segup.layers.conv2d import Conv2D
from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.models.segmenter import Segmenter
from keras_segup.quantization.fake_quant import fake_quantize_activations
from keras_segup.quantization.fake_quant import fake_quantize_weights
from keras_segup.utils.compat import consumers
from keras_segup.utils.compat import direct_sublayers

KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")
# layers whose output TFLite folds or fuses into the op that reads it, where `_fused_into` says it does
FUSING = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense, keras.layers.BatchNormalization)


def _fused_into(operation):
    if isinstance(operation, keras.layers.BatchNormalization):
        return True
    if isinstance(operation, keras.layers.ReLU):
        return operation.negative_slope == 0 and operation.threshold == 0
    if isinstance(operation, keras.layers.Activation):
        return keras.activations.serialize(operation.activation) in ("relu", "relu6")
    return False


def quantization_units(layer):
    """The operations whose outputs are the tensors of an int8 file, in `layer`: every layer without
    sublayers, `ConvBNAct` as one (TFLite folds its batch norm and fuses its activation), and the
    `keras.ops` a functional model applies to its tensors."""
    units = {}
    operations = [op for op in getattr(layer, "operations", ()) if not isinstance(op, keras.layers.Layer)]
    for child in direct_sublayers(layer) + operations:
        if isinstance(child, ConvBNAct) or not isinstance(child, keras.layers.Layer) or not direct_sublayers(child):
            units[id(child)] = child
        else:
            units.update((id(unit), unit) for unit in quantization_units(child))
    return list(units.values())


def _kernels(unit):
    """`(variable, channel_axes)` of the convolution and dense kernels `unit` reads."""
    transposed = isinstance(unit, keras.layers.Conv2DTranspose)
    return [
        (v, (-2, -1) if v.name == "depthwise_kernel" else (-2,) if transposed else (-1,))
        for v in getattr(unit, "variables", ())
        if v.name in KERNELS
    ]


@keras.saving.register_keras_serializable(package="keras_segup")
class QuantizationAwareModel(keras.Model):
    """A segmenter trained through the rounding of its full-integer (int8) TFLite file.

    Post-training int8 loses class pixels where logits are close; fine-tuning
    with the rounding in the forward pass (quantization-aware training) teaches
    the network margins that survive it. This model shares the segmenter's
    variables: `fit` it, call `bake()`, then export the segmenter itself
    (`keras_segup.export.export_tflite(segmenter, ..., quantization="int8")`).

    In each call:
    - every convolution and dense kernel is rounded to TFLite's weight grid
      (symmetric int8 per output channel; a batch norm folded into the
      convolution scales each channel, which keeps it on the grid);
    - every layer's float output (and that of each `keras.ops` call of a
      functional model) is rounded to TFLite's activation grid (asymmetric
      int8 per tensor) over its range: set by `calibrate` (the minimum and
      maximum over representative frames, as TFLite's calibration), then the
      moving average (`momentum`) of the training batches' minimum and
      maximum (their first batch's where `calibrate` was not called), kept in
      this model's non-trainable variables and updated in training only. Outputs
      TFLite fuses away are left alone: those of convolutions, dense layers
      and batch norms read only by a batch norm or a ReLU. `ConvBNAct` is
      one unit, as in the file.
    Gradients pass the rounding straight through. The tensors inside one
    layer's `call` (an attention's products) are not rounded; TFLite rounds
    them as well.

    Args:
        segmenter: a `keras_segup.models.Segmenter` (or any Keras model
            whose layers hold the computation); its variables are shared.
        momentum: of the ranges' moving average.
        sample_size: `(height, width)` of the zeros the layers are first
            called on, to find their outputs (default: the segmenter's
            `image_size`, else 128x128).
        freeze_batch_norm: batch norms normalise with their moving statistics
            in training too, and keep them (as TFLite folds them into the
            convolutions); their scales and offsets still train. The
            statistics of small fine-tuning batches otherwise move the
            network's classes.
        **kwargs: base model arguments (`name`, ...).

    Example:
    ```python
    model = keras_segup.models.GAISegmenter.from_preset("gai_efficientnet_lite0_cityscapes")
    qat = QuantizationAwareModel(model)
    qat.calibrate(frames)  # start from the ranges of post-training int8
    qat.compile(learning_rate=1e-4)
    qat.fit(train_data, epochs=1, steps_per_epoch=1000)
    qat.bake()
    export_tflite(model, "gai.tflite", (512, 1024), quantization="int8", representative_data=frames)
    ```
    """

    def __init__(self, segmenter, momentum=0.99, sample_size=None, freeze_batch_norm=True, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1); got {momentum!r}.")
        self.segmenter = segmenter
        self.momentum = momentum
        self.freeze_batch_norm = freeze_batch_norm
        self.sample_size = tuple(sample_size or getattr(segmenter, "image_size", None) or (128, 128))
        self._units = quantization_units(segmenter)
        self._slots = {}  # (unit id, call index) -> [range index of each float output, or None]
        self._discover_outputs()
        self.ranges = [
            self.add_weight(shape=(2,), initializer=keras.initializers.Constant([1.0, -1.0]),
                            trainable=False, name=f"range_{index}")
            for index in range(sum(slot is not None for slots in self._slots.values() for slot in slots))
        ]
        self.built = True

    def _discover_outputs(self):
        """Calls the segmenter once in training and once in inference on zeros (no variable
        changes) and gives each float output of each unit call a range slot."""
        images = np.zeros((2, *self.sample_size, 3), "float32")
        if not self.segmenter.built:
            self.segmenter(images)
        count = itertools.count()
        for training in (True, False):
            with keras.StatelessScope(), self._rounding("discover", discover=count.__next__):
                self.segmenter(images, training=training)

    def call(self, images, training=None):
        with self._rounding("train" if training else "infer"):
            return self.segmenter(images, training=training)

    def calibrate(self, images, batch_size=1):
        """Sets every range to the minimum and maximum of its tensor over `images` in the float
        network (inference, kernels not rounded), as TFLite's calibration of an int8 file does.

        Fine-tuning then starts from the ranges of post-training quantization, and `predict`
        simulates that file.

        Args:
            images: representative frames, `(N, H, W, 3)`, as given to `export_tflite`.
            batch_size: frames per call.
        """
        images = np.asarray(images, "float32")
        if images.ndim != 4 or not len(images):
            raise ValueError(f"`images` must be frames of shape (N, H, W, 3); got shape {images.shape}.")
        for variable in self.ranges:
            variable.assign([1.0, -1.0])
        for start in range(0, len(images), batch_size):
            with self._rounding("calibrate"):
                self.segmenter(images[start:start + batch_size], training=False)

    @contextlib.contextmanager
    def _rounding(self, mode, discover=None):
        """A context in which every unit's `call` rounds its kernels and outputs (mode "train":
        updating the ranges, "infer"), gives its outputs range slots ("discover", numbered by
        `discover()`) or widens their ranges to its float outputs ("calibrate")."""
        self._calls = {}  # unit id -> calls so far in this forward pass
        for unit in self._units:
            rounded = self._rounded_call(unit, type(unit).call.__get__(unit), mode, discover)
            object.__setattr__(unit, "call", rounded)  # on the instance, bypassing Keras's tracking
        try:
            yield
        finally:
            for unit in self._units:
                object.__delattr__(unit, "call")

    def _rounded_call(self, unit, call, mode, discover):
        def rounded(*args, **kwargs):
            if self.freeze_batch_norm and _normalizes(unit):
                kwargs["training"] = False
            if mode in ("discover", "calibrate"):
                outputs = call(*args, **kwargs)
            else:
                outputs = self._with_rounded_kernels(unit, call, args, kwargs)
            key = (id(unit), self._calls.get(id(unit), 0))
            self._calls[id(unit)] = key[1] + 1
            flat = keras.tree.flatten(outputs)
            if mode == "discover":
                if key not in self._slots:
                    keep = self._keeps_output(unit)
                    self._slots[key] = [discover() if keep and _is_float(x) else None for x in flat]
                return outputs
            slots = self._slots.get(key, [None] * len(flat))
            flat = [x if slot is None else self._rounded_output(x, self.ranges[slot], mode)
                    for x, slot in zip(flat, slots)]
            return keras.tree.pack_sequence_as(outputs, flat)

        return rounded

    @staticmethod
    def _keeps_output(unit):
        if isinstance(unit, FUSING) and not isinstance(unit, ConvBNAct):
            readers = consumers(unit)
            return not (readers and all(_fused_into(reader) for reader in readers))
        return True

    def _with_rounded_kernels(self, unit, call, args, kwargs):
        """`call` with `unit`'s kernels on the int8 grid; the batch-norm statistics it updates
        are written back."""
        kernels = _kernels(unit)
        if not kernels:
            return call(*args, **kwargs)
        variables = list(unit.variables)
        if isinstance(unit, Conv2D) and unit.folded_batch_norm() is not None:
            variables += unit.folded_batch_norm().variables  # read when the batch norm is folded in
        rounded = {id(v): fake_quantize_weights(v.value, axes) for v, axes in kernels}
        mapping = [(v, rounded.get(id(v), v.value)) for v in variables]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            before = {id(v): scope.get_current_value(v) for v in variables}
            outputs = call(*args, **kwargs)
        for v in variables:
            value = scope.get_current_value(v)
            if value is not before[id(v)]:
                v.assign(value)
        return outputs

    def _rounded_output(self, x, variable, mode):
        batch = ops.cast(ops.stack([ops.min(x), ops.max(x)]), "float32")
        stored = ops.convert_to_tensor(variable)
        unset = stored[0] > stored[1]
        if mode == "calibrate":
            widened = ops.stack([ops.minimum(stored[0], batch[0]), ops.maximum(stored[1], batch[1])])
            variable.assign(ops.where(unset, batch, widened))
            return x
        if mode == "train":
            averaged = self.momentum * stored + (1.0 - self.momentum) * batch
            stored = ops.where(unset, batch, averaged)
            variable.assign(stored)
        else:
            stored = ops.where(unset, batch, stored)
        return fake_quantize_activations(x, stored[0], stored[1])

    def bake(self):
        """Writes the kernels rounded to the int8 grid into the segmenter's variables.

        After fine-tuning, the float segmenter then computes with the weights
        its int8 file will hold, and TFLite's weight quantization of them is
        exact; export the segmenter.
        """
        for unit in self._units:
            for variable, axes in _kernels(unit):
                variable.assign(fake_quantize_weights(variable.value, axes))

    def compile(self, optimizer="auto", loss="auto", metrics="auto", learning_rate=1e-3, total_steps=10000,
                warmup_steps=0, weight_decay=5e-4, **kwargs):
        """A segmenter's training defaults (`Segmenter.compile`), for fine-tuning: SGD with
        momentum and poly decay from `learning_rate` over `total_steps`, the segmentation loss
        on the main and auxiliary outputs, mean IoU. Another model needs `optimizer`, `loss`
        and `metrics`.

        Args:
            optimizer, loss, metrics, learning_rate, total_steps, warmup_steps, weight_decay:
                as `Segmenter.compile`.
            **kwargs: other `keras.Model.compile` arguments.
        """
        if isinstance(self.segmenter, Segmenter):
            optimizer, loss, metrics = self.segmenter.training_defaults(
                optimizer, loss, metrics, learning_rate, total_steps, warmup_steps, weight_decay
            )
            self.segmenter.segmentation_loss = loss
        elif "auto" in [x for x in (optimizer, loss, metrics) if isinstance(x, str)]:
            raise ValueError(
                f"QuantizationAwareModel.compile: the 'auto' optimizer, loss and metrics are a Segmenter's; "
                f"pass `optimizer`, `loss` and `metrics` for the {type(self.segmenter).__name__} model."
            )
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Compiles a loaded model as it was saved; its optimizer state is loaded next."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        model = self.segmenter if isinstance(self.segmenter, Segmenter) else super()
        return model.compute_loss(x, y, y_pred, sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            y_pred = y_pred["logits"]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "segmenter": keras.saving.serialize_keras_object(self.segmenter),
            "momentum": self.momentum,
            "sample_size": self.sample_size,
            "freeze_batch_norm": self.freeze_batch_norm,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["segmenter"] = keras.saving.deserialize_keras_object(config["segmenter"])
        return cls(**config)


def _normalizes(unit):
    """Whether `unit` applies a batch norm: one, `ConvBNAct`, or a `Conv2D` that folds one in (at
    inference; the batch norm then passes its input through, so both must be called alike)."""
    if isinstance(unit, Conv2D):
        return unit.folded_batch_norm() is not None
    return isinstance(unit, (keras.layers.BatchNormalization, ConvBNAct))


def _is_float(x):
    return hasattr(x, "dtype") and keras.backend.is_float_dtype(keras.backend.standardize_dtype(x.dtype))
