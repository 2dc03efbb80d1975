"""`TestCase`: every helper of the test suite, in the spirit of keras-hub's.

Test modules put their tests in a class derived from `TestCase` and call
the helpers as `self.<helper>` (module-level code: `TestCase.<helper>`);
no helper is imported from another test module or a conftest.
"""

import keras
import numpy as np
import torch
from keras import ops
from torch import nn

from keras_segup.models import FANetSegmenter
from keras_segup.models import GAISegmenter
from keras_segup.models import IFASegmenter
from keras_segup.models import RSPSegmenter


class TorchBlock(nn.Module):
    """torchvision's BasicBlock/Bottleneck with the papers' options (activation, dilation)."""

    def __init__(self, bottleneck, inplanes, planes, stride, dilation, leaky):
        super().__init__()
        self.bottleneck = bottleneck
        self.act = nn.LeakyReLU(0.01) if leaky else nn.ReLU()
        out = planes * (4 if bottleneck else 1)
        if bottleneck:
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
            self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
        else:
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=1, bias=False)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn1, self.bn2 = nn.BatchNorm2d(planes), nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.bottleneck:
            out = self.bn3(self.conv3(self.act(out)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + shortcut)


class TorchResNet(nn.Module):
    """The official layouts: `conv1`/`bn1` or the deep stem `conv1.{0,1,3,4,6}` + `bn1`, layer1..4."""

    def __init__(self, block_type="basic", stackwise_num_blocks=(2, 2, 2, 2), stem="7x7",
                 activation="relu", max_pool_ceil_mode=False, stackwise_strides=(1, 2, 2, 2),
                 stage4_dilations=None):
        super().__init__()
        leaky = activation == "leaky_relu"
        self.act = nn.LeakyReLU(0.01) if leaky else nn.ReLU()
        if stem == "deep":
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, 128, 3, 1, 1, bias=False),
            )
            inplanes = 128
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            inplanes = 64
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.maxpool = nn.MaxPool2d(3, 2, 1, ceil_mode=max_pool_ceil_mode)
        bottleneck = block_type == "bottleneck"
        dilations = stage4_dilations or (1,) * stackwise_num_blocks[3]
        for stage, (blocks, stride) in enumerate(zip(stackwise_num_blocks, stackwise_strides)):
            planes, layer = 64 * 2**stage, []
            for index in range(blocks):
                dilation = dilations[index] if stage == 3 else 1
                layer.append(TorchBlock(bottleneck, inplanes, planes, stride if index == 0 else 1, dilation, leaky))
                inplanes = planes * (4 if bottleneck else 1)
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layer))

    def forward(self, x):
        x = self.conv1(x)
        if isinstance(self.conv1, nn.Sequential):  # the deep stem's ReLUs sit inside conv1
            x = torch.relu(self.bn1(x))
        else:
            x = self.act(self.bn1(x))
        x = self.maxpool(x)
        levels = []
        for stage in range(1, 5):
            x = getattr(self, f"layer{stage}")(x)
            levels.append(x)
        return levels


