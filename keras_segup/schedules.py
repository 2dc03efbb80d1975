import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_segup")
class PolyDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then polynomial decay: the segmentation papers' schedule.

    `lr(t) = base * (1 - t / total_steps) ** power` after `warmup_steps`
    steps that rise linearly from `base * warmup_ratio`.

    Args:
        base_learning_rate: peak learning rate.
        total_steps: steps of the whole run; the rate reaches 0 there.
        power: decay exponent (0.9 in GAI, IFA, FANet).
        warmup_steps: linear warm-up steps.
        warmup_ratio: starting fraction of the peak rate.

    Example:
    >>> schedule = PolyDecay(0.01, total_steps=1000, warmup_steps=100)
    >>> float(schedule(1000))
    0.0
    """

    def __init__(self, base_learning_rate, total_steps, power=0.9, warmup_steps=0, warmup_ratio=0.1):
        if total_steps <= warmup_steps:
            raise ValueError(
                f"`total_steps` ({total_steps}) must exceed `warmup_steps` ({warmup_steps})."
            )
        self.base_learning_rate = base_learning_rate
        self.total_steps = total_steps
        self.power = power
        self.warmup_steps = warmup_steps
        self.warmup_ratio = warmup_ratio

    def __call__(self, step):
        step = ops.cast(step, "float32")
        progress = ops.clip(step / self.total_steps, 0.0, 1.0)
        decayed = self.base_learning_rate * (1.0 - progress) ** self.power
        if not self.warmup_steps:
            return decayed
        ramp = self.warmup_ratio + (1.0 - self.warmup_ratio) * step / self.warmup_steps
        return ops.where(step < self.warmup_steps, decayed * ramp, decayed)

    def get_config(self):
        return {
            "base_learning_rate": self.base_learning_rate,
            "total_steps": self.total_steps,
            "power": self.power,
            "warmup_steps": self.warmup_steps,
            "warmup_ratio": self.warmup_ratio,
        }
