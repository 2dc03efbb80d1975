import re
from pathlib import Path

import keras
import numpy as np
from keras import ops

from keras_segup import presets as preset_store
from keras_segup.backbones.hub_presets import backbone_from_preset
from keras_segup.backbones.hub_presets import load_hub_weights
from keras_segup.backbones.pyramid import pyramid_extractor
from keras_segup.backbones.pyramid import static_image_size
from keras_segup.backbones.checkpoints import CheckpointError
from keras_segup.backbones.checkpoints import check_local_checkpoint
from keras_segup.backbones.checkpoints import load_torch_weights
from keras_segup.backbones.paper_resnet import PAPER_BACKBONES
from keras_segup.backbones.paper_resnet import PaperResNetBackbone
from keras_segup.backbones.paper_resnet import paper_backbone
from keras_segup.datasets_info import IGNORE_INDEX
from keras_segup.datasets_info import bit_palette
from keras_segup.layers.validation import check_images
from keras_segup.layers.validation import check_num_classes
from keras_segup.layers.validation import check_size
from keras_segup.losses import OHEMCrossEntropy
from keras_segup.metrics import MeanIoU
from keras_segup.models.host_outputs_model import HostOutputs
from keras_segup.ops import resize_bilinear
from keras_segup.schedules import PolyDecay

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def _build_backbone(backbone, default):
    """A backbone from an instance, a name or folder, or the segmenter's paper default.

    `"resnet18|34|50|101"` is the paper's variant of that depth (the
    default's layout), one of `PAPER_BACKBONES` that backbone, any other
    string a keras-hub preset name or folder.
    """
    if backbone is None:
        return paper_backbone(default)
    if isinstance(backbone, str):
        depth = re.fullmatch(r"resnet(\d+)", backbone)
        if depth:
            variant = re.sub(r"^resnet\d+", backbone, default)
            if variant not in PAPER_BACKBONES:
                raise ValueError(
                    f"The paper's backbone has no {backbone} variant ({variant}); "
                    f"the papers' backbones: {sorted(PAPER_BACKBONES)}."
                )
            return paper_backbone(variant)
        if backbone in PAPER_BACKBONES:
            return paper_backbone(backbone)
        return backbone_from_preset(backbone)
    if isinstance(backbone, dict):  # serialised, from get_config
        return keras.saving.deserialize_keras_object(backbone)
    return backbone


def _check_feature_strides(feature_strides):
    """`feature_strides` as a tuple of four increasing positive ints."""
    strides = tuple(feature_strides) if isinstance(feature_strides, (list, tuple)) else ()
    if len(strides) != 4 or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in strides
    ) or list(strides) != sorted(set(strides)):
        raise ValueError(
            f"`feature_strides` must be four increasing strides, finest first, such as "
            f"(4, 8, 16, 32); got {feature_strides!r}."
        )
    return strides


def _check_image_size(backbone):
    """The static `(height, width)` a backbone needs, or None; refuses a non-square MiT."""
    size = static_image_size(backbone)
    if size is not None and type(backbone).__name__ == "MiTBackbone" and size[0] != size[1]:
        raise ValueError(
            f"keras-hub's MiTBackbone folds its tokens back into a square grid, so it only works "
            f"on square images; it was built for {size[0]}x{size[1]}. Build it with "
            "image_shape=(S, S, 3), S a multiple of 32."
        )
    return size


def _check_labels(num_classes, class_names, palette):
    """`(num_classes, class_names, palette)` checked against each other."""
    if num_classes is None and class_names is None:
        raise ValueError("A segmenter needs `num_classes` or `class_names`; got neither.")
    if num_classes is None:
        num_classes = len(class_names)
    check_num_classes("Segmenter", num_classes)
    if class_names is not None:
        class_names = [str(name) for name in class_names]
        if len(class_names) != num_classes:
            raise ValueError(
                f"`class_names` has {len(class_names)} names but `num_classes` is "
                f"{num_classes}; pass one name per class."
            )
    if palette is not None:
        palette = [[int(v) for v in color] for color in palette]
        if len(palette) != num_classes or any(
            len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in palette
        ):
            raise ValueError(
                f"`palette` must hold {num_classes} RGB colours in 0..255, one per class; "
                f"got {len(palette)} entries."
            )
    return num_classes, class_names, palette


