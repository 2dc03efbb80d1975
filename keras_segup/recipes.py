"""The papers' training recipes as data, and how a run on other hardware follows one.

Every built-in preset names the recipe its paper trains with
(`metadata["recipe"]` in the family's presets JSON); `Recipe` holds it,
validates overrides, scales it to another global batch and builds the
optimizer, schedule and loss it prescribes.

Scaling rule (Goyal et al., "Accurate, Large Minibatch SGD"): with a global
batch B instead of the paper's B0, the learning rate becomes
`lr * B / B0` and an iteration-based schedule keeps its number of images
(`iterations * B0 / B`, warm-up likewise); an epoch-based one keeps its
epochs. An explicitly given learning rate is never rescaled.
"""

import dataclasses
import math

from keras_segup.losses import OHEMCrossEntropy
from keras_segup.optimizers import TorchSGD
from keras_segup.presets import BUILTIN_PRESETS
from keras_segup.schedules import PolyDecay

LOSSES = ("cross_entropy", "ohem")
EVAL_MODES = ("whole", "slide", "multiscale")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a paper trains and evaluates one model.

    Args:
        crop_size: `(height, width)` of the training crops.
        batch_size: the global batch (all devices together).
        paper_devices: GPUs of the paper's run (what `batch_size` was split
            over), None where not stated.
        iterations: length of an iteration-based schedule (or None).
        epochs: length of an epoch-based schedule (or None); exactly one of
            `iterations` and `epochs` is set.
        learning_rate: peak learning rate at `batch_size`.
        momentum, weight_decay: of `torch.optim.SGD` (L2 on the gradient,
            see `keras_segup.optimizers.TorchSGD`).
        poly_power: exponent of the poly decay.
        warmup_iterations, warmup_ratio: linear warm-up from
            `warmup_ratio * learning_rate`.
        head_lr_multiplier: learning-rate factor of everything but the
            backbone (IFA: 10).
        loss: `"ohem"` or `"cross_entropy"` (both ignore label 255).
        ohem_threshold, ohem_min_kept: OHEM's probability threshold and
            pixels kept per image.
        aux_weights: weights of the auxiliary losses, one per aux output.
        scale_range: random resize range; flip: random horizontal flips;
            jitter: photometric jitter; blur: random Gaussian blur.
        eval_mode: `"whole"`, `"slide"` or `"multiscale"`; eval_crop,
            eval_stride: its windows; eval_flip: flip averaging.
        paper_result: the paper's figure for this preset, as text.
        source: where the values come from (config file, paper section).
        assumed: the fields no official source states (our choice, said
            in `source`).

    Example:
    >>> recipe = Recipe(crop_size=(1024, 1024), batch_size=16, paper_devices=8, iterations=80000)
    >>> recipe.scaled_to(8).learning_rate, recipe.scaled_to(8).iterations
    (0.005, 160000)
    """

    crop_size: tuple = (1024, 1024)
    batch_size: int = 8
    paper_devices: int = None
    iterations: int = None
    epochs: int = None
    learning_rate: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    warmup_iterations: int = 0
    warmup_ratio: float = 0.1
    head_lr_multiplier: float = 1.0
    loss: str = "ohem"
    ohem_threshold: float = 0.7
    ohem_min_kept: int = 100_000
    aux_weights: tuple = ()
    scale_range: tuple = (0.5, 2.0)
    flip: bool = True
    jitter: bool = False
    blur: bool = False
    eval_mode: str = "whole"
    eval_crop: tuple = None
    eval_stride: tuple = None
    eval_flip: bool = False
    paper_result: str = ""
    source: str = ""
    assumed: tuple = ()

    def __post_init__(self):
        for name in ("crop_size", "scale_range", "aux_weights", "eval_crop", "eval_stride", "assumed"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        problems = []
        if (self.iterations is None) == (self.epochs is None):
            problems.append(f"set exactly one of iterations ({self.iterations}) and epochs ({self.epochs})")
        for name in ("batch_size", "paper_devices", "iterations", "epochs", "ohem_min_kept"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                problems.append(f"{name} must be a positive integer, got {value!r}")
        for name in ("learning_rate", "poly_power", "head_lr_multiplier"):
            if not 0 < getattr(self, name) < math.inf:
                problems.append(f"{name} must be positive and finite, got {getattr(self, name)!r}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.weight_decay < 0 or self.warmup_iterations < 0 or not 0 < self.warmup_ratio <= 1:
            problems.append("weight_decay and warmup_iterations must be >= 0 and warmup_ratio in (0, 1]")
        if len(self.crop_size) != 2 or min(self.crop_size) < 1:
            problems.append(f"crop_size must be two positive sizes, got {self.crop_size}")
        if self.loss not in LOSSES:
            problems.append(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not 0 < self.ohem_threshold <= 1:
            problems.append(f"ohem_threshold is a probability in (0, 1], got {self.ohem_threshold!r}")
        if self.scale_range and not 0 < self.scale_range[0] <= self.scale_range[1]:
            problems.append(f"scale_range must be (low, high) with 0 < low <= high, got {self.scale_range}")
        if self.eval_mode not in EVAL_MODES:
            problems.append(f"eval_mode must be one of {EVAL_MODES}, got {self.eval_mode!r}")
        if problems:
            raise ValueError("Invalid training recipe: " + "; ".join(problems) + ".")

    @classmethod
    def from_dict(cls, values):
        """A recipe from a preset's `metadata["recipe"]`; unknown keys are refused."""
        unknown = sorted(set(values) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"Unknown recipe fields {unknown}; the fields: {cls.field_names()}.")
        return cls(**values)

    @classmethod
    def field_names(cls):
        return [field.name for field in dataclasses.fields(cls)]

    def to_dict(self):
        return {name: list(v) if isinstance(v, tuple) else v for name, v in dataclasses.asdict(self).items()}

    def replace(self, **changes):
        """A copy with `changes` (validated; unknown fields refused)."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ValueError(f"Unknown recipe fields {unknown}; the fields: {self.field_names()}.")
        return dataclasses.replace(self, **changes)

    def override(self, text):
        """A copy with one `field=value` override, the value parsed as the field's type.

        Setting `epochs` clears `iterations` and the other way round.

        Example:
        >>> Recipe(iterations=100).override("crop_size=512,1024").crop_size
        (512, 1024)
        """
        name, separator, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not separator or name not in self.field_names():
            raise ValueError(f"A recipe override is FIELD=VALUE with FIELD one of {self.field_names()}; got {text!r}.")
        changes = {name: _parse(name, value.strip(), getattr(self, name))}
        other = {"epochs": "iterations", "iterations": "epochs"}.get(name)
        if other and changes[name] is not None:
            changes[other] = None
        return self.replace(**changes)

    def scaled_to(self, batch_size):
        """The recipe for another global batch (see the module docstring).

        Args:
            batch_size: the new global batch.

        Returns:
            A `Recipe` whose `batch_size` is `batch_size`.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Invalid training recipe: batch_size must be a positive integer, got {batch_size!r}.")
        ratio = batch_size / self.batch_size
        changes = {"batch_size": batch_size, "learning_rate": self.learning_rate * ratio}
        if self.iterations is not None:
            changes["iterations"] = max(1, round(self.iterations / ratio))
        changes["warmup_iterations"] = round(self.warmup_iterations / ratio)
        return self.replace(**changes)

    def epochs_for(self, steps_per_epoch):
        """`(epochs, steps per epoch)` of a run on a dataset of `steps_per_epoch` batches.

        An iteration-based recipe runs `ceil(iterations / steps_per_epoch)`
        epochs of equal length (at most one pass each, drawn from one
        endless stream), `iterations` rounded up to a multiple of them.

        Example:
        >>> Recipe(iterations=1000).epochs_for(300)
        (4, 250)
        """
        if self.epochs is not None:
            return self.epochs, steps_per_epoch
        epochs = math.ceil(self.iterations / steps_per_epoch)
        return epochs, math.ceil(self.iterations / epochs)

    def optimizer(self, total_steps):
        """`TorchSGD` on the poly schedule with warm-up, as the recipe says."""
        warmup = min(self.warmup_iterations, total_steps - 1)
        schedule = PolyDecay(self.learning_rate, total_steps, power=self.poly_power,
                             warmup_steps=warmup, warmup_ratio=self.warmup_ratio)
        return TorchSGD(schedule, momentum=self.momentum, weight_decay=self.weight_decay)

    def loss_function(self):
        """The recipe's segmentation loss (applied to the main and auxiliary outputs)."""
        if self.loss == "ohem":
            return OHEMCrossEntropy(threshold=self.ohem_threshold, min_kept=self.ohem_min_kept)
        return "auto"

    def data_options(self):
        """Keyword arguments of the `keras_segup.data` training pipelines."""
        return {"crop_size": self.crop_size, "batch_size": self.batch_size, "scale_range": self.scale_range,
                "flip": self.flip, "jitter": self.jitter, "blur": self.blur}

    def evaluation_options(self):
        """`keras_segup.evaluate` keyword arguments for the recipe's evaluation.

        Example:
        >>> Recipe(iterations=1, eval_mode="slide", eval_crop=(769, 769), eval_stride=(513, 513),
        ...        eval_flip=True).evaluation_options()["mode"]
        'multiscale'
        """
        windows = {"crop_size": self.eval_crop, "stride": self.eval_stride}
        if self.eval_mode == "multiscale":
            return {"mode": "multiscale", "flip": self.eval_flip, **windows}
        if self.eval_flip:  # one scale with its mirror
            return {"mode": "multiscale", "scales": (1.0,), "flip": True, **windows}
        if self.eval_mode == "slide":
            return {"mode": "slide", **windows}
        return {"mode": "whole"}

    def describe(self, changed=()):
        """The recipe as printed lines, fields in `changed` marked as overridden."""
        lines = []
        for name, value in self.to_dict().items():
            if name in ("paper_result", "source", "assumed") or value is None or value == []:
                continue
            mark = "  (overridden)" if name in changed else "  (assumed)" if name in self.assumed else ""
            lines.append(f"  {name:<20} {value}{mark}")
        if self.paper_result:
            lines.append(f"  {'paper':<20} {self.paper_result}")
        if self.source:
            lines.append(f"  {'source':<20} {self.source}")
        return "\n".join(lines)


def preset_recipe(name):
    """The `Recipe` a built-in preset's paper trains with, or None for another handle.

    Example:
    >>> preset_recipe("ifa_r50_cityscapes").head_lr_multiplier
    10.0
    """
    values = BUILTIN_PRESETS.get(str(name), {}).get("metadata", {}).get("recipe")
    return None if values is None else Recipe.from_dict(values)


def _parse(name, text, current):
    """`text` as a value of the field `name` (whose current value is `current`)."""
    if name in ("iterations", "epochs") and text.lower() in ("none", ""):
        return None
    kind = type(current) if current is not None else (int if name in ("iterations", "epochs") else tuple)
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if kind is tuple:
            if text.lower() in ("none", ""):
                return None
            parts = [float(part) for part in text.replace("x", ",").split(",") if part.strip()]
            return tuple(int(p) if name in ("crop_size", "eval_crop", "eval_stride") else p for p in parts)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        return text
    except ValueError:
        raise ValueError(f"Recipe field {name} takes a {kind.__name__}; got {text!r}.") from None
