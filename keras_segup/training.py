"""Training a segmenter with `model.fit`: recipes, precision, devices, checkpoints, exact resume.

Run folder layout (`output_dir`):
    backup/       `epoch-NNNNN.weights.h5`: weights, optimizer and random
                  state after epoch NNNNN (the latest one is kept)
    last.keras    the model after the latest finished epoch
    final.keras   the model after the last epoch
    log.csv       one row per epoch (loss, mean_iou, val_*, learning rate,
                  images per second)
"""

import contextlib
import csv
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from keras_segup.utils.atomic import write_atomically
from keras_segup.utils.data_errors import named_data_errors

DISTRIBUTIONS = (None, "data_parallel", "multi_worker")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
_STARTED = {}  # the process's distribution engines: each starts once


class EpochBackup(keras.callbacks.Callback):
    """Saves the whole training state after every epoch, atomically.

    `backup_dir/epoch-NNNNN.weights.h5` holds the weights, the optimizer's
    variables (its step, so the schedule too) and the layers' random-seed
    state after `NNNNN` epochs. It is written to a temporary name and
    renamed (`write_atomically`); older files are removed after.
    `latest_backup` finds the file to resume from.

    Args:
        backup_dir: folder of the files.
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = Path(backup_dir)

    def on_epoch_end(self, epoch, logs=None):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        path = self.backup_dir / f"epoch-{epoch + 1:05d}.weights.h5"
        write_atomically(path, self.model.save_weights)
        for older in self.backup_dir.glob("epoch-*.weights.h5"):
            if older != path:
                older.unlink()


def latest_backup(backup_dir):
    """`(epochs done, weights file)` of the newest `EpochBackup` file, or `(0, None)`."""
    files = sorted(Path(backup_dir).glob("epoch-*.weights.h5"))
    if not files:
        legacy = Path(backup_dir) / "training_metadata.json"  # earlier versions: Keras BackupAndRestore
        if legacy.is_file():
            return json.loads(legacy.read_text())["epoch"], legacy.with_name("latest.weights.h5")
        return 0, None
    return int(files[-1].name[len("epoch-") : -len(".weights.h5")]), files[-1]


class _LogLearningRate(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class EpochLog(keras.callbacks.CSVLogger):
    """`log.csv`: exactly the columns the epochs log, continued on resume.

    Keras's `CSVLogger` adds a `val_` twin of every column when the first
    epoch has no validation (and of `learning_rate` and the throughput
    when it has); here the columns are the first epoch's keys, or the
    existing file's header when a resumed run appends to it. A resumed run
    first drops the rows of the epochs it trains again (written before an
    interruption could save their backup).

    Args:
        filename: the CSV file.
        append: continue an existing file.
        initial_epoch: the first epoch this run trains.
    """

    def __init__(self, filename, append=False, initial_epoch=0):
        super().__init__(filename, append=append)
        self.initial_epoch = initial_epoch

    def on_train_begin(self, logs=None):
        self.columns = None
        path = Path(self.filename)
        if self.append and path.is_file() and path.stat().st_size:
            with open(path, newline="") as handle:
                rows = list(csv.reader(handle, delimiter=self.sep))
            self.columns = [key for key in rows[0] if key != "epoch"]
            kept = [rows[0]] + [row for row in rows[1:] if row and int(row[0]) < self.initial_epoch]
            if len(kept) < len(rows):
                write_atomically(path, lambda temporary: _write_rows(temporary, kept, self.sep))

    def on_epoch_end(self, epoch, logs=None):
        if self.csv_file is None:  # opened with the first row: a run that fails first leaves no empty log
            super().on_train_begin()
            self.keys = self.columns or sorted(logs or {})
        super().on_epoch_end(epoch, logs)


class ThroughputLogger(keras.callbacks.Callback):
    """Training images per second and seconds per step, into the epoch logs.

    The first step of each epoch (compilation, the input pipeline filling
    its buffers) is left out of the rate.

    Args:
        batch_size: global images per step (None: seconds per step only).
    """

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size

    def on_epoch_begin(self, epoch, logs=None):
        self.steps, self.start = 0, None

    def on_train_batch_end(self, batch, logs=None):
        if self.start is None:
            self.start = time.perf_counter()
        else:
            self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.steps:
            seconds = (time.perf_counter() - self.start) / self.steps
            logs["seconds_per_step"] = seconds
            if self.batch_size:
                logs["images_per_second"] = self.batch_size / seconds


def distribution_scope(distribute):
    """A context in which to build and compile a model for `distribute`.

    `"data_parallel"` replicates the model on every local device and splits
    each batch between them: `keras.distribution.DataParallel` on JAX,
    `tf.distribute.MirroredStrategy` on TensorFlow. `"multi_worker"` does
    the same over the devices of every host: on JAX
    `keras.distribution.initialize()` first joins the processes named by
    `KERAS_DISTRIBUTION_JOB_ADDRESSES` (coordinator first),
    `KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`.
    On TensorFlow it is refused: Keras 3's `fit` fails under
    `tf.distribute.MultiWorkerMirroredStrategy` (keras-team/keras issue
    20585, reproduced with TensorFlow 2.21 and Keras 3.15). Engines start
    once per process and are reused; call this before other work. Every
    process runs the same command and must build the same initial weights
    (`keras.utils.set_random_seed` first; the command line does it with
    `--seed`). The torch backend has no multi-device path in Keras's
    trainer, so it is refused.

    Args:
        distribute: None, `"data_parallel"` or `"multi_worker"`.

    Returns:
        `(context manager, number of replicas)`.
    """
    if distribute not in DISTRIBUTIONS:
        raise ValueError(f"Unknown distribution {distribute!r}; choose one of {DISTRIBUTIONS}.")
    if distribute is None:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "jax":
        if distribute == "multi_worker" and distribute not in _STARTED:
            missing = [name for name in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                                         "KERAS_DISTRIBUTION_PROCESS_ID") if name not in os.environ]
            if missing:
                raise ValueError(
                    f"Multi-worker training on JAX needs {', '.join(missing)} in the environment of every "
                    "process (see the README's 'Training at scale')."
                )
            keras.distribution.initialize()
            _STARTED[distribute] = True
        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return contextlib.nullcontext(), len(devices)
    if backend == "tensorflow":
        import tensorflow as tf

        if distribute == "multi_worker":
            raise ValueError(
                "Keras 3's model.fit does not run under tf.distribute.MultiWorkerMirroredStrategy "
                "(keras-team/keras issue 20585: its first-batch build reduces a per-replica batch the "
                "collective ops cannot convert); train across hosts with KERAS_BACKEND=jax."
            )
        if distribute not in _STARTED:
            _STARTED[distribute] = tf.distribute.MirroredStrategy()
        strategy = _STARTED[distribute]
        return strategy.scope(), strategy.num_replicas_in_sync
    raise ValueError(
        "Data-parallel training runs on the jax and tensorflow backends; set "
        "KERAS_BACKEND=jax or tensorflow, or train on one device."
    )


@contextlib.contextmanager
def precision_policy(precision):
    """Builds models under the Keras dtype policy `precision` inside the block.

    `"mixed_bfloat16"` and `"mixed_float16"` compute in 16 bits and keep the
    variables (and the heads' softmax, normalisation and sampling islands)
    in float32; `compile` wraps the optimizer of a `"mixed_float16"` model
    in a `LossScaleOptimizer` (dynamic loss scaling).

    Args:
        precision: None (the current policy), `"float32"`,
            `"mixed_bfloat16"` or `"mixed_float16"`.
    """
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose one of {PRECISIONS}.")
    previous = keras.config.dtype_policy()
    if precision is not None:
        keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def compile_for_recipe(model, recipe, total_steps):
    """Compiles `model` with the recipe's optimizer, schedule, loss and weights.

    The auxiliary losses take `recipe.aux_weights`; everything outside the
    backbone learns at `recipe.head_lr_multiplier` times the rate.

    Args:
        model: a built segmenter.
        recipe: a `keras_segup.recipes.Recipe`.
        total_steps: optimizer steps of the whole run.
    """
    if recipe.aux_weights and len(recipe.aux_weights) != len(model.aux_loss_weights):
        raise ValueError(
            f"The recipe weights {len(recipe.aux_weights)} auxiliary losses {recipe.aux_weights}, but "
            f"{type(model).__name__} has {len(model.aux_loss_weights)}; set aux_weights to "
            f"{len(model.aux_loss_weights)} values."
        )
    if recipe.aux_weights:
        model.aux_loss_weights = tuple(recipe.aux_weights)
    optimizer = recipe.optimizer(total_steps + 1)
    if recipe.head_lr_multiplier != 1:
        backbone = {id(variable) for variable in model.backbone.trainable_variables}
        head = [variable for variable in model.trainable_variables if id(variable) not in backbone]
        optimizer.set_learning_rate_multiplier(head, recipe.head_lr_multiplier)
    model.compile(optimizer=optimizer, loss=recipe.loss_function())


def train(
    build_model,
    train_data,
    epochs=None,
    output_dir="runs/train",
    val_data=None,
    steps_per_epoch=None,
    resume=True,
    distribute=None,
    loss="auto",
    learning_rate=0.01,
    warmup_steps=None,
    callbacks=(),
    verbose="auto",
    recipe=None,
    precision=None,
):
    """Trains with `model.fit`, checkpointing every epoch and resuming exactly.

    An interrupted run (even `kill -9`) started again with the same
    arguments continues from the last finished epoch with the same weights,
    optimizer state, learning-rate schedule and random state (`EpochBackup`);
    `log.csv` goes on where it stopped. Given a stream function as
    `train_data`, the data continue too: the resumed run sees the batches
    the uninterrupted run would have seen, so it ends with the same weights
    (bitwise on TensorFlow with `tf.config.experimental.enable_op_determinism()`,
    and in practice on JAX and torch on CPU; see the README).

    Args:
        build_model: zero-argument function returning an uncompiled
            segmenter (called inside the distribution scope and the
            precision policy).
        train_data: a function `start_step -> tf.data.Dataset` (None: one
            pass of the training data; an integer: the endless stream of
            batches from that batch on), such as
            `lambda start_step: cityscapes(root, seed=0, start_step=start_step)`
            (see `keras_segup.data.make_dataset`); or a `tf.data.Dataset`
            of `(images, labels)` batches, which a resumed run iterates
            afresh.
        epochs: number of epochs; with a `recipe`, default: what its
            iterations or epochs come to.
        output_dir: run folder (see the module docstring).
        val_data: optional validation dataset (mean IoU each epoch).
        steps_per_epoch: default: the dataset's length.
        resume: continue an interrupted run in `output_dir`; False starts
            afresh (its backup is deleted).
        distribute: None, `"data_parallel"` or `"multi_worker"` (see
            `distribution_scope`).
        loss: `"auto"` (cross-entropy ignoring 255), `"ohem"`, or a loss
            (without a recipe).
        learning_rate: peak learning rate of the poly schedule (without a
            recipe).
        warmup_steps: default: 5% of the steps, at most 1000 (without a
            recipe).
        callbacks: more Keras callbacks.
        verbose: `model.fit` verbosity.
        recipe: a `keras_segup.recipes.Recipe`: its optimizer, schedule,
            loss and auxiliary weights replace `loss`, `learning_rate` and
            `warmup_steps` (`compile_for_recipe`); build `train_data` with
            `recipe.data_options()`.
        precision: None, `"float32"`, `"mixed_bfloat16"` or
            `"mixed_float16"` (see `precision_policy`).

    Returns:
        `(model, history)`.

    Example:
    ```python
    model, history = train(lambda: FANetSegmenter(19), cityscapes(root), 100, "runs/fanet")
    ```
    """
    output_dir = Path(output_dir)
    if not resume and (output_dir / "backup").exists():
        shutil.rmtree(output_dir / "backup")
    output_dir.mkdir(parents=True, exist_ok=True)
    for temporary in [*output_dir.glob(".partial.*"), *output_dir.glob("backup/.partial.*")]:
        temporary.unlink()  # what a killed run was writing
    stream = train_data if callable(train_data) else None
    one_pass = stream(None) if stream else train_data
    steps = steps_per_epoch or int(one_pass.cardinality())
    if steps < 1:
        raise ValueError(
            "The training dataset has no known length; pass steps_per_epoch "
            "(and make the dataset repeat)."
        )
    if epochs is None:
        if recipe is None:
            raise ValueError("Pass epochs, or a recipe that says how long to train.")
        epochs, steps = recipe.epochs_for(steps)
    done, backup = latest_backup(output_dir / "backup")
    if stream:  # the endless stream from the first batch not trained on yet
        train_data, steps_per_epoch = stream(done * steps), steps
    elif steps != int(train_data.cardinality()):
        steps_per_epoch = steps  # epochs of `steps` batches from one endless stream
        if int(train_data.cardinality()) > 0:
            train_data = train_data.repeat()
    total = epochs * steps
    warmup = min(1000, total // 20) if warmup_steps is None else warmup_steps
    scope, replicas = distribution_scope(distribute)
    with scope, precision_policy(precision):
        model = build_model()
        if not model.built:  # loading a backup needs the variables
            model(np.zeros((1, 64, 64, 3), "float32"))
        if recipe is not None:
            compile_for_recipe(model, recipe, total)
        else:
            model.compile(loss=loss, learning_rate=learning_rate, total_steps=total + 1, warmup_steps=warmup)
        if backup is not None:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(backup)
    batch_size = getattr(recipe, "batch_size", None) or _batch_size(train_data)
    if verbose:
        resumed = f", resuming after epoch {done}" if done else ""
        print(f"Training {model.name} on {replicas} device(s), {model.dtype_policy.name}: "
              f"{epochs} epochs x {steps} steps ({total} steps){resumed}.")
    callbacks = [  # the backup last: an epoch it holds is logged and saved
        _LogLearningRate(),
        ThroughputLogger(batch_size),
        EpochLog(str(output_dir / "log.csv"), append=resume, initial_epoch=done),
        keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: write_atomically(output_dir / "last.keras", model.save)),
        EpochBackup(output_dir / "backup"),
        *callbacks,
    ]
    with named_data_errors():  # a bad label found by tf.data: a DataError naming the file
        history = model.fit(
            train_data,
            epochs=epochs,
            initial_epoch=done,
            steps_per_epoch=steps_per_epoch,
            validation_data=val_data,
            callbacks=callbacks,
            shuffle=False,
            verbose=verbose,
        )
    write_atomically(output_dir / "final.keras", model.save)
    return model, history


def _write_rows(path, rows, separator):
    with open(path, "w", newline="") as handle:
        csv.writer(handle, delimiter=separator).writerows(rows)


def _batch_size(dataset):
    """The static batch size of a `tf.data` dataset of `(images, labels)`, else None."""
    spec = getattr(dataset, "element_spec", None)
    try:
        return int(spec[0].shape[0])
    except (TypeError, IndexError):
        return None