class _PresetMapping(dict):
    """`{name: metadata}` of a class's presets; also callable, as before 0.2."""

    def __call__(self):
        return self


class _Presets:
    """`Cls.presets`: the built-in presets of a segmenter class, keras-hub style."""

    def __get__(self, instance, owner):
        return _PresetMapping(
            (name, preset["metadata"])
            for name, preset in sorted(preset_store.BUILTIN_PRESETS.items())
            if owner is Segmenter or preset["class_name"] == owner.__name__
        )


class Segmenter(HostOutputs, keras.Model):
    """Backbone + decode head: images in 0..255 in, logits at the input size out.

    The shared task class of the four segmenters (keras-hub's Task idea):
    normalisation (ImageNet mean/std by default) happens inside, so
    exported models take raw pixels; any height and width work. In
    inference `call` returns logits (B, H, W, num_classes); with
    `training=True` it returns `{"logits": ..., "aux": [...]}`, all at the
    input size, and `compute_loss` weights the auxiliary losses as the
    paper does (`aux_loss_weights`).

    Subclasses set `head_class`, `default_backbone` (the name of the
    paper's backbone in `keras_segup.backbones.PAPER_BACKBONES`),
    `default_feature_strides` and `aux_loss_weights`; the
    final upsampling uses the head's `align_corners`. `onnx_dynamic_size`
    makes ONNX export trace any height and width instead of the requested
    size. `Cls.presets` maps the built-in preset names of a class to their
    metadata.

    Args:
        num_classes: number of classes; may be left out when `class_names`
            is given.
        backbone: any keras-hub `FeaturePyramidBackbone` (ResNet,
            EfficientNet, MiT, CSPNet, DenseNet, ...); a name of
            `keras_segup.backbones.PAPER_BACKBONES`; `"resnet18|34|50|101"`
            for the paper's layout at that depth; a keras-hub preset name
            or folder (`backbone_from_preset`); or None for the paper's
            backbone. A backbone built for one static image size (keras-hub's
            MiT needs one, and a square one) takes images of that size only.
        head_kwargs: extra arguments of the head.
        mean, std: per-channel input normalisation.
        class_names: one name per class (kept in `.keras` files and
            presets; used by evaluation reports and legends).
        palette: one RGB colour per class, for overlays; default: the
            PASCAL VOC colour map.
        feature_strides: the strides of the four backbone levels the head
            reads, finest first, e.g. `(4, 8, 16, 32)`. The levels are
            chosen by their stride, measured from the shapes, not by their
            names. Default: the paper's (`default_feature_strides`: 4..32;
            FANet 8..64, or 4..32 on a backbone without a stride-64 level).
        **kwargs: `keras.Model` arguments (`name`, `dtype`).
    """

    head_class = None
    default_backbone = None
    default_feature_strides = ((4, 8, 16, 32),)
    aux_loss_weights = ()
    onnx_dynamic_size = False
    presets = _Presets()

    def __init__(
        self,
        num_classes=None,
        backbone=None,
        head_kwargs=None,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        class_names=None,
        palette=None,
        feature_strides=None,
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
        num_classes, class_names, palette = _check_labels(num_classes, class_names, palette)
        self.num_classes = num_classes
        self.class_names = class_names
        self.palette = palette
        self.head_kwargs = dict(head_kwargs or {})
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.backbone = _build_backbone(backbone, self.default_backbone)
        candidates = self.default_feature_strides
        if feature_strides is not None:
            candidates = (_check_feature_strides(feature_strides),)
        self.pyramid = pyramid_extractor(self.backbone, candidates, type(self).__name__)
        self.feature_strides = self.pyramid.feature_strides
        self.image_size = _check_image_size(self.backbone)
        self.head = self.head_class(num_classes, dtype=self.dtype_policy, name="head", **self.head_kwargs)
        self.input_spec = keras.InputSpec(ndim=4, axes={-1: 3})
        self.segmentation_loss = None
        self.preset_metadata = {}

    @property
    def align_corners(self):
        """`align_corners` of the final upsampling: the head's."""
        return self.head.align_corners

    def labels(self):
        """`(class_names, palette)`, with `class i` names and the VOC colour map as defaults.

        Returns:
            A list of `num_classes` names and a (num_classes, 3) uint8 array.
        """
        names = self.class_names or [f"class {i}" for i in range(self.num_classes)]
        palette = self.palette or bit_palette(self.num_classes)
        return names, np.array(palette, np.uint8)

    def check_input_size(self, shape):
        """Raises when a backbone of one static size gets images of another."""
        size = tuple(shape[1:3])
        if self.image_size is None or None in size or tuple(int(v) for v in size) == self.image_size:
            return
        height, width = self.image_size
        raise ValueError(
            f"This {type(self).__name__}'s backbone ({type(self.backbone).__name__}) was built for "
            f"{height}x{width} images and got {size[0]}x{size[1]}: resize the images to "
            f"{height}x{width} (`segment(images, size=({height}, {width}))` does it and resizes "
            "the classes back), or build the backbone with that image shape."
        )

    def _check_data_size(self, x):
        """`check_input_size` before TensorFlow's relaxed trace hides the size: for arrays, and
        for datasets whose images have a static shape."""
        if hasattr(x, "element_spec"):  # tf.data: (images, labels) or images
            spec = x.element_spec[0] if isinstance(x.element_spec, tuple) else x.element_spec
            if len(getattr(spec, "shape", ())) == 4:
                self.check_input_size(tuple(spec.shape))
        elif hasattr(x, "shape"):
            self.check_input_size(tuple(x.shape))

    def predict_on_batch(self, x):
        self._check_data_size(x)
        return super().predict_on_batch(x)

    def predict(self, x, *args, **kwargs):
        self._check_data_size(x)
        return super().predict(x, *args, **kwargs)

    def fit(self, x=None, *args, **kwargs):
        self._check_data_size(x)
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        self._check_data_size(x)
        return super().evaluate(x, *args, **kwargs)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != 3:
            raise ValueError(
                f"Segmenters take RGB images (batch, height, width, 3); got shape {input_shape}."
            )
        self.check_input_size(input_shape)
        self.head.build([tuple(output.shape) for output in self.pyramid.outputs])
        self.built = True

    def normalize(self, images):
        images = ops.cast(images, self.compute_dtype)
        # from the lists, not numpy arrays: torch.compile breaks its graph on numpy constants
        mean = ops.convert_to_tensor(self.mean, self.compute_dtype)
        std = ops.convert_to_tensor(self.std, self.compute_dtype)
        return (images - mean) / std

    def decode(self, features, size, training):
        """Head logits (and auxiliary logits when training) at `size`."""
        outputs = self.head(features, training=training, return_aux=bool(training))
        outputs = outputs if training else [outputs]
        resized = [
            ops.cast(resize_bilinear(o, size, self.head.align_corners), "float32") for o in outputs
        ]
        if training:
            return {"logits": resized[0], "aux": resized[1:]}
        return resized[0]

    def features(self, images, training=None):
        """The four backbone levels the head reads, finest first."""
        self.check_input_size(images.shape)
        if self.image_size is not None and None in tuple(images.shape[1:3]):
            # a trace relaxed to any size (TensorFlow's retracing) keeps the backbone's own
            images = ops.reshape(images, (-1, *self.image_size, 3))
        return self.pyramid(self.normalize(images), training=training)

    def call(self, images, training=None):
        features = self.features(images, training=training)
        return self.decode(features, ops.shape(images)[1:3], training)

    def segment(self, images, size=None):
        """Class maps (B, H, W) int32 for images (B, H, W, 3) in 0..255.

        Args:
            images: array (B, H, W, 3).
            size: `(height, width)` to run the network at; the logits are
                resized back (bilinear) to the images' size before the
                argmax. Default: the images' own size.

        Returns:
            int32 array (B, H, W).

        Example:
        ```python
        classes = model.segment(np.zeros((1, 1024, 2048, 3), "float32"), size=(512, 1024))
        ```
        """
        images = check_images(images)
        size = images.shape[1:3] if size is None else check_size("size", size)
        if size != images.shape[1:3]:
            inputs = ops.convert_to_numpy(resize_bilinear(ops.convert_to_tensor(images), size))
            logits = self.predict_on_batch(inputs)
            logits = resize_bilinear(ops.convert_to_tensor(logits), images.shape[1:3])
        else:
            logits = ops.convert_to_tensor(self.predict_on_batch(images))
        classes = ops.top_k(logits, 1)[1][..., 0]
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
        optimizer, loss, metrics = self.training_defaults(
            optimizer, loss, metrics, learning_rate, total_steps, warmup_steps, weight_decay
        )
        self.segmentation_loss = loss
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)

    def training_defaults(self, optimizer, loss, metrics, learning_rate, total_steps, warmup_steps, weight_decay):
        """`compile`'s defaults, for a model that trains this segmenter (quantization-aware fine-tuning).

        Args:
            optimizer, loss, metrics, learning_rate, total_steps, warmup_steps, weight_decay:
                as `compile`.

        Returns:
            `(optimizer, loss, metrics)`, each `"auto"` replaced by `compile`'s default.
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
        return optimizer, loss, metrics

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
    def from_preset(cls, handle, load_weights=True, num_classes=None, backbone_weights=None, **kwargs):
        """Builds a segmenter from a preset name, folder or URL.

        Args:
            handle: a built-in name (`GAISegmenter.presets`), a preset
                folder (`save_to_preset`), an `http(s)://`/`file://` URL
                of one, or an `hf://` / `kaggle://` handle.
            load_weights: load the preset's weights (repository `weights/`,
                user cache or download, sha256-verified). Raises if none can
                be had; never returns random weights silently.
            num_classes: a different number of classes rebuilds the
                classifiers for fine-tuning and keeps every other weight
                (the preset's class names and palette are dropped unless
                given in `kwargs`).
            backbone_weights: the backbone's ImageNet weights, to train
                from: for the papers' ResNets a `.pth`/`.pt`/`.safetensors`
                file or an `http(s)://` URL, for keras-hub backbones a
                keras-hub preset name or folder, or `"paper"` for the one
                the preset's `metadata["backbone_checkpoint"]` names; see
                `load_backbone_checkpoint`. Loaded after the preset's own
                weights, if any.
            **kwargs: other constructor arguments to override.

        Returns:
            The segmenter.

        Example:
        ```python
        model = GAISegmenter.from_preset("gai_cityscapes", load_weights=False)
        ```
        """
        check_local_checkpoint(backbone_weights)  # before building anything
        name, config, metadata, local_weights = preset_store.resolve(handle)
        target = keras.saving.get_registered_object(f"keras_segup>{config['class_name']}")
        if not (isinstance(target, type) and issubclass(target, Segmenter)):
            raise preset_store.PresetError(
                f"Preset {name!r} names the class {config['class_name']!r}, which is not a keras_segup "
                f"segmenter ({', '.join(sorted(kind.__name__ for kind in Segmenter.__subclasses__()))})."
            )
        if not issubclass(target, cls):
            raise preset_store.PresetError(
                f"Preset {name!r} builds a {config['class_name']}, not a {cls.__name__}; "
                f"load it with keras_segup.models.{config['class_name']}.from_preset."
            )
        arguments = dict(config["config"])
        preset_classes = arguments.get("num_classes") or len(arguments.get("class_names") or [])
        surgery = num_classes is not None and num_classes != preset_classes
        if surgery:
            arguments.pop("class_names", None)
            arguments.pop("palette", None)
        if num_classes is not None:
            arguments["num_classes"] = num_classes
        arguments.update(kwargs)
        model = target(**arguments)
        model.preset_metadata = dict(metadata)
        if load_weights:
            model.load_preset_weights(name, metadata, local_weights, surgery)
        if backbone_weights is not None:
            model.load_backbone_checkpoint(backbone_weights)
        return model

    def load_backbone_checkpoint(self, checkpoint):
        """Loads the backbone's ImageNet weights; prints what it did.

        Args:
            checkpoint: for the papers' ResNets, a PyTorch file, URL,
                `hf://` handle or state_dict
                (`keras_segup.backbones.read_checkpoint`); for a keras-hub
                backbone, a keras-hub preset name or folder
                (`keras_segup.backbones.load_hub_weights`). `"paper"`: the
                checkpoint the preset names (`backbone_checkpoint`); the
                preset's URL is verified with its sha256 when it knows it.

        Returns:
            The report of `keras_segup.backbones.load_torch_weights` or
            `load_hub_weights`.
        """
        known = self.preset_metadata.get("backbone_checkpoint") or {}
        if not isinstance(self.backbone, PaperResNetBackbone):
            if not isinstance(checkpoint, (str, Path)):
                raise ValueError(
                    f"This model's backbone is a {type(self.backbone).__name__}: its weights come "
                    "from a keras-hub preset name or folder, not a state_dict."
                )
            handle = known.get("keras_hub_preset") if str(checkpoint) == "paper" else str(checkpoint)
            if not handle:
                raise CheckpointError(
                    "This model's preset names no keras-hub preset for its backbone; pass one "
                    f"(a name or a folder) for its {type(self.backbone).__name__}."
                )
            report = load_hub_weights(self.backbone, handle)
            print(f"Backbone {self.backbone.name}: loaded {report['loaded']} tensors from {handle}.")
            return report
        if str(checkpoint) == "paper":
            if not known.get("url"):
                raise CheckpointError(
                    f"This model's preset names no download of its paper's checkpoint "
                    f"({known.get('file') or 'none known'}; {known.get('source') or 'no source'}); "
                    "download it and pass the file."
                )
            checkpoint = known["url"]
        sha256 = known.get("sha256") if known.get("url") == str(checkpoint) else None
        report = load_torch_weights(self.backbone, checkpoint, sha256=sha256)
        kept = f"; kept at initialisation: {', '.join(report['missing'])}" if report["missing"] else ""
        ignored = f"; ignored {len(report['ignored'])} classifier keys (fc.*)" if report["ignored"] else ""
        print(f"Backbone {self.backbone.name}: loaded {report['loaded']} tensors from {checkpoint}{kept}{ignored}.")
        return report

    def load_preset_weights(self, name, metadata, local_weights, skip_mismatch=False):
        """Loads the weights of preset `name` (repository, cache or download)."""
        path = preset_store.weights_for(name, metadata, local_weights)
        self(np.zeros((1, 64, 64, 3), "float32"))  # build every variable
        try:
            self.load_weights(str(path), skip_mismatch=skip_mismatch)
        except (OSError, ValueError) as error:
            cache = preset_store.cache_dir().resolve()
            if cache in Path(path).resolve().parents:  # downloaded: the next attempt starts clean
                Path(path).unlink(missing_ok=True)
                advice = "Removed it from the cache; loading the preset again downloads it afresh."
            else:
                advice = "It is not in the cache, so it was left in place: replace or delete it."
            raise preset_store.PresetError(
                f"Could not load the weights {path} of preset {name!r}: {error}. {advice}"
            ) from None

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
        metadata = {**self.preset_metadata, "parameter_count": int(self.count_params())}
        metadata.pop("weights_url", None)
        metadata.pop("weights_sha256", None)
        preset_store.write_preset(
            folder, {"class_name": type(self).__name__, "config": config}, metadata, model=self
        )

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "feature_strides": list(self.feature_strides),
            "head_kwargs": self.head_kwargs,
            "mean": list(self.mean),
            "std": list(self.std),
            "class_names": self.class_names,
            "palette": self.palette,
            "name": self.name,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
        }