def _randomised(module, seed=0):
    """Random weights and batch-norm statistics, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * (2.0 / m.weight[0].numel()) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=generator) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)
    return module.eval()



class TestCase:
    """The helpers of the suite; test classes derive from it (pytest collects them)."""

    # family -> (segmenter class, a small head configuration, number of auxiliary outputs)
    SMALL_SEGMENTERS = {
        "gai": (GAISegmenter, {"channels": 16}, 2),
        "ifa": (IFASegmenter, {"channels": 16, "pos_dim": 8, "hidden_units": [16, 16], "aux_channels": 16}, 1),
        "fanet": (FANetSegmenter, {"channels": 16, "aux_channels": 8, "classifier_channels": 16}, 2),
        "rsp": (RSPSegmenter, {"channels": 16, "key_channels": 8, "num_heads": 2}, 1),
    }

    @staticmethod
    def tiny_backbone():
        """A one-block-per-stage keras-hub ResNet: fast to build and compile in tests."""
        import keras_hub

        return keras_hub.models.ResNetBackbone(
            input_conv_filters=[64],
            input_conv_kernel_sizes=[7],
            stackwise_num_filters=[64, 128, 256, 512],
            stackwise_num_blocks=[1, 1, 1, 1],
            stackwise_num_strides=[1, 2, 2, 2],
            block_type="basic_block",
        )

    HUB_BACKBONES = ("cspnet", "densenet", "efficientnet", "mit", "resnet")

    @staticmethod
    def hub_backbone(kind, image_size=64):
        """A tiny keras-hub `FeaturePyramidBackbone` of `kind` (`HUB_BACKBONES`), built offline.

        MiT needs a static square image size (`image_size`); the others take any size.
        """
        import keras_hub

        models = keras_hub.models
        if kind == "resnet":
            return TestCase.tiny_backbone()
        if kind == "efficientnet":  # B0's seven stages, one narrow block each; P1 at stride 2
            return models.EfficientNetBackbone(
                stackwise_kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
                stackwise_num_repeats=[1] * 7,
                stackwise_input_filters=[16, 8, 16, 16, 24, 24, 32],
                stackwise_output_filters=[8, 16, 16, 24, 24, 32, 40],
                stackwise_expansion_ratios=[1, 2, 2, 2, 2, 2, 2],
                stackwise_squeeze_and_excite_ratios=[0.25] * 7,
                stackwise_strides=[1, 2, 2, 2, 1, 2, 1],
                stackwise_block_types=["v1"] * 7,
                width_coefficient=1.0,
                depth_coefficient=1.0,
            )  # `num_features` stays 1280: keras-hub 0.32's get_config leaves it out
        if kind == "mit":  # SegFormer's encoder; its levels are named P1..P4
            return models.MiTBackbone(
                layerwise_depths=[1, 1, 1, 1],
                num_layers=4,
                layerwise_num_heads=[1, 1, 1, 1],
                layerwise_sr_ratios=[4, 2, 1, 1],
                max_drop_path_rate=0.0,
                layerwise_patch_sizes=[7, 3, 3, 3],
                layerwise_strides=[4, 2, 2, 2],
                hidden_dims=[8, 16, 24, 32],
                image_shape=(image_size, image_size, 3),
            )
        if kind == "cspnet":
            return models.CSPNetBackbone(
                stem_filters=8,
                stem_kernel_size=3,
                stem_strides=2,
                stackwise_depth=[1, 1, 1, 1],
                stackwise_strides=[2, 2, 2, 2],
                stackwise_num_filters=[8, 16, 24, 32],
                block_type="dark_block",
                stage_type="dark",
            )
        if kind == "densenet":
            return models.DenseNetBackbone(stackwise_num_repeats=[1, 1, 1, 1], growth_rate=8)
        raise ValueError(f"unknown backbone kind {kind!r}; one of {TestCase.HUB_BACKBONES}")

    @staticmethod
    def small_segmenter(family, backbone=None, num_classes=5):
        """A segmenter of `family` with a small head on `backbone` (default: `tiny_backbone()`)."""
        cls, head_kwargs, _ = TestCase.SMALL_SEGMENTERS[family]
        return cls(num_classes=num_classes, backbone=backbone or TestCase.tiny_backbone(), head_kwargs=head_kwargs)

    @staticmethod
    def torch_resnet(name, seed=0):
        """A PyTorch reference of `PAPER_BACKBONES[name]` in the official key layout,
        with random weights and batch-norm statistics, in eval mode."""
        from keras_segup.backbones import PAPER_BACKBONES

        return _randomised(TorchResNet(**PAPER_BACKBONES[name]), seed)

    @staticmethod
    def to_numpy(x):
        return ops.convert_to_numpy(x)

    @staticmethod
    def gradient(fn, *inputs):
        """d sum(fn(*inputs)) / d inputs with the active backend's autodiff.

        Args:
            fn: function of backend tensors returning a tensor.
            *inputs: numpy float arrays.

        Returns:
            List of numpy arrays, one gradient per input.
        """
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            def total(*args):
                return fn(*args).sum()

            grads = jax.grad(total, argnums=tuple(range(len(inputs))))(*inputs)
            return [np.asarray(g) for g in grads]
        if backend == "torch":
            import torch

            tensors = [torch.tensor(a, requires_grad=True) for a in inputs]
            fn(*tensors).sum().backward()
            return [t.grad.numpy() for t in tensors]
        import tensorflow as tf

        tensors = [tf.constant(a) for a in inputs]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            total = tf.reduce_sum(fn(*tensors))
        return [g.numpy() for g in tape.gradient(total, tensors)]

    @staticmethod
    def numerical_gradient(fn, inputs, index, eps=1e-3):
        """Central differences of sum(fn(*inputs)) wrt inputs[index], in float64."""
        inputs = [np.asarray(a, np.float64) for a in inputs]
        target = inputs[index]
        grad = np.zeros_like(target)

        def total():
            cast = [a.astype(np.float32) for a in inputs]
            return float(TestCase.to_numpy(fn(*cast)).astype(np.float64).sum())

        for i in np.ndindex(target.shape):
            saved = target[i]
            target[i] = saved + eps
            plus = total()
            target[i] = saved - eps
            minus = total()
            target[i] = saved
            grad[i] = (plus - minus) / (2 * eps)
        return grad

    @staticmethod
    def run_layer_test(
        layer_cls,
        init_kwargs,
        input_data,
        expected_output_shape,
        tmp_path,
        rtol=1e-5,
        atol=1e-5,
    ):
        """Builds, checks shapes, round-trips config and `.keras`, trains a step.

        Args:
            layer_cls: the layer class.
            init_kwargs: constructor arguments.
            input_data: numpy array, or a list of them for a multi-input layer.
            expected_output_shape: shape tuple, or a list of them.
            tmp_path: a folder for the `.keras` file.

        Returns:
            The layer, built.
        """
        multi_input = isinstance(input_data, (list, tuple))
        inputs_np = list(input_data) if multi_input else [input_data]
        layer = layer_cls(**init_kwargs)
        output = layer(inputs_np if multi_input else inputs_np[0])
        outputs = output if isinstance(output, (list, tuple)) else [output]
        expected = (
            expected_output_shape
            if isinstance(expected_output_shape, list)
            else [expected_output_shape]
        )
        assert [tuple(o.shape) for o in outputs] == [tuple(s) for s in expected]

        # symbolic call: None batch, compute_output_shape agrees with call
        symbolic = [keras.Input(shape=a.shape[1:]) for a in inputs_np]
        symbolic_out = layer_cls(**init_kwargs)(symbolic if multi_input else symbolic[0])
        symbolic_outs = symbolic_out if isinstance(symbolic_out, (list, tuple)) else [symbolic_out]
        for sym, real in zip(symbolic_outs, outputs):
            assert sym.shape[0] is None and tuple(sym.shape[1:]) == tuple(real.shape[1:])

        # config round trip: same outputs with the same weights
        config = layer.get_config()
        clone = layer_cls.from_config(config)
        clone(inputs_np if multi_input else inputs_np[0])
        clone.set_weights(layer.get_weights())
        assert clone.get_config() == config
        clone_out = clone(inputs_np if multi_input else inputs_np[0])
        clone_outs = clone_out if isinstance(clone_out, (list, tuple)) else [clone_out]
        for a, b in zip(outputs, clone_outs):
            np.testing.assert_allclose(TestCase.to_numpy(a), TestCase.to_numpy(b), rtol=rtol, atol=atol)

        # .keras save / load inside a functional model
        model = keras.Model(symbolic, symbolic_out)
        model.set_weights(layer.get_weights())
        reference = model.predict(inputs_np, verbose=0)
        path = str(tmp_path / "layer.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        loaded = restored.predict(inputs_np, verbose=0)
        for a, b in zip(
            reference if isinstance(reference, list) else [reference],
            loaded if isinstance(loaded, list) else [loaded],
        ):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)

        # one training step: finite loss, finite weights that moved
        if model.trainable_weights:
            before = [TestCase.to_numpy(w).copy() for w in model.trainable_weights]
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
            targets = [np.zeros_like(np.asarray(r)) for r in (reference if isinstance(reference, list) else [reference])]
            loss = model.train_on_batch(inputs_np, targets if len(targets) > 1 else targets[0])
            assert np.all(np.isfinite(loss))
            after = [TestCase.to_numpy(w) for w in model.trainable_weights]
            assert all(np.all(np.isfinite(w)) for w in after)
            assert any(not np.allclose(a, b) for a, b in zip(before, after))
        return layer

    @staticmethod
    def realistic_features(shape, seed=0, scale=3.0):
        """Post-ReLU-like backbone features: |N(0, scale^2)|, float32."""
        return np.abs(np.random.default_rng(seed).normal(0.0, scale, size=shape)).astype("float32")

    @staticmethod
    def run_precision_test(layer_cls, init_kwargs, input_data, call_kwargs=None):
        """Under mixed_bfloat16 and mixed_float16: dtypes as the policy says, finite outputs.

        As keras-hub's `run_precision_test`: every output has the compute dtype
        (except where a layer documents float32), every weight the variable
        dtype (float32), every sublayer the policy's compute dtype or float32.
        """
        for policy in ("mixed_bfloat16", "mixed_float16"):
            compute = policy.split("_")[1]
            layer = layer_cls(**init_kwargs, dtype=policy)
            outputs = layer(input_data, **(call_kwargs or {}))
            for output in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
                assert keras.backend.standardize_dtype(output.dtype) == compute, (
                    f"{layer_cls.__name__} output is {output.dtype} under {policy}"
                )
                values = TestCase.to_numpy(ops.cast(output, "float32"))
                assert np.all(np.isfinite(values)), f"non-finite output under {policy}"
            for weight in layer.weights:
                assert weight.dtype == "float32", f"{weight.path} is {weight.dtype} under {policy}"
            for sublayer in layer._flatten_layers(include_self=False):
                assert sublayer.compute_dtype in (compute, "float32"), (
                    f"{sublayer.name} computes in {sublayer.compute_dtype} under {policy}"
                )
