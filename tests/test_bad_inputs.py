"""The bad-input contract (README, "Bad input"): every case gets its message and exit code or
exception, leaves no partial file, and destroys no existing one."""

import hashlib
import io
import json
import math
import re

import keras
import numpy as np
import pytest
from PIL import Image

from keras_segup import cli
from keras_segup import data
from keras_segup import evaluate
from keras_segup import training
from keras_segup.data import DataError
from keras_segup.datasets_info import CITYSCAPES_CLASSES
from keras_segup.datasets_info import CITYSCAPES_PALETTE
from keras_segup.export import ExportRefused
from keras_segup.export import export_onnx
from keras_segup.metrics import MeanIoU
from keras_segup.models import FANetSegmenter
from keras_segup.models import IFASegmenter
from keras_segup.recipes import Recipe
from tests.test_case import TestCase

HEAD = {"channels": 16, "aux_channels": 8, "classifier_channels": 16}


def tiny_model():
    return FANetSegmenter(class_names=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE,
                          backbone=TestCase.tiny_backbone(), head_kwargs=HEAD)


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("preset") / "tiny_fanet"
    tiny_model().save_to_preset(folder)
    return folder


def png(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path, **kwargs)
    return path


def image(tmp):
    return png(tmp / "street.png", np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8))


def cityscapes_layout(tmp, split, label_value=7, corrupt=False):
    """One 64x64 frame in the Cityscapes layout; its label holds `label_value`, or is damaged mid-file."""
    root = tmp / "cityscapes"
    png(root / f"leftImg8bit/{split}/c/c_0_0_leftImg8bit.png", np.full((64, 64, 3), 90, np.uint8))
    label = root / f"gtFine/{split}/c/c_0_0_gtFine_labelIds.png"
    values = np.random.default_rng(1).integers(7, 9, (64, 64), dtype=np.uint8)
    values[0, 0] = label_value
    png(label, values)
    if corrupt:  # header and end marker intact, compressed data zeroed: only decoding finds it
        raw = bytearray(label.read_bytes())
        start = raw.index(b"IDAT") + 20
        raw[start : start + 16] = bytes(16)
        label.write_bytes(bytes(raw))
    return root


def preset_folder(tmp, config):
    folder = tmp / "broken_preset"
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(config)
    (folder / "metadata.json").write_text("{}")
    return folder


def representative(tmp, files):
    folder = tmp / "calibration"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def plain_keras_file(tmp):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save(tmp / "plain.keras")
    return tmp / "plain.keras"


def float_tiff(tmp):
    path = tmp / "depth.tiff"
    Image.fromarray(np.random.default_rng(0).random((16, 16)).astype(np.float32), mode="F").save(path)
    return path


def bomb(tmp):
    path = tmp / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)  # 400 megapixels in 50 KB
    return path


def cmyk_jpeg(tmp):
    path = tmp / "print.jpg"
    Image.fromarray(np.full((24, 32, 4), 40, np.uint8), mode="CMYK").save(path)
    return path


def palette_png(tmp):
    return png(tmp / "indexed.png", Image.fromarray(np.full((24, 32, 3), 200, np.uint8)).convert("P"))


M = ["--preset"]  # the tiny preset follows
TRAIN = ["train", "--data", "synthetic", "--synthetic", "4", "--crop", "32", "32", "--batch-size", "2", "--no-val"]
EXPORT = ["export", "--format", "tflite", "--size", "64", "64"]

