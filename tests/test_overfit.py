"""Each segmenter can fit the real Cityscapes frame in ../shared (mIoU > 0.9), and a
small model trained on synthetic scenes generalises to held-out ones (mIoU > 0.8)."""

import keras
import numpy as np
import pytest

import keras_segup
from keras_segup.backbones.resnet import resnet_backbone
from keras_segup.models import FANetSegmenter
from keras_segup.models import GAISegmenter
from keras_segup.models import IFASegmenter
from keras_segup.models import RSPSegmenter

SEGMENTERS = {"fanet": FANetSegmenter, "gai": GAISegmenter, "ifa": IFASegmenter, "rsp": RSPSegmenter}
MAX_STEPS = 1000


def halves(frames):
    """The left and right halves of each frame, as a batch twice as long.

    GAI's and RSP's global context needs two images per batch (its batch
    norm sees one value per image); the halves hold every pixel of the frame.
    """
    width = frames.shape[2] // 2
    return np.concatenate([frames[:, :, :width], frames[:, :, width:]])


def overfit_steps(model, images, labels, check_every=25):
    """Adam steps (2e-3, cosine decay over MAX_STEPS) on one batch until the
    inference-mode mIoU passes 0.9; returns (steps, mIoU)."""
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, MAX_STEPS)))
    miou = 0.0
    for step in range(1, MAX_STEPS + 1):
        model.train_on_batch(images, labels)
        if step % check_every == 0:
            dataset = [(images, labels)]
            miou = keras_segup.evaluate(model, dataset, num_classes=19, verbose=0)["mean_iou"]
            if miou > 0.9:
                return step, miou
    return MAX_STEPS, miou


@pytest.mark.large
@pytest.mark.parametrize("name", sorted(SEGMENTERS))
def test_overfits_the_cityscapes_frame(name, shared_dir):
    if name != "fanet" and keras.backend.backend() != "tensorflow":
        pytest.skip("FANet runs on every backend; the other segmenters on TensorFlow")
    images, labels = next(iter(keras_segup.data.cityscapes(shared_dir / "data/cityscapes", "val")))
    images, labels = halves(np.asarray(images)), halves(np.asarray(labels))
    keras.utils.set_random_seed(0)
    # fitting one frame tests capacity: no dropout and no auxiliary losses
    # (deep supervision), which both regularise
    head_kwargs = {"dropout": 0.0} if name in ("gai", "rsp") else None
    model = SEGMENTERS[name](num_classes=19, backbone=resnet_backbone(18), head_kwargs=head_kwargs)
    model.aux_loss_weights = (0.0,) * len(model.aux_loss_weights)
    steps, miou = overfit_steps(model, images, labels)
    print(f"{name} ({keras.backend.backend()}): mIoU {miou:.3f} after {steps} steps")
    assert miou > 0.9, f"{name} reached only mIoU {miou:.3f} in {MAX_STEPS} steps"


@pytest.mark.large
def test_synthetic_training_generalises(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("one backend is enough; TensorFlow trains fastest on CPU")
    keras.utils.set_random_seed(0)
    size = (128, 256)
    train = keras_segup.data.synthetic(96, size=size, training=True, batch_size=8, seed=0, scale_range=(0.75, 1.5))
    held_out = keras_segup.data.synthetic(16, size=size, seed=10**6, batch_size=4)

    def build():
        return FANetSegmenter(num_classes=19, backbone=resnet_backbone(18),
                              head_kwargs={"channels": 64, "aux_channels": 32, "classifier_channels": 64})

    model, _ = keras_segup.training.train(build, train, 12, tmp_path, learning_rate=0.05, verbose=0)
    miou = keras_segup.evaluate(model, held_out, verbose=0)["mean_iou"]
    print(f"held-out synthetic mIoU {miou:.3f}")
    assert miou > 0.8
