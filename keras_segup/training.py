"""Training a segmenter with `model.fit`: checkpoints, exact resume, logs, devices.

Run folder layout (`output_dir`):
    backup/       Keras `BackupAndRestore` state (weights, optimizer, epoch)
    last.keras    the model after the latest finished epoch
    final.keras   the model after the last epoch
    log.csv       one row per epoch (loss, mean_iou, val_*, learning rate)
"""

import contextlib
import shutil
from pathlib import Path

import keras
import numpy as np

DISTRIBUTIONS = (None, "data_parallel")


class _LogLearningRate(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def distribution_scope(distribute):
    """A context in which to build and compile a model for `distribute`.

    `"data_parallel"` replicates the model on every local device and splits
    each batch between them: `keras.distribution.DataParallel` on JAX,
    `tf.distribute.MirroredStrategy` on TensorFlow. The torch backend has
    no multi-device path in Keras's trainer, so it is refused.

    Args:
        distribute: None or `"data_parallel"`.

    Returns:
        `(context manager, number of replicas)`.
    """
    if distribute not in DISTRIBUTIONS:
        raise ValueError(f"Unknown distribution {distribute!r}; choose one of {DISTRIBUTIONS}.")
    if distribute is None:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return contextlib.nullcontext(), len(devices)
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        return strategy.scope(), strategy.num_replicas_in_sync
    raise ValueError(
        "Data-parallel training runs on the jax and tensorflow backends; set "
        "KERAS_BACKEND=jax or tensorflow, or train on one device."
    )


def train(
    build_model,
    train_data,
    epochs,
    output_dir,
    val_data=None,
    steps_per_epoch=None,
    resume=True,
    distribute=None,
    loss="auto",
    learning_rate=0.01,
    warmup_steps=None,
    callbacks=(),
    verbose="auto",
):
    """Trains with `model.fit`, checkpointing every epoch and resuming exactly.

    An interrupted run started again with the same arguments continues
    from the last finished epoch with the same weights, optimizer state and
    learning-rate schedule (Keras `BackupAndRestore`); `log.csv` goes on
    where it stopped.

    Args:
        build_model: zero-argument function returning an uncompiled
            segmenter (called inside the distribution scope).
        train_data: `tf.data.Dataset` of `(images, labels)` batches.
        epochs: number of epochs.
        output_dir: run folder (see the module docstring).
        val_data: optional validation dataset (mean IoU each epoch).
        steps_per_epoch: default: the dataset's length.
        resume: continue an interrupted run in `output_dir`; False starts
            afresh (its backup is deleted).
        distribute: None or `"data_parallel"` (see `distribution_scope`).
        loss: `"auto"` (cross-entropy ignoring 255), `"ohem"`, or a loss.
        learning_rate: peak learning rate of the poly schedule.
        warmup_steps: default: 5% of the steps, at most 1000.
        callbacks: more Keras callbacks.
        verbose: `model.fit` verbosity.

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
    total = epochs * steps
    warmup = min(1000, total // 20) if warmup_steps is None else warmup_steps
    scope, replicas = distribution_scope(distribute)
    with scope:
        model = build_model()
        if not model.built:  # BackupAndRestore needs the variables before fit
            model(np.zeros((1, 64, 64, 3), "float32"))
        model.compile(loss=loss, learning_rate=learning_rate, total_steps=total + 1, warmup_steps=warmup)
    if verbose:
        print(f"Training {model.name} on {replicas} device(s): {epochs} epochs x {steps} steps.")
    callbacks = [
        keras.callbacks.BackupAndRestore(str(output_dir / "backup"), delete_checkpoint=False),
        _LogLearningRate(),
        keras.callbacks.ModelCheckpoint(str(output_dir / "last.keras")),
        keras.callbacks.CSVLogger(str(output_dir / "log.csv"), append=resume),
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
    model.save(output_dir / "final.keras")
    return model, history