# name: (argv builder (tmp, preset) -> argv, exit code, message pattern in stderr/stdout)
CLI_CASES = {
    "predict --size 0": (lambda t, p: ["predict", *M, p, image(t), "--size", "0", "64"], 2,
                         r"--size: must be at least 1; got 0"),
    "predict --size not a number": (lambda t, p: ["predict", *M, p, image(t), "--size", "a", "64"], 2,
                                    r"--size: must be a whole number; got 'a'"),
    "predict --out is a file": (lambda t, p: ["predict", *M, p, image(t), "--out", t / "keep.txt"], 2,
                                r"--out .*keep.txt is a file; name a folder"),
    "predict --out under a file": (lambda t, p: ["predict", *M, p, image(t), "--out", t / "keep.txt/sub"], 2,
                                   r"lies under the file .*keep.txt"),
    "predict a float TIFF": (lambda t, p: ["predict", *M, p, float_tiff(t), "--out", t / "out"], 1,
                             r"depth.tiff: not a readable image \(a floating-point image"),
    "predict a decompression bomb": (lambda t, p: ["predict", *M, p, bomb(t), "--out", t / "out"], 1,
                                     r"bomb.png: not a readable image .*decompression bomb.*MAX_IMAGE_PIXELS"),
    "predict a CMYK JPEG": (lambda t, p: ["predict", *M, p, cmyk_jpeg(t), "--out", t / "out"], 0,
                            r"print.jpg: CMYK converted to RGB"),
    "predict a palette PNG": (lambda t, p: ["predict", *M, p, palette_png(t), "--out", t / "out"], 0,
                              r"indexed.png -> .*indexed_classes.png"),
    "predict a folder as image": (lambda t, p: ["predict", *M, p, t, "--out", t / "out"], 1,
                                  r"skipping .*: not a readable image"),
    "predict an empty file": (lambda t, p: ["predict", *M, p, t / "empty.png", "--out", t / "out"], 1,
                              r"skipping .*empty.png: not a readable image"),
    "--model holds a plain Keras model": (lambda t, p: ["predict", "--model", plain_keras_file(t), image(t)], 2,
                                          r"plain.keras holds a Sequential, not a keras_segup segmenter"),
    "preset config.json without class_name": (
        lambda t, p: ["predict", *M, preset_folder(t, '{"config": {}}'), image(t)], 2,
        r"config.json must hold an object with \"class_name\""),
    "preset config.json not JSON": (lambda t, p: ["predict", *M, preset_folder(t, "{oops"), image(t)], 2,
                                    r"config.json is not valid JSON"),
    "preset folder without config.json": (lambda t, p: ["predict", *M, preset_folder(t, None), image(t)], 2,
                                          r"config.json is missing"),
    "preset of an unknown class": (
        lambda t, p: ["predict", *M, preset_folder(t, '{"class_name": "Nope", "config": {}}'), image(t)], 2,
        r"names the class 'Nope', which is not a keras_segup segmenter"),
    "train --crop 0": (lambda t, p: [*TRAIN, *M, p, "--crop", "0", "32"], 2, r"--crop: must be at least 1"),
    "train --synthetic 0": (lambda t, p: [*TRAIN, *M, p, "--synthetic", "0"], 2, r"--synthetic: must be at least 1"),
    "train --steps-per-epoch 0": (lambda t, p: [*TRAIN, *M, p, "--steps-per-epoch", "0"], 2,
                                  r"--steps-per-epoch: must be at least 1"),
    "train --lr inf": (lambda t, p: [*TRAIN, *M, p, "--lr", "inf", "--output", t / "run"], 2,
                       r"learning_rate must be positive and finite, got inf"),
    "train --lr nan": (lambda t, p: [*TRAIN, *M, p, "--lr", "nan", "--output", t / "run"], 2,
                       r"learning_rate must be positive and finite, got nan"),
    "train --iterations 0": (lambda t, p: [*TRAIN, *M, p, "--iterations", "0", "--output", t / "run"], 2,
                             r"iterations must be a positive integer, got 0"),
    "train --output is a file": (lambda t, p: [*TRAIN, *M, p, "--output", t / "keep.txt"], 2,
                                 r"--output .*keep.txt is a file"),
    "train --recipe unknown field": (lambda t, p: [*TRAIN, *M, p, "--recipe", "colour=1", "--output", t / "run"],
                                     2, r"recipe.*colour"),
    "train --recipe bad value": (lambda t, p: [*TRAIN, *M, p, "--recipe", "momentum=fast", "--output", t / "run"],
                                 2, r"Recipe field momentum takes a float; got 'fast'"),
    "train on a label out of range": (
        lambda t, p: ["train", *M, p, "--data-root", cityscapes_layout(t, "train", label_value=40), "--crop", "32",
                      "32", "--batch-size", "1", "--epochs", "1", "--no-val", "--output", t / "run"], 2,
        r"The label file .*c_0_0_gtFine_labelIds.png holds the value 40, which is out of range"),
    "evaluate on a label out of range": (
        lambda t, p: ["evaluate", *M, p, "--data-root", cityscapes_layout(t, "val", label_value=40), "--mode",
                      "whole"], 2, r"The label file .*gtFine_labelIds.png holds the value 40"),
    "evaluate on a label damaged mid-file": (
        lambda t, p: ["evaluate", *M, p, "--data-root", cityscapes_layout(t, "val", corrupt=True), "--mode",
                      "whole"], 2, r"The file .*c_0_0_gtFine_labelIds.png could not be decoded"),
    "evaluate --stride 0": (lambda t, p: ["evaluate", *M, p, "--mode", "slide", "--stride", "0", "5"], 2,
                            r"--stride: must be at least 1"),
    "evaluate --limit 0": (lambda t, p: ["evaluate", *M, p, "--limit", "0"], 2, r"--limit: must be at least 1"),
    "evaluate a missing data root": (lambda t, p: ["evaluate", *M, p, "--data-root", t / "nowhere"], 2,
                                     r"nowhere does not exist"),
    "export --out is a folder": (lambda t, p: [*EXPORT, *M, p, "--out", t], 2, r"is a folder; name the file to write"),
    "export --out in a missing folder": (lambda t, p: [*EXPORT, *M, p, "--out", t / "nowhere/m.tflite"], 2,
                                         r"The folder .*nowhere does not exist; create it first"),
    "export --size too small": (lambda t, p: [*EXPORT, *M, p, "--size", "16", "16", "--out", t / "m.tflite"], 2,
                                r"too small; use at least 32x32"),
    "export --opset unsupported": (
        lambda t, p: ["export", "--format", "onnx", "--size", "64", "64", *M, p, "--opset", "5",
                      "--out", t / "m.onnx"], 2, r"Opset 5 is not supported"),
    "export int8 without images": (lambda t, p: [*EXPORT, *M, p, "--quantization", "int8", "--out", t / "m.tflite"],
                                   2, r"int8 needs --representative"),
    "export --representative missing": (
        lambda t, p: [*EXPORT, *M, p, "--quantization", "int8", "--representative", t / "nowhere",
                      "--out", t / "m.tflite"], 2, r"--representative .*nowhere is not a folder"),
    "export --representative empty": (
        lambda t, p: [*EXPORT, *M, p, "--quantization", "int8", "--representative", representative(t, {}),
                      "--out", t / "m.tflite"], 2, r"No PNG or JPEG images in"),
    "export --representative unreadable": (
        lambda t, p: [*EXPORT, *M, p, "--quantization", "int8", "--representative",
                      representative(t, {"broken.png": b"\x89PNG no"}), "--out", t / "m.tflite"], 2,
        r"--representative: .*broken.png is not a readable image"),
    "export --keep-float without int8": (
        lambda t, p: [*EXPORT, *M, p, "--quantization", "float16", "--keep-float", "2", "--out", t / "m.tflite"], 2,
        r"--keep-float keeps layers out of int8: use it with --quantization int8"),
    "export --keep-float -1": (lambda t, p: [*EXPORT, *M, p, "--keep-float", "-1", "--out", t / "m.tflite"], 2,
                               r"--keep-float: must be at least 0; got -1"),
    "export --keep-float lower-case op": (
        lambda t, p: [*EXPORT, *M, p, "--keep-float", "batch_matmul", "--out", t / "m.tflite"], 2,
        r"--keep-float: must be a number of layers or TFLite op names in capitals, e.g. BATCH_MATMUL; "
        r"got 'batch_matmul'"),
    "benchmark --repeats -1": (lambda t, p: ["benchmark", *M, p, "--repeats", "-1"], 2,
                               r"--repeats: must be at least 1; got -1"),
    "benchmark --size 0 0": (lambda t, p: ["benchmark", *M, p, "--size", "0", "0"], 2, r"--size: must be at least 1"),
}


