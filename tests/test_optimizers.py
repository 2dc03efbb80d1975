import keras
import numpy as np
import pytest
import torch

from keras_segup.optimizers import TorchSGD
from keras_segup.schedules import PolyDecay
from tests.test_case import TestCase


class TestTorchSGD(TestCase):
    def test_follows_torch_sgd_with_weight_decay_schedule_and_multiplier(self):
        rng = np.random.default_rng(0)
        initial = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(4,)).astype("float32")]
        gradients = [[rng.normal(size=w.shape).astype("float32") for w in initial] for _ in range(6)]
        schedule = PolyDecay(0.1, total_steps=6, warmup_steps=2, warmup_ratio=0.1)

        variables = [keras.Variable(w) for w in initial]
        optimizer = TorchSGD(schedule, momentum=0.9, weight_decay=0.05)
        optimizer.set_learning_rate_multiplier(variables[1:], 10.0)
        for step_gradients in gradients:
            optimizer.apply([keras.ops.convert_to_tensor(g) for g in step_gradients], variables)

        params = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in initial]
        reference = torch.optim.SGD([{"params": params[:1]}, {"params": params[1:]}],
                                    lr=0.1, momentum=0.9, weight_decay=0.05)
        for step, step_gradients in enumerate(gradients):
            rate = float(schedule(step))
            reference.param_groups[0]["lr"], reference.param_groups[1]["lr"] = rate, 10 * rate
            for param, gradient in zip(params, step_gradients):
                param.grad = torch.from_numpy(gradient)
            reference.step()
        for ours, theirs in zip(variables, params):
            np.testing.assert_allclose(self.to_numpy(ours), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)

    def test_serializes_and_refuses_bad_values(self):
        optimizer = TorchSGD(0.01, momentum=0.9, weight_decay=1e-4)
        clone = TorchSGD.from_config(optimizer.get_config())
        assert clone.l2 == 1e-4 and clone.weight_decay is None
        with pytest.raises(ValueError, match="weight_decay"):
            TorchSGD(0.01, weight_decay=-1)
        with pytest.raises(ValueError, match="multiplier"):
            optimizer.set_learning_rate_multiplier([], 0)
