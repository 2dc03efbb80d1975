import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_segup import data
from keras_segup import training
from keras_segup.utils.atomic import write_atomically
from keras_segup.models import FANetSegmenter
from tests.test_case import TestCase

ROOT = Path(__file__).resolve().parents[1]
HEAD = {"channels": 16, "aux_channels": 8, "classifier_channels": 16}


def tiny_fanet():
    keras.utils.set_random_seed(7)
    return FANetSegmenter(num_classes=19, backbone=TestCase.tiny_backbone(), head_kwargs=HEAD)


class StopAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated interruption")


TWO_CPU_DEVICES = """
import sys, keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_segup.cli import main
sys.exit(main(["train", "--data", "synthetic", *sys.argv[1:]]))
"""


DETERMINISTIC_CLI = """
import sys, keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
from keras_segup.cli import main
sys.exit(main(sys.argv[1:]))
"""


class TestExactResume(TestCase):
    @pytest.mark.one_backend("torch")  # the per-backend resume: TestTraining.test_interrupted_run_resumes_exactly
    def test_kill_9_and_the_same_command_give_the_weights_of_an_uninterrupted_run(self, tmp_path):
        preset = tmp_path / "tiny"
        tiny_fanet().save_to_preset(preset)

        def command(output):
            return [sys.executable, "-c", DETERMINISTIC_CLI, "train", "--preset", str(preset), "--data",
                    "synthetic", "--synthetic", "12", "--crop", "32", "48", "--batch-size", "2", "--epochs", "3",
                    "--no-val", "--seed", "5", "--output", str(output)]

        straight = subprocess.run(command(tmp_path / "a"), cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert straight.returncode == 0, straight.stderr[-3000:]
        process = subprocess.Popen(command(tmp_path / "b"), cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 600
        while not (tmp_path / "b/backup/epoch-00001.weights.h5").exists():
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before epoch 1"
            time.sleep(0.02)
        process.kill()  # SIGKILL, in epoch 2 (or while it saves)
        process.wait()
        assert not (tmp_path / "b/final.keras").exists()
        (tmp_path / "b/backup/.partial.epoch-00002.weights.h5").write_bytes(b"killed while saving")
        resumed = subprocess.run(command(tmp_path / "b"), cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "resuming after epoch" in resumed.stdout
        a, b = (keras.saving.load_model(tmp_path / f"{run}/final.keras") for run in "ab")
        for x, y in zip(a.weights, b.weights):
            if keras.backend.backend() == "tensorflow":  # op determinism: bitwise
                np.testing.assert_array_equal(self.to_numpy(y), self.to_numpy(x), err_msg=x.path)
            else:
                np.testing.assert_allclose(self.to_numpy(y), self.to_numpy(x), rtol=0, atol=1e-6, err_msg=x.path)
        with open(tmp_path / "b/log.csv") as handle:
            assert [row["epoch"] for row in csv.DictReader(handle)] == ["0", "1", "2"]
        assert not list((tmp_path / "b").rglob("*partial*"))


class TestTraining(TestCase):
    def test_interrupted_run_resumes_exactly(self, tmp_path):
        # no shuffling, so the interrupted and the straight runs see the same batches
        dataset = data.synthetic(4, size=(32, 64), batch_size=2, seed=1)
        kwargs = dict(epochs=2, learning_rate=0.05, verbose=0)
        straight, _ = training.train(tiny_fanet, dataset, output_dir=tmp_path / "a", **kwargs)
        with pytest.raises(KeyboardInterrupt):
            training.train(tiny_fanet, dataset, output_dir=tmp_path / "b", callbacks=[StopAtEpoch(1)], **kwargs)
        resumed, history = training.train(tiny_fanet, dataset, output_dir=tmp_path / "b", **kwargs)
        assert history.epoch == [1]
        for a, b in zip(straight.weights, resumed.weights):
            np.testing.assert_allclose(self.to_numpy(b), self.to_numpy(a), rtol=1e-5, atol=1e-6, err_msg=a.path)
        with open(tmp_path / "b/log.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["epoch"] for row in rows] == ["0", "1"]
        assert {"loss", "mean_iou", "learning_rate"} <= set(rows[0])
        assert not any(key.startswith("val_") for key in rows[0])  # no validation, no val_ columns
        assert (tmp_path / "b/final.keras").is_file() and (tmp_path / "b/last.keras").is_file()

    def test_a_run_folder_of_keras_backup_and_restore_resumes(self, tmp_path):
        dataset = data.synthetic(4, size=(32, 64), batch_size=2, seed=1)
        model = tiny_fanet()
        model(np.zeros((1, 64, 64, 3), "float32"))
        model.compile(learning_rate=0.05, total_steps=5, warmup_steps=0)
        model.optimizer.build(model.trainable_variables)
        (tmp_path / "backup").mkdir()
        model.save_weights(tmp_path / "backup/latest.weights.h5")
        (tmp_path / "backup/training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
        _, history = training.train(tiny_fanet, dataset, epochs=2, output_dir=tmp_path, verbose=0)
        assert history.epoch == [1]

    def test_unknown_distribution_and_torch_refusal(self):
        with pytest.raises(ValueError, match="Unknown distribution"):
            training.distribution_scope("model_parallel")
        if keras.backend.backend() == "torch":
            with pytest.raises(ValueError, match="jax and tensorflow"):
                training.distribution_scope("data_parallel")
        if keras.backend.backend() == "tensorflow":
            with pytest.raises(ValueError, match="keras-team/keras issue 20585"):
                training.distribution_scope("multi_worker")
        if keras.backend.backend() == "jax":
            with pytest.raises(ValueError, match="KERAS_DISTRIBUTION_JOB_ADDRESSES"):
                training.distribution_scope("multi_worker")

    @pytest.mark.skipif(keras.backend.backend() != "jax", reason="multi-host training runs on JAX")
    def test_two_processes_train_one_model(self, tmp_path):
        preset = tmp_path / "tiny"
        tiny_fanet().save_to_preset(preset)
        processes = []
        for index in range(2):
            env = {**os.environ, "KERAS_DISTRIBUTION_JOB_ADDRESSES": "localhost:12457,localhost:12458",
                   "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "keras_segup.cli", "train", "--data", "synthetic", "--synthetic", "8",
                 "--preset", str(preset), "--iterations", "4", "--batch-size", "4", "--crop", "32", "64",
                 "--distribute", "multi_worker", "--output", str(tmp_path / f"run{index}"), "--no-val"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            ))
        outputs = [process.communicate(timeout=600)[0] for process in processes]
        for process, output in zip(processes, outputs):
            assert process.returncode == 0, output[-3000:]
            assert "on 2 device(s)" in output
        first, second = (keras.saving.load_model(tmp_path / f"run{i}/final.keras") for i in range(2))
        for a, b in zip(first.weights, second.weights):
            np.testing.assert_array_equal(self.to_numpy(a), self.to_numpy(b), err_msg=a.path)

    @pytest.mark.skipif(keras.backend.backend() == "torch", reason="data parallel runs on jax and tensorflow")
    def test_cli_trains_data_parallel_on_two_cpu_devices(self, tmp_path):
        preset = tmp_path / "tiny"
        tiny_fanet().save_to_preset(preset)
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
        out = subprocess.run(
            [sys.executable, "-c", TWO_CPU_DEVICES, "--synthetic", "4", "--preset", str(preset),
             "--epochs", "1", "--batch-size", "4", "--crop", "32", "64", "--distribute", "data_parallel",
             "--output", str(tmp_path / "run"), "--no-val"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        assert "on 2 device(s)" in out.stdout
        assert (tmp_path / "run/final.keras").is_file()


class TestFinalModel(TestCase):
    def test_a_failed_save_keeps_the_previous_final_model(self, tmp_path, monkeypatch):
        model = tiny_fanet()
        target = tmp_path / "final.keras"
        target.write_bytes(b"the previous run")

        def broken_save(path, *args, **kwargs):
            with open(path, "wb") as handle:
                handle.write(b"half a file")
            raise OSError("disk full")

        monkeypatch.setattr(model, "save", broken_save)
        with pytest.raises(OSError, match="disk full"):
            write_atomically(target, model.save)
        assert target.read_bytes() == b"the previous run" and sorted(tmp_path.iterdir()) == [target]
