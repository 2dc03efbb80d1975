"""Training a segmenter with `model.fit`: recipes, precision, devices, checkpoints, exact resume.

Run folder layout (`output_dir`):
    backup/       Keras `BackupAndRestore` state (weights, optimizer, epoch)
    last.keras    the model after the latest finished epoch
    final.keras   the model after the last epoch
    log.csv       one row per epoch (loss, mean_iou, val_*, learning rate,
                  images per second)
"""

import contextlib
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np

DISTRIBUTIONS = (None, "data_parallel", "multi_worker")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
_STARTED = {}  # the process's distribution engines: each starts once


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
    existing file's header when a resumed run appends to it.
    """

    def on_train_begin(self, logs=None):
        path = Path(self.filename)
        if self.append and path.is_file() and path.stat().st_size:
            with open(path) as handle:
                header = handle.readline().strip().split(self.sep)
            self.keys = [key for key in header if key != "epoch"]
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            self.keys = sorted(logs or {})
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

    An interrupted run started again with the same arguments continues
    from the last finished epoch with the same weights, optimizer state and
    learning-rate schedule (Keras `BackupAndRestore`); `log.csv` goes on
    where it stopped.

    Args:
        build_model: zero-argument function returning an uncompiled
            segmenter (called inside the distribution scope and the
            precision policy).
        train_data: `tf.data.Dataset` of `(images, labels)` batches.
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
    steps = steps_per_epoch or int(train_data.cardinality())
    if steps < 1:
        raise ValueError(
            "The training dataset has no known length; pass steps_per_epoch "
            "(and make the dataset repeat)."
        )
    if epochs is None:
        if recipe is None:
            raise ValueError("Pass epochs, or a recipe that says how long to train.")
        epochs, steps = recipe.epochs_for(steps)
    if steps != int(train_data.cardinality()):
        steps_per_epoch = steps  # epochs of `steps` batches from one endless stream
        if int(train_data.cardinality()) > 0:
            train_data = train_data.repeat()
    total = epochs * steps
    warmup = min(1000, total // 20) if warmup_steps is None else warmup_steps
    scope, replicas = distribution_scope(distribute)
    with scope, precision_policy(precision):
        model = build_model()
        if not model.built:  # BackupAndRestore needs the variables before fit
            model(np.zeros((1, 64, 64, 3), "float32"))
        if recipe is not None:
            compile_for_recipe(model, recipe, total)
        else:
            model.compile(loss=loss, learning_rate=learning_rate, total_steps=total + 1, warmup_steps=warmup)
    batch_size = getattr(recipe, "batch_size", None) or _batch_size(train_data)
    if verbose:
        print(f"Training {model.name} on {replicas} device(s), {model.dtype_policy.name}: "
              f"{epochs} epochs x {steps} steps ({total} steps).")
    callbacks = [
        keras.callbacks.BackupAndRestore(str(output_dir / "backup"), delete_checkpoint=False),
        _LogLearningRate(),
        ThroughputLogger(batch_size),
        keras.callbacks.ModelCheckpoint(str(output_dir / "last.keras")),
        EpochLog(str(output_dir / "log.csv"), append=resume),
        *callbacks,
    ]
    history = model.fit(
        train_data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=val_data,
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )
    save_atomically(model, output_dir / "final.keras")
    return model, history


def save_atomically(model, path):
    """Saves `model` to `path` through a temporary file: an existing file is replaced only by a whole one."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _batch_size(dataset):
    """The static batch size of a `tf.data` dataset of `(images, labels)`, else None."""
    spec = getattr(dataset, "element_spec", None)
    try:
        return int(spec[0].shape[0])
    except (TypeError, IndexError):
        return None
