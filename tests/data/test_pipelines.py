import numpy as np
import pytest
from PIL import Image

from keras_segup import data
from keras_segup.data.labels import CITYSCAPES_LABEL_TO_TRAIN
from keras_segup.datasets_info import VOC_PALETTE
from keras_segup.datasets_info import VOC_VOID_COLOR

# trainIds of the shared frame after mapping its labelIds (shared/data/MANIFEST.md)
FRAME_COUNTS = {0: 9740, 1: 2628, 2: 12744, 4: 44, 5: 396, 7: 188, 8: 664, 10: 581, 11: 107, 13: 1802, 255: 3874}


def first(dataset):
    images, labels = next(iter(dataset))
    return np.asarray(images), np.asarray(labels)


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def test_cityscapes_frame_maps_label_ids(shared_dir):
    images, labels = first(data.cityscapes(shared_dir / "data/cityscapes", "val"))
    assert images.shape == (1, 128, 256, 3) and images.dtype == np.float32
    assert labels.dtype == np.int32
    values, counts = np.unique(labels, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == FRAME_COUNTS


def test_label_table_is_cityscapesscripts():
    from cityscapesscripts.helpers.labels import labels

    official = {l.id: l.trainId for l in labels if 0 <= l.trainId < 19 and l.id >= 0}
    assert official == CITYSCAPES_LABEL_TO_TRAIN


def test_voc_colour_labels(shared_dir):
    voc = shared_dir / "data/voc"
    dataset = data.folder(voc, voc, palette=VOC_PALETTE, void_color=VOC_VOID_COLOR,
                          image_suffix="_image.png", label_suffix="_target.png")
    classes = [set(np.unique(np.asarray(labels)).tolist()) for _, labels in dataset]
    # sorted names 114_, 1_, 23_: bird, aeroplane, sheep (MANIFEST.md), background, void
    assert classes == [{0, 3, 255}, {0, 1, 255}, {0, 17, 255}]


def test_training_pipeline_shapes_and_determinism(tmp_path):
    data.write_cityscapes_layout(tmp_path, 4, size=(96, 160), split="train")
    kwargs = dict(batch_size=2, crop_size=(64, 64), seed=3)
    a = [tuple(map(np.asarray, b)) for b in data.cityscapes(tmp_path, "train", **kwargs)]
    b = [tuple(map(np.asarray, b)) for b in data.cityscapes(tmp_path, "train", **kwargs)]
    assert len(a) == 2
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xa.shape == (2, 64, 64, 3) and ya.shape == (2, 64, 64)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    other = first(data.cityscapes(tmp_path, "train", **{**kwargs, "seed": 4}))
    assert not np.array_equal(other[0], a[0][0])
    assert 0 <= a[0][0].min() and a[0][0].max() <= 255


def test_augment_keeps_labels_on_pixels():
    """Scale/crop/flip move image and label together; padding is labelled 255."""
    import tensorflow as tf

    image = np.zeros((40, 60, 3), np.float32)
    label = np.zeros((40, 60), np.int32)
    image[:, 30:] = 200.0
    label[:, 30:] = 1
    for seed in range(8):
        out_image, out_label = data.augment(
            tf.constant(image), tf.constant(label), tf.constant([seed, 1]), (96, 96),
            scale_range=(0.5, 2.0), jitter=False,
        )
        out_image, out_label = np.asarray(out_image), np.asarray(out_label)
        assert set(np.unique(out_label)) <= {0, 1, 255}
        inside = out_label != 255
        assert (out_image[inside & (out_label == 1)].mean(-1) > 100).mean() > 0.95
        assert (out_image[inside & (out_label == 0)].mean(-1) < 100).mean() > 0.95
        assert (out_label == 255).any()  # 40x60 scaled by <= 2 never fills 96x96


def test_synthetic_scenes_are_seeded_and_labelled():
    image, label = data.scene((64, 128), seed=5)
    again, _ = data.scene((64, 128), seed=5)
    np.testing.assert_array_equal(image, again)
    assert image.shape == (64, 128, 3) and image.dtype == np.uint8
    assert {0, 2, 10}.issubset(set(np.unique(label).tolist()))
    images, labels = first(data.synthetic(3, size=(64, 128), batch_size=3))
    assert images.shape == (3, 64, 128, 3) and labels.shape == (3, 64, 128)


@pytest.mark.parametrize(
    "breakage, message",
    [
        ("missing_root", "does not exist"),
        ("empty", "No image/label pairs"),
        ("no_label", "has no label"),
        ("size", "must match"),
        ("truncated", "truncated or corrupt"),
        ("garbage", "not a readable image"),
    ],
)
def test_bad_data_names_the_file(tmp_path, breakage, message):
    root = tmp_path / "cs"
    data.write_cityscapes_layout(root, 2, size=(32, 64), split="val")
    image = sorted((root / "leftImg8bit/val/synth").iterdir())[0]
    label = root / "gtFine/val/synth" / image.name.replace("leftImg8bit", "gtFine_labelIds")
    culprit = str(image)
    if breakage == "missing_root":
        root, culprit = tmp_path / "nowhere", "nowhere"
    elif breakage == "empty":
        for path in (root / "leftImg8bit/val/synth").iterdir():
            path.unlink()
        culprit = "leftImg8bit"
    elif breakage == "no_label":
        label.unlink()
        culprit = str(label)
    elif breakage == "size":
        write_png(label, np.zeros((16, 64)))
    elif breakage == "truncated":
        image.write_bytes(image.read_bytes()[:-40])
    else:
        image.write_bytes(b"not a png at all")
    with pytest.raises(data.DataError, match=message) as error:
        data.cityscapes(root, "val")
    assert culprit in str(error.value)


def test_label_out_of_range_names_the_file(tmp_path):
    import tensorflow as tf

    write_png(tmp_path / "leftImg8bit/val/c/c_0_0_leftImg8bit.png", np.zeros((8, 8, 3)))
    write_png(tmp_path / "gtFine/val/c/c_0_0_gtFine_labelIds.png", np.full((8, 8), 40))
    with pytest.raises(tf.errors.InvalidArgumentError, match="labelIds are 0..33.*c_0_0_gtFine"):
        first(data.cityscapes(tmp_path, "val"))


def test_ade20k_layout(tmp_path):
    image = tmp_path / "images/validation/ADE_val_1.jpg"
    image.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(image)
    write_png(tmp_path / "annotations/validation/ADE_val_1.png", np.array([[0, 1, 150] * 4] * 8))
    _, labels = first(data.ade20k(tmp_path, "val"))
    np.testing.assert_array_equal(labels[0, 0, :3], [255, 0, 149])


def test_voc_layout(tmp_path):
    (tmp_path / "ImageSets/Segmentation").mkdir(parents=True)
    (tmp_path / "ImageSets/Segmentation/val.txt").write_text("2007_000001\n")
    (tmp_path / "JPEGImages").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "JPEGImages/2007_000001.jpg")
    index = np.array([[0, 15, 255, 1]] * 8, np.uint8).repeat(2, 1)
    target = Image.fromarray(index, mode="P")
    target.putpalette([c for i in range(256) for c in (VOC_PALETTE + ((0, 0, 0),) * 234 + (VOC_VOID_COLOR,))[i]])
    (tmp_path / "SegmentationClass").mkdir()
    target.save(tmp_path / "SegmentationClass/2007_000001.png")
    _, labels = first(data.voc(tmp_path, "val"))
    np.testing.assert_array_equal(labels[0, 0], index[0].astype(np.int32))
    with pytest.raises(data.DataError, match="train.txt is missing"):
        data.voc(tmp_path, "train")


