"""Every `keras-segup` subcommand end to end on small inputs, bad inputs included."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from keras_segup import cli
from keras_segup.datasets_info import CITYSCAPES_CLASSES
from keras_segup.datasets_info import CITYSCAPES_PALETTE
from keras_segup.models import FANetSegmenter
from tests.test_case import TestCase

HEAVY = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="train/export once, on TensorFlow")


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("preset") / "tiny_fanet"
    head = {"channels": 16, "aux_channels": 8, "classifier_channels": 16}
    FANetSegmenter(
        class_names=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE, backbone=TestCase.tiny_backbone(), head_kwargs=head
    ).save_to_preset(folder)
    return str(folder)


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


class TestCli(TestCase):
    def test_help_of_every_subcommand(self, capsys):
        for command in ("presets", "predict", "train", "evaluate", "export", "benchmark"):
            with pytest.raises(SystemExit) as exit_info:
                cli.main([command, "--help"])
            assert exit_info.value.code == 0
            assert "usage: keras-segup" in capsys.readouterr().out

    def test_presets_table(self, capsys):
        code, out, _ = run(capsys, "presets")
        assert code == 0 and "gai_cityscapes" in out and "rsp_r50_ade20k" in out

    def test_predict_any_image_and_skip_broken_ones(self, capsys, tmp_path, tiny_preset):
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
        Image.fromarray(rng.integers(0, 255, (40, 60), dtype=np.uint8)).save(tmp_path / "gray.png")
        Image.fromarray(rng.integers(0, 255, (33, 47, 4), dtype=np.uint8)).save(tmp_path / "rgba.png")
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(tmp_path / "photo.jpg")
        (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
        images = ["rgb.png", "gray.png", "rgba.png", "photo.jpg", "broken.png", "missing.png"]
        code, out, err = run(capsys, "predict", "--preset", tiny_preset, *[tmp_path / i for i in images],
                             "--out", tmp_path / "out", "--overlay", "--size", 32, 64)
        assert code == 1
        assert "gray.png: grayscale, repeated to RGB" in out and "rgba.png: alpha channel dropped" in out
        assert "skipping" in err and "broken.png" in err and "missing.png" in err
        assert "2 of 6 images could not be read" in err
        classes = np.asarray(Image.open(tmp_path / "out/rgba_classes.png"))
        assert classes.shape == (33, 47) and classes.max() < 19
        overlay = Image.open(tmp_path / "out/photo_overlay.png")
        assert overlay.size[0] == 60 and overlay.size[1] > 40  # legend strip below
        assert not (tmp_path / "out/broken_classes.png").exists()

    def test_bad_model_arguments_exit_2(self, capsys, tmp_path):
        image = tmp_path / "x.png"
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
        code, _, err = run(capsys, "predict", "--preset", "gai_kitti", image)
        assert code == 2 and "Unknown preset 'gai_kitti'" in err and "gai_cityscapes" in err
        code, _, err = run(capsys, "predict", "--model", tmp_path / "nope.keras", image)
        assert code == 2 and "does not exist" in err
        (tmp_path / "folder.keras").mkdir()
        code, _, err = run(capsys, "predict", "--model", tmp_path / "folder.keras", image)
        assert code == 2 and "is a folder, not a .keras file" in err
        (tmp_path / "corrupt.keras").write_bytes(b"PK junk")
        code, _, err = run(capsys, "predict", "--model", tmp_path / "corrupt.keras", image)
        assert code == 2 and "is not a readable .keras file" in err and "does not exist" not in err
        code, _, err = run(capsys, "predict", "--preset", "gai_cityscapes", image)
        assert code == 2 and "--no-weights" in err
        code, _, err = run(capsys, "evaluate", "--preset", "gai_cityscapes", "--no-weights", "--data", "cityscapes")
        assert code == 2 and "needs --data-root" in err
        code, _, err = run(capsys, "evaluate", "--preset", "gai_cityscapes", "--no-weights",
                           "--data-root", tmp_path / "nowhere")
        assert code == 2 and "does not exist" in err

    def test_benchmark(self, capsys, tiny_preset, tmp_path):
        code, out, _ = run(capsys, "benchmark", "--preset", tiny_preset, "--size", 64, 96, "--repeats", 4,
                           "--warmup", 1, "--batch-size", 2, "--json", tmp_path / "b.json")
        assert code == 0 and "ms per call" in out and "(batch 2, 64x96, float32)" in out
        assert "median of 4 timed calls after 1 warm-up calls" in out and "machine: " in out
        record = json.loads((tmp_path / "b.json").read_text())
        assert record["model"] == str(tiny_preset) and len(record["times_ms"]) == 4
        assert record["min_ms"] <= record["median_ms"] <= record["max_ms"]
        assert record["machine"]["backend"] == keras.backend.backend() and record["machine"]["cores"] >= 1
        assert 0 < record["batch_norm_folded"] < record["batch_norms"]  # the head's, not the backbone's
        assert f"folded into the layer before it in {record['batch_norm_folded']} of" in out
        code, _, err = run(capsys, "benchmark", "--preset", tiny_preset, "--json", tmp_path)
        assert code == 2 and "is a folder; name the file" in err
        code, _, err = run(capsys, "benchmark", "--model", tmp_path / "b.json", "--precision", "bfloat16")
        assert code == 2 and "--precision rebuilds a --preset" in err
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["benchmark", "--preset", tiny_preset, "--size", "64", "64", "--repeats", "0"])
        out, err = capsys.readouterr()
        assert exit_info.value.code == 2 and "--repeats: must be at least 1; got 0" in err and "nan" not in out

    @pytest.mark.parametrize("glibc", [True, False])
    def test_benchmark_keeps_freed_memory(self, capsys, tiny_preset, monkeypatch, glibc):
        calls = []  # the test process's own malloc stays as it is
        monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(1) or glibc)
        code, out, err = run(capsys, "benchmark", "--preset", tiny_preset, "--size", 32, 32, "--repeats", 1,
                             "--warmup", 1, "--keep-freed-memory")
        assert code == 0 and calls == [1] and "ms per call" in out
        assert ("the C library is not glibc" in err) == (not glibc)

    @HEAVY
    def test_train_evaluate_export(self, capsys, tmp_path, tiny_preset):
        run_dir = tmp_path / "run"
        code, out, _ = run(capsys, "train", "--preset", tiny_preset, "--data", "synthetic", "--synthetic", 4,
                           "--crop", 32, 64, "--epochs", 1, "--batch-size", 2, "--no-val", "--output", run_dir)
        assert code == 0 and (run_dir / "final.keras").is_file() and (run_dir / "log.csv").is_file()
        code, out, _ = run(capsys, "evaluate", "--model", run_dir / "final.keras", "--data", "synthetic",
                           "--synthetic", 16, "--limit", 1)
        assert code == 0 and "mIoU" in out and "road" in out  # the class names lived through train and .keras
        code, out, _ = run(capsys, "export", "--model", run_dir / "final.keras", "--format", "onnx",
                           "--size", 64, 128, "--out", tmp_path / "m.onnx", "--output", "classes")
        assert code == 0 and "verified: class maps agree" in out and (tmp_path / "m.onnx").is_file()
        code, _, err = run(capsys, "export", "--model", run_dir / "final.keras", "--format", "onnx",
                           "--size", 64, 128, "--quantization", "int8")
        assert code == 2 and "apply to TFLite" in err
        code, _, err = run(capsys, "export", "--model", run_dir / "final.keras", "--format", "tflite",
                           "--size", 64, 128, "--quantization", "int8")
        assert code == 2 and "--representative" in err
        code, _, err = run(capsys, "export", "--model", run_dir / "final.keras", "--format", "tflite",
                           "--size", 64, 128, "--quantization", "int16x8")
        assert code == 2 and "int16x8 needs --representative" in err
        code, _, err = run(capsys, "export", "--model", run_dir / "final.keras", "--format", "tflite",
                           "--size", 64, 128, "--quantization", "dynamic_range", "--keep-float", 2)
        assert code == 2 and "use it with --quantization int8" in err
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["export", "--model", str(run_dir / "final.keras"), "--format", "tflite", "--size", "64",
                      "128", "--quantization", "int8", "--keep-float", "-1"])
        assert exit_info.value.code == 2 and "--keep-float: must be at least 0; got -1" in capsys.readouterr().err
        code, out, _ = run(capsys, "export", "--model", run_dir / "final.keras", "--format", "tflite",
                           "--size", 64, 128, "--quantization", "dynamic_range", "--out", tmp_path / "dr.tflite")
        assert code == 0 and (tmp_path / "dr.tflite").is_file()

    def test_console_script_is_installed(self):
        script = Path(sys.executable).parent / "keras-segup"
        if not script.exists():
            pytest.skip("the package is not installed with its entry points")
        out = subprocess.run([script, "--help"], capture_output=True, text=True, env={**os.environ})
        assert out.returncode == 0 and "Exit codes" in out.stdout

    def test_a_normal_run_prints_no_framework_log_lines(self):
        script = Path(sys.executable).parent / "keras-segup"
        if not script.exists():
            pytest.skip("the package is not installed with its entry points")
        env = {key: value for key, value in os.environ.items() if key != "KERAS_SEGUP_NATIVE_LOGS"}
        out = subprocess.run([script, "presets"], capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0 and "gai_cityscapes" in out.stdout
        assert out.stderr == "", out.stderr[:2000]

    @HEAVY
    def test_backbone_weights_apply_to_presets_only(self, capsys, tmp_path, monkeypatch):
        def never(*args, **kwargs):
            raise AssertionError("a missing checkpoint is refused before any data or model is built")

        monkeypatch.setattr("keras_segup.data.synthetic", never)
        monkeypatch.setattr("keras_segup.models.Segmenter.from_preset", never)
        (tmp_path / "m.keras").write_bytes(b"")
        code, _, err = run(capsys, "train", "--model", tmp_path / "m.keras", "--backbone-weights", "x.pth",
                           "--data", "synthetic")
        assert code == 2 and "--backbone-weights starts a --preset from ImageNet weights" in err
        code, _, err = run(capsys, "train", "--preset", "fanet_r18_cityscapes", "--no-weights",
                           "--backbone-weights", tmp_path / "absent.pth", "--data", "synthetic")
        assert code == 2 and "absent.pth does not exist" in err


class TestReadImage(TestCase):
    def test_16_bit_grayscale_is_scaled_not_clipped(self, tmp_path):
        ramp = np.linspace(0, 65535, 64 * 4).reshape(4, 64).astype(np.uint16)
        Image.fromarray(ramp).save(tmp_path / "deep.png")
        image, note = cli.read_image(tmp_path / "deep.png")
        assert image.dtype == np.uint8 and image.shape == (4, 64, 3)
        np.testing.assert_allclose(image[..., 0], ramp / 257.0, atol=0.5)
        assert "16-bit" in note

    def test_exif_orientation_is_applied(self, tmp_path):
        picture = np.zeros((20, 40, 3), np.uint8)
        picture[:, :10] = 255  # white on the left
        exif = Image.Exif()
        exif[0x0112] = 6  # stored rotated: display turned 90 degrees clockwise
        Image.fromarray(picture).save(tmp_path / "phone.jpg", exif=exif)
        image, note = cli.read_image(tmp_path / "phone.jpg")
        assert image.shape == (40, 20, 3) and image[:10].mean() > 200 and "EXIF" in note


class TestPredictOutputs(TestCase):
    def test_same_file_names_never_overwrite_each_other(self, capsys, tmp_path, tiny_preset):
        rng = np.random.default_rng(1)
        for camera in ("cam_a", "cam_b"):
            (tmp_path / camera).mkdir()
            Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(tmp_path / camera / "frame.png")
        code, out, _ = run(capsys, "predict", "--preset", tiny_preset, tmp_path / "cam_a/frame.png",
                           tmp_path / "cam_b/frame.png", "--out", tmp_path / "out")
        assert code == 0, out
        assert (tmp_path / "out/cam_a/frame_classes.png").is_file()
        assert (tmp_path / "out/cam_b/frame_classes.png").is_file()
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(tmp_path / "cam_a/frame.jpg")
        code, _, err = run(capsys, "predict", "--preset", tiny_preset, tmp_path / "cam_a/frame.png",
                           tmp_path / "cam_a/frame.jpg", "--out", tmp_path / "out2")
        assert code == 2 and "frame.png and" in err and "frame.jpg" in err
        assert not (tmp_path / "out2").exists()

    def test_a_closed_pipe_is_not_an_error(self):
        script = "import sys; from keras_segup.cli import main; sys.exit(main(['presets']))"
        out = subprocess.run(f"{sys.executable} -c \"{script}\" | true", shell=True, capture_output=True,
                             text=True, timeout=300, env={**os.environ, "KERAS_SEGUP_NATIVE_LOGS": ""})
        assert "BrokenPipeError" not in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]


class TestUnexpectedErrors(TestCase):
    def test_one_paragraph_and_exit_1_with_the_traceback_behind_debug(self, capsys, monkeypatch):
        def explode(args):
            raise RuntimeError("the device ran out of memory")

        monkeypatch.setattr(cli, "run_presets", explode)
        code, _, err = run(capsys, "presets")
        assert code == 1 and "Traceback" not in err
        assert "error: the presets command failed: RuntimeError: the device ran out of memory" in err
        assert "--debug" in err
        with pytest.raises(RuntimeError, match="out of memory"):
            cli.main(["--debug", "presets"])
