import keras
import numpy as np
import pytest

from keras_segup.models.fanet.fanet_head import FANetHead
from keras_segup.models.gai.gai_head import GAIHead
from keras_segup.models.ifa.ifa_head import IFAHead
from keras_segup.models.rsp.rsp_head import RSPHead
from tests.test_case import TestCase

# a 70x100 image (not a multiple of 32): strides 4..32 rounded up, small channels
GRIDS = [(18, 25), (9, 13), (5, 7), (3, 4)]
CHANNELS = [8, 12, 16, 20]

HEADS = {
    "gai": (GAIHead, {"num_classes": 5, "channels": 16}, [(9, 13), (9, 13)]),
    "fanet": (
        FANetHead,
        {"num_classes": 5, "channels": 8, "key_channels": 4, "aux_channels": 8,
         "classifier_channels": 8},
        [(3, 4), (5, 7)],
    ),
    "ifa": (
        IFAHead,
        {"num_classes": 5, "channels": 8, "pos_dim": 8, "hidden_units": (16, 8),
         "aux_channels": 8},
        [(5, 7)],
    ),
    "rsp": (RSPHead, {"num_classes": 5, "channels": 8, "key_channels": 4, "num_heads": 2}, [(5, 7)]),
}


def features(batch=2, seed=0):
    return [
        TestCase.realistic_features((batch, *grid, c), seed=seed + i, scale=1.0)
        for i, (grid, c) in enumerate(zip(GRIDS, CHANNELS))
    ]


class TestHeads(TestCase):
    @pytest.mark.parametrize("name", sorted(HEADS))
    def test_head_layer(self, name, tmp_path):
        cls, kwargs, _ = HEADS[name]
        self.run_layer_test(cls, kwargs, features(), (2, *GRIDS[0], 5), tmp_path)

    @pytest.mark.parametrize("name", sorted(HEADS))
    def test_auxiliary_outputs(self, name):
        cls, kwargs, aux_grids = HEADS[name]
        head = cls(**kwargs)
        outputs = head(features(), return_aux=True, training=True)
        assert [tuple(o.shape) for o in outputs] == [
            (2, *GRIDS[0], 5), *[(2, *g, 5) for g in aux_grids]
        ]
        symbolic = head([keras.Input((None, None, c)) for c in CHANNELS], return_aux=True)
        assert [tuple(o.shape) for o in symbolic] == [(None, None, None, 5)] * (1 + len(aux_grids))
        for output in outputs:
            assert np.all(np.isfinite(self.to_numpy(output)))

    @pytest.mark.parametrize("name", sorted(HEADS))
    def test_mixed_precision(self, name, request):
        if keras.backend.backend() == "jax" and not request.config.getoption("--run-large"):
            pytest.skip("jax runs this only with --run-large: compiling every op in bfloat16 takes minutes")
        cls, kwargs, _ = HEADS[name]
        self.run_precision_test(cls, kwargs, features(batch=1), {"return_aux": True})

    @pytest.mark.parametrize("name", sorted(HEADS))
    def test_rejects_wrong_inputs(self, name):
        cls, kwargs, _ = HEADS[name]
        head = cls(**kwargs)
        with pytest.raises(ValueError, match="takes a list of 4 tensors"):
            head(features()[:3])
        head = cls(**kwargs)
        head(features())
        wrong = features()
        wrong[2] = np.ones((2, *GRIDS[2], CHANNELS[2] + 1), "float32")
        with pytest.raises(ValueError, match="expected axis -1"):
            head(wrong)
        with pytest.raises(ValueError, match="rank 4"):
            cls(**kwargs)([f[0] for f in features()])

    def test_ifa_head_any_output_size(self):
        cls, kwargs, _ = HEADS["ifa"]
        head = cls(**kwargs)
        inputs = features()
        assert tuple(head(inputs, output_size=(70, 100)).shape) == (2, 70, 100, 5)
        symbolic = head([keras.Input((None, None, c)) for c in CHANNELS], output_size=(64, 80))
        assert tuple(symbolic.shape) == (None, 64, 80, 5)

    @pytest.mark.parametrize("name", sorted(HEADS))
    def test_decode_head_contract(self, name):
        cls, kwargs, aux_grids = HEADS[name]
        head = cls(**kwargs)
        shapes = [(2, *grid, c) for grid, c in zip(GRIDS, CHANNELS)]
        assert head.compute_output_shape(shapes) == (2, *GRIDS[0], 5)
        assert head.aux_output_shapes(shapes) == [(2, *grid, 5) for grid in aux_grids]
        symbolic = [keras.KerasTensor(s) for s in shapes]
        logits, *aux = head.compute_output_spec(symbolic, return_aux=True)
        assert logits.shape == (2, *GRIDS[0], 5) and [a.shape for a in aux] == head.aux_output_shapes(shapes)
        assert head.get_config()["num_classes"] == 5 and "dropout" in head.get_config()
        with pytest.raises(ValueError, match=f"{cls.__name__} takes a list of 4 tensors"):
            head.build(shapes[:3])
        with pytest.raises(ValueError, match="`num_classes` must be an int >= 1; got 0"):
            cls(**{**kwargs, "num_classes": 0})
        with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\); got 1.5"):
            cls(**{**kwargs, "dropout": 1.5})

    def test_segmenter_upsamples_with_its_heads_align_corners(self):
        from keras_segup.models import FANetSegmenter
        from keras_segup.models import GAISegmenter

        assert FANetHead.align_corners and not GAIHead.align_corners
        assert FANetSegmenter(num_classes=2, backbone="resnet18").align_corners is True
        assert GAISegmenter(num_classes=2, backbone="resnet18").align_corners is False