def test_folder_needs_one_label_encoding(tmp_path):
    with pytest.raises(data.DataError, match="exactly one"):
        data.folder(tmp_path, tmp_path)


def test_random_blur_smooths_and_is_seeded():
    import tensorflow as tf

    from keras_segup.data.transforms import random_blur

    image = np.zeros((32, 32, 3), np.float32)
    image[:, ::2] = 255.0  # a stripe pattern: any blur lowers its contrast
    outputs = [np.asarray(random_blur(tf.constant(image), tf.constant([seed, 3], tf.int64))) for seed in range(8)]
    blurred = [out for out in outputs if not np.array_equal(out, image)]
    assert 0 < len(blurred) < 8  # applied with probability one half
    for out in blurred:
        assert out.shape == image.shape and np.ptp(out[8:-8, 8:-8]) < 255
        np.testing.assert_allclose(out.mean(), image.mean(), rtol=0.02)  # the kernel sums to one
    again = np.asarray(random_blur(tf.constant(image), tf.constant([0, 3], tf.int64)))
    np.testing.assert_array_equal(again, outputs[0])


def test_label_pngs_decode_at_their_bit_depth(tmp_path):
    """A 16-bit label PNG holds the same ids as an 8-bit one; values past 255 name the file."""
    import tensorflow as tf

    from keras_segup.data.labels import cityscapes_decoder

    ids = np.array([[7, 8, 26], [0, 33, 24]], np.uint16)
    Image.fromarray(ids.astype(np.uint8)).save(tmp_path / "eight.png")
    Image.fromarray(ids).save(tmp_path / "sixteen.png")  # a 16-bit grayscale PNG
    decode = cityscapes_decoder()
    expected = [[0, 1, 13], [255, 18, 11]]
    for name in ("eight.png", "sixteen.png"):
        raw = tf.io.read_file(str(tmp_path / name))
        np.testing.assert_array_equal(np.asarray(decode(raw, name)), expected, err_msg=name)
    Image.fromarray(np.array([[7, 300]], np.uint16)).save(tmp_path / "big.png")
    with pytest.raises(tf.errors.InvalidArgumentError, match="big.png"):
        decode(tf.io.read_file(str(tmp_path / "big.png")), "big.png")
