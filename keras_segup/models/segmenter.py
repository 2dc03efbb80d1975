import keras
import numpy as np
from keras import ops

from keras_segup import presets as preset_store
from keras_segup.backbones.hub_presets import backbone_from_preset
from keras_segup.backbones.resnet import pyramid_extractor
from keras_segup.datasets_info import IGNORE_INDEX
from keras_segup.backbones.resnet import resnet_backbone
from keras_segup.layers.resizing import resize_bilinear
from keras_segup.losses import OHEMCrossEntropy
from keras_segup.metrics import MeanIoU
from keras_segup.schedules import PolyDecay

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def _build_backbone(backbone, default):
    """A keras-hub backbone from an instance, a name or folder, or the default kwargs."""
    if backbone is None:
        return resnet_backbone(**default)
    if isinstance(backbone, str):
        depths = {f"resnet{d}": d for d in (18, 34, 50, 101)}
        if backbone in depths:  # configured like the paper
            return resnet_backbone(depths[backbone], **{k: v for k, v in default.items() if k != "depth"})
        return backbone_from_preset(backbone)
    if isinstance(backbone, dict):  # serialised, from get_config
        return keras.saving.deserialize_keras_object(backbone)
    return backbone


class Segmenter(keras.Model):
    """Backbone + decode head: images in 0..255 in, logits at the input size out.

    The shared task class of the four segmenters (keras-hub's Task idea):
    normalisation (ImageNet mean/std by default) happens inside, so
    exported models take raw pixels; any height and width work. In
    inference `call` returns logits (B, H, W, num_classes); with
    `training=True` it returns `{"logits": ..., "aux": [...]}`, all at the
    input size, and `compute_loss` weights the auxiliary losses as the
    paper does (`aux_loss_weights`).

    Subclasses set `head_class`, `default_backbone` (kwargs of
    `keras_segup.backbones.resnet_backbone`), `align_corners` of the final
    upsampling and `aux_loss_weights`; `onnx_dynamic_size` makes ONNX
    export trace any height and width instead of the requested size.

    Args:
        num_classes: number of classes.
        backbone: a keras-hub `FeaturePyramidBackbone` (P2..P5), a name
            `"resnet18|34|50|101"` (configured like the paper), a keras-hub
            preset name or folder (`backbone_from_preset`), or None for the
            paper's default.
        head_kwargs: extra arguments of the head.
        mean, std: per-channel input normalisation.
        **kwargs: `keras.Model` arguments (`name`, `dtype`).
    """

    head_class = None
    default_backbone = {}
    align_corners = False
    aux_loss_weights = ()
    onnx_dynamic_size = False

    def __init__(
        self,
        num_classes,
        backbone=None,
        head_kwargs=None,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if self.head_class is None:
            raise TypeError(
                "Segmenter is the shared base class; build a GAISegmenter, IFASegmenter, "
                "FANetSegmenter or RSPSegmenter (or Segmenter.from_preset)."
            )
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"`mean` and `std` need 3 values (RGB); got {mean}, {std}.")
        self.num_classes = num_classes
        self.head_kwargs = dict(head_kwargs or {})
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.backbone = _build_backbone(backbone, self.default_backbone)
        self.pyramid = pyramid_extractor(self.backbone)
        self.head = self.head_class(num_classes, dtype=self.dtype_policy, name="head", **self.head_kwargs)
        self.input_spec = keras.InputSpec(ndim=4, axes={-1: 3})
        self.segmentation_loss = None
        self.preset_metadata = {}

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != 3:
            raise ValueError(
                f"Segmenters take RGB images (batch, height, width, 3); got shape {input_shape}."
            )
        self.head.build([tuple(output.shape) for output in self.pyramid.outputs])
        self.built = True

    def normalize(self, images):
        images = ops.cast(images, self.compute_dtype)
        mean = ops.cast(np.array(self.mean, "float32"), self.compute_dtype)
        std = ops.cast(np.array(self.std, "float32"), self.compute_dtype)
        return (images - mean) / std

    def decode(self, features, size, training):
        """Head logits (and auxiliary logits when training) at `size`."""
        outputs = self.head(features, training=training, return_aux=bool(training))
        outputs = outputs if training else [outputs]
        resized = [
            ops.cast(resize_bilinear(o, size, self.align_corners), "float32") for o in outputs
        ]
        if training:
            return {"logits": resized[0], "aux": resized[1:]}
        return resized[0]

    def call(self, images, training=None):
        features = self.pyramid(self.normalize(images), training=training)
        return self.decode(features, ops.shape(images)[1:3], training)

    def segment(self, images):
        """Class maps (B, H, W) int32 for images (B, H, W, 3) in 0..255.

        Example:
        >>> classes = model.segment(np.zeros((1, 256, 512, 3), "float32"))
        """
        logits = self.predict_on_batch(np.asarray(images))
        classes = ops.top_k(ops.convert_to_tensor(logits), 1)[1][..., 0]
        return ops.convert_to_numpy(classes).astype("int32")

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        learning_rate=0.01,
        total_steps=80000,
        warmup_steps=1000,
        weight_decay=5e-4,
        **kwargs,
    ):
        """Defaults that train out of the box, as the papers do.

        SGD with momentum 0.9 and weight decay, poly decay (power 0.9) with
        linear warm-up; sparse cross-entropy on logits ignoring label 255,
        applied to the main and (weighted) auxiliary outputs; mean IoU
        ignoring 255 (`keras_segup.metrics.MeanIoU`).

        Args:
            optimizer, loss, metrics: `"auto"` for the defaults above, or
                your own (`loss` takes (labels, logits)); `loss="ohem"` is
                `keras_segup.losses.OHEMCrossEntropy()`.
            learning_rate, total_steps, warmup_steps, weight_decay: of the
                default optimizer.
            **kwargs: other `keras.Model.compile` arguments.
        """
        if optimizer == "auto":
            schedule = PolyDecay(learning_rate, total_steps, warmup_steps=warmup_steps)
            optimizer = keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=weight_decay)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=IGNORE_INDEX
            )
        elif loss == "ohem":
            loss = OHEMCrossEntropy(ignore_class=IGNORE_INDEX)
        if metrics == "auto":
            metrics = [MeanIoU(self.num_classes, ignore_class=IGNORE_INDEX)]
        self.segmentation_loss = loss
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)

    def get_compile_config(self):
        """`compile`'s optimizer and metrics plus the segmentation loss, for `.keras` files."""
        config = super().get_compile_config()
        if config and self.segmentation_loss is not None:
            config["loss"] = keras.saving.serialize_keras_object(self.segmentation_loss)
        return config

    def compile_from_config(self, config):
        """Compiles a loaded model as it was saved; its optimizer state is loaded next."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.segmentation_loss is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if isinstance(y_pred, dict):
            loss = self.segmentation_loss(y, y_pred["logits"], sample_weight)
            for weight, aux in zip(self.aux_loss_weights, y_pred["aux"]):
                loss = loss + weight * self.segmentation_loss(y, aux, sample_weight)
        else:
            loss = self.segmentation_loss(y, y_pred, sample_weight)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            y_pred = y_pred["logits"]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    @classmethod
    def presets(cls):
        """The built-in presets of this class: `{name: metadata}`."""
        return {
            name: preset["metadata"]
            for name, preset in preset_store.BUILTIN_PRESETS.items()
            if cls is Segmenter or preset["class_name"] == cls.__name__
        }

    @classmethod
    def from_preset(cls, handle, load_weights=True, num_classes=None, **kwargs):
        """Builds a segmenter from a preset name, folder or URL.

        Args:
            handle: a built-in name (`GAISegmenter.presets()`), a preset
                folder (`save_to_preset`), or an `http(s)://`/`file://` URL
                of one.
            load_weights: load the preset's weights (repository `weights/`,
                user cache or download, sha256-verified). Raises if none can
                be had; never returns random weights silently.
            num_classes: a different number of classes rebuilds the
                classifiers for fine-tuning and keeps every other weight.
            **kwargs: other constructor arguments to override.

        Returns:
            The segmenter.

        Example:
        >>> model = GAISegmenter.from_preset("gai_cityscapes", load_weights=False)
        """
        name, config, metadata, local_weights = preset_store.resolve(handle)
        target = keras.saving.get_registered_object(f"keras_segup>{config['class_name']}")
        if target is None or not issubclass(target, cls):
            raise preset_store.PresetError(
                f"Preset {name!r} builds a {config['class_name']}, not a {cls.__name__}; "
                f"load it with keras_segup.models.{config['class_name']}.from_preset."
            )
        arguments = {**config["config"], **kwargs}
        surgery = num_classes is not None and num_classes != arguments["num_classes"]
        if num_classes is not None:
            arguments["num_classes"] = num_classes
        model = target(**arguments)
        model.preset_metadata = dict(metadata)
        if not load_weights:
            return model
        path = preset_store.weights_for(name, metadata, local_weights)
        model(np.zeros((1, 64, 64, 3), "float32"))  # build every variable
        try:
            model.load_weights(str(path), skip_mismatch=surgery)
        except (OSError, ValueError) as error:
            raise preset_store.PresetError(
                f"Could not load the weights {path} of preset {name!r}: {error}. If the "
                "file is corrupt, delete it and load the preset again."
            ) from None
        return model

    def save_to_preset(self, folder):
        """Writes this model as a preset folder that `from_preset` restores exactly.

        Args:
            folder: destination folder (created).
        """
        if not self.built:
            self(np.zeros((1, 64, 64, 3), "float32"))  # build every variable
        config = self.get_config()
        for key in ("name", "dtype"):
            config.pop(key)
        metadata = {
            **self.preset_metadata,
            "num_classes": self.num_classes,
            "parameter_count": int(self.count_params()),
            "input": {"range": [0, 255], "mean": list(self.mean), "std": list(self.std)},
        }
        if self.preset_metadata.get("num_classes") not in (None, self.num_classes):
            metadata.pop("class_names", None)
            metadata.pop("palette", None)
        metadata.pop("weights_url", None)
        metadata.pop("weights_sha256", None)
        preset_store.write_preset(
            folder, {"class_name": type(self).__name__, "config": config}, metadata, model=self
        )

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "head_kwargs": self.head_kwargs,
            "mean": list(self.mean),
            "std": list(self.std),
            "name": self.name,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
        }