def snapshot(folder):
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.rglob("*") if path.is_file()}


class TestCommandLine(TestCase):
    @pytest.mark.parametrize("name", list(CLI_CASES))
    def test_bad_input(self, name, tmp_path, preset, capsys, monkeypatch):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "keep.txt").write_text("an existing file")
        (tmp_path / "empty.png").write_bytes(b"")
        build, expected_code, pattern = CLI_CASES[name]
        argv = [str(arg) for arg in build(tmp_path, preset)]
        before = snapshot(tmp_path)
        try:
            code = cli.main(argv)
        except SystemExit as exit_info:  # argparse's refusals
            code = exit_info.code
        out, err = capsys.readouterr()
        assert code == expected_code, out + err
        assert re.search(pattern, out + err), out + err
        assert "Traceback" not in err
        after = snapshot(tmp_path)
        assert not [path for path in after if "partial" in path.name]
        assert {path: after.get(path) for path in before} == before  # every existing file survives
        if expected_code == 2:  # refused before any work: nothing written
            assert set(after) == set(before), sorted(set(after) - set(before))


class TestLibrary(TestCase):
    def test_num_classes_zero(self):
        with pytest.raises(ValueError, match=r"`num_classes` must be an int >= 1; got 0"):
            FANetSegmenter(num_classes=0, backbone=self.tiny_backbone())

    def test_output_size_zero(self):
        model = IFASegmenter(num_classes=3, backbone=self.tiny_backbone())
        with pytest.raises(ValueError, match=r"`output_size` must be two positive whole numbers .* \(0, 10\)"):
            model(np.zeros((1, 64, 64, 3), "float32"), output_size=(0, 10))

    def test_segment_size_zero_and_nan_pixels(self):
        model = tiny_model()
        with pytest.raises(ValueError, match=r"`size` must be two positive whole numbers"):
            model.segment(np.zeros((1, 32, 32, 3)), size=(0, 10))
        images = np.zeros((2, 32, 32, 3))
        images[1, 3, 4, 0] = math.nan
        with pytest.raises(ValueError, match=r"1 pixel values are NaN or infinite, first in image 1"):
            model.segment(images)

    def test_mean_iou_of_no_classes(self):
        with pytest.raises(ValueError, match=r"`num_classes` must be positive; got 0"):
            MeanIoU(0)

    def test_recipe_infinite_learning_rate(self):
        with pytest.raises(ValueError, match=r"learning_rate must be positive and finite, got inf"):
            Recipe(epochs=1, learning_rate=math.inf)

    def test_training_stream_position_and_cache(self):
        with pytest.raises(ValueError, match=r"start_step=-1 needs a seed and start_step >= 0"):
            data.synthetic(4, size=(32, 32), training=True, batch_size=2, start_step=-1)
        with pytest.raises(ValueError, match=r"cache applies to evaluation pipelines"):
            data.synthetic(4, size=(32, 32), training=True, batch_size=2, cache=True)

    def test_evaluate_a_label_out_of_range_names_the_file(self, tmp_path):
        root = cityscapes_layout(tmp_path, "val", label_value=40)
        with pytest.raises(DataError, match=r"c_0_0_gtFine_labelIds.png holds the value 40"):
            evaluate(tiny_model(), data.cityscapes(root, "val"), verbose=0)

    def test_numpy_labels_out_of_range_are_an_error(self):
        labels = np.full((1, 32, 32), 7)
        labels[0, 0, 0] = 40
        with pytest.raises(ValueError, match=r"1 label values are out of range, e.g. 40"):
            evaluate(tiny_model(), [(np.zeros((1, 32, 32, 3), "float32"), labels)], verbose=0)

    def test_train_on_a_label_out_of_range_names_the_file(self, tmp_path):
        root = cityscapes_layout(tmp_path, "train", label_value=40)
        dataset = data.cityscapes(root, "train", batch_size=1, crop_size=(32, 32))
        with pytest.raises(DataError, match=r"holds the value 40"):
            training.train(tiny_model, dataset, epochs=1, output_dir=tmp_path / "run", verbose=0)
        assert not (tmp_path / "run/final.keras").exists()

    def test_a_decompression_bomb_in_a_dataset_names_the_file(self, tmp_path):
        root = cityscapes_layout(tmp_path, "val")
        bomb_file = bomb(tmp_path)
        bomb_file.replace(root / "leftImg8bit/val/c/c_0_0_leftImg8bit.png")
        with pytest.raises(DataError, match=r"c_0_0_leftImg8bit.png is not a readable image .*decompression bomb"):
            data.cityscapes(root, "val")

    def test_export_refusals_are_their_own_type(self, tmp_path):
        with pytest.raises(ExportRefused, match=r"too small"):
            export_onnx(tiny_model(), tmp_path / "m.onnx", (16, 16))
        with pytest.raises(ExportRefused, match=r"is a folder"):
            export_onnx(tiny_model(), tmp_path, (64, 64))
        assert list(tmp_path.iterdir()) == []

    def test_a_preset_config_without_class_name(self, tmp_path):
        folder = preset_folder(tmp_path, json.dumps({"config": {"num_classes": 3}}))
        with pytest.raises(ValueError, match=r"must hold an object with \"class_name\""):
            FANetSegmenter.from_preset(folder, load_weights=False)

    def test_a_png_that_is_no_image_in_a_dataset(self, tmp_path):
        root = cityscapes_layout(tmp_path, "val")
        buffer = io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(40))
        (root / "gtFine/val/c/c_0_0_gtFine_labelIds.png").write_bytes(buffer.getvalue())
        with pytest.raises(DataError, match=r"c_0_0_gtFine_labelIds.png is not a readable image"):
            data.cityscapes(root, "val")
