"""SGD as the papers' PyTorch code runs it."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_segup")
class TorchSGD(keras.optimizers.SGD):
    """SGD with `torch.optim.SGD`'s update and per-variable learning rates.

    The papers train with `torch.optim.SGD`, whose weight decay is an L2
    term added to the gradient before the momentum buffer, and whose buffer
    holds gradients, not steps:

        g = grad + weight_decay * p;  v = momentum * v + g;  p -= lr * factor * v

    Keras's `SGD` decays the weights outside the momentum (a tenth of
    torch's effective decay at momentum 0.9) and keeps `lr * grad` in its
    buffer, so a changing learning rate acts differently. `factor` is 1
    except for the variables given to `set_learning_rate_multiplier`
    (IFA trains its head at 10x the backbone's rate).

    Args:
        learning_rate: a float or a schedule.
        momentum: momentum of the buffer.
        weight_decay: the L2 coefficient, on every trainable variable
            (batch norm included, as in the papers' code).
        name: optimizer name.
        **kwargs: `keras.optimizers.Optimizer` arguments.

    Example:
    >>> optimizer = TorchSGD(0.01, momentum=0.9, weight_decay=5e-4)
    >>> optimizer.get_config()["weight_decay"]
    0.0005
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, weight_decay=0.0, name="torch_sgd", **kwargs):
        kwargs.pop("nesterov", None)
        super().__init__(learning_rate=learning_rate, momentum=momentum, name=name, **kwargs)
        if weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0; got {weight_decay}.")
        self.l2 = float(weight_decay)
        self.weight_decay = None  # Keras's decoupled decay stays off
        self._multipliers = {}

    def set_learning_rate_multiplier(self, variables, factor):
        """Scales the learning rate of `variables` by `factor` (set again after loading)."""
        if factor <= 0:
            raise ValueError(f"A learning-rate multiplier must be positive; got {factor}.")
        for variable in variables:
            self._multipliers[self._var_key(variable)] = float(factor)

    def update_step(self, gradient, variable, learning_rate):
        factor = self._multipliers.get(self._var_key(variable), 1.0)
        learning_rate = ops.cast(learning_rate, variable.dtype) * factor
        gradient = ops.cast(gradient, variable.dtype)
        if self.l2:
            gradient = gradient + self.l2 * variable
        if self.momentum:
            buffer = self.momentums[self._get_variable_index(variable)]
            self.assign(buffer, buffer * ops.cast(self.momentum, variable.dtype) + gradient)
            gradient = buffer
        self.assign_sub(variable, learning_rate * gradient)

    def get_config(self):
        config = super().get_config()
        config.pop("nesterov", None)
        config["weight_decay"] = self.l2
        return config
