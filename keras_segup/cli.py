"""`keras-segup`: the command line.

    keras-segup presets
    keras-segup predict --preset fanet_r18_cityscapes street.jpg --out predictions --overlay
    keras-segup train --data cityscapes --data-root /data/cityscapes --preset fanet_r18_cityscapes
    keras-segup evaluate --model runs/train/final.keras --data cityscapes --data-root /data/cityscapes
    keras-segup export --model runs/train/final.keras --format onnx --size 1024 2048 --out fanet.onnx
    keras-segup benchmark --preset fanet_r18_cityscapes --size 1024 2048 --keep-freed-memory

Exit codes: 0 success; 1 the work failed (an image that could not be read,
an export that did not match Keras, any unexpected error: one paragraph, the
traceback with `keras-segup --debug ...`); 2 a bad command line or input
(unknown preset, missing file or folder, corrupt dataset); 130 interrupted.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

from keras_segup.utils.compat import native_logs_silenced

with native_logs_silenced():  # a quiet command line: tf.data loads TensorFlow
    import keras
    import numpy as np
    from PIL import Image
    from PIL import ImageOps

    import keras_segup
    from keras_segup import visualize
    from keras_segup.backbones import CheckpointError
    from keras_segup.backbones import check_local_checkpoint
    from keras_segup.data import DataError
    from keras_segup.export import ExportError
    from keras_segup.export import ExportRefused
    from keras_segup.export.common import check_destination
    from keras_segup.models import Segmenter
    from keras_segup.presets import PresetError
    from keras_segup.recipes import Recipe
    from keras_segup.recipes import preset_recipe
    from keras_segup.utils.allocator import keep_freed_memory
    from keras_segup.utils.atomic import write_atomically
    from keras_segup.utils.latency import describe_latency
    from keras_segup.utils.latency import latency

DATASET_FUNCTIONS = ("cityscapes", "ade20k", "voc", "synthetic")


class UsageError(ValueError):
    """A bad input on the command line (exit code 2)."""


def whole_number(text, minimum):
    """`text` as an int >= `minimum`, or argparse's type error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
    return value


def positive_int(text):
    """An argparse type: a whole number >= 1."""
    return whole_number(text, 1)


def keep_float_argument(text):
    """An argparse type: a whole number >= 0, or TFLite op names `OP,OP`."""
    if re.fullmatch(r"[A-Z][A-Z0-9_]*(,[A-Z][A-Z0-9_]*)*", text):
        return tuple(text.split(","))
    if not re.fullmatch(r"-?[0-9]+", text):
        raise argparse.ArgumentTypeError(
            f"must be a number of layers or TFLite op names in capitals, e.g. BATCH_MATMUL; got {text!r}"
        )
    return whole_number(text, 0)


def add_model_arguments(parser):
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", help="built-in preset name, preset folder or URL")
    which.add_argument("--model", help="a .keras file")
    parser.add_argument(
        "--no-weights", action="store_true",
        help="build the preset with random weights (for trying the pipeline without weights)",
    )


def load_model(args):
    """The segmenter named by `--preset` or `--model`."""
    if args.model:
        path = Path(args.model)
        if path.is_dir():
            raise UsageError(f"{path} is a folder, not a .keras file (a preset folder goes to --preset).")
        if not path.is_file():
            raise UsageError(f"The model file {path} does not exist.")
        try:
            model = keras.saving.load_model(path)
        except Exception as error:  # Keras raises ValueError, OSError, zipfile and JSON errors for a bad file
            raise UsageError(f"{path} is not a readable .keras file ({type(error).__name__}: {error}); "
                             "save one with model.save or keras-segup train.") from None
        if not isinstance(model, Segmenter):
            raise UsageError(
                f"{path} holds a {type(model).__name__}, not a keras_segup segmenter; save "
                "one with Segmenter.save or keras-segup train."
            )
        return model
    return Segmenter.from_preset(
        args.preset, load_weights=not args.no_weights,
        backbone_weights=getattr(args, "backbone_weights", None),
    )


def read_image(path):
    """RGB uint8 array and a note on any conversion; `OSError` if unreadable.

    16-bit and 32-bit grayscale is scaled to 8 bits (not clipped), the
    EXIF orientation of camera images is applied, alpha is dropped,
    palette and CMYK images are converted; floating-point images and images
    over Pillow's decompression-bomb limit are refused.
    """
    notes = []
    try:
        opened = Image.open(path)
    except Image.DecompressionBombError as error:
        raise OSError(f"{error} If the image is genuine, raise PIL.Image.MAX_IMAGE_PIXELS.") from None
    with opened as image:
        image.load()
        if image.mode == "F":
            raise OSError("a floating-point image (mode F) has no defined 0..255 range; save it as 8- or 16-bit")
        if image.getexif().get(0x0112, 1) != 1:  # EXIF Orientation
            notes.append("rotated as its EXIF orientation says")
        oriented = ImageOps.exif_transpose(image)
        mode = oriented.mode
        if mode.startswith("I"):  # 16/32-bit integer grayscale
            values = np.asarray(oriented).astype(np.float64)
            top = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
            if values.max() > 65535 or values.min() < 0:
                raise OSError(f"grayscale values {values.min():g}..{values.max():g} are not 8- or 16-bit")
            gray = np.round(values * (255.0 / top)).astype(np.uint8)
            rgb = Image.fromarray(np.repeat(gray[..., None], 3, axis=-1))
            notes.append("16-bit grayscale, scaled to 8 bits and repeated to RGB" if top > 255
                         else "grayscale, repeated to RGB")
        else:
            rgb = oriented.convert("RGB")
    if mode in ("L", "1"):
        notes.append("grayscale, repeated to RGB")
    elif mode in ("RGBA", "LA", "PA"):
        notes.append("alpha channel dropped")
    elif mode not in ("RGB", "P") and not mode.startswith("I"):
        notes.append(f"{mode} converted to RGB")
    return np.asarray(rgb), "; ".join(notes) or None


def output_names(paths):
    """One output name per input: its stem, or its path under the inputs' common folder when stems repeat."""
    names = [path.stem for path in paths]
    if len(set(names)) == len(names):
        return names
    folders = [str(path.resolve().parent) for path in paths]
    root = Path(os.path.commonpath(folders))
    names = [str(path.resolve().with_suffix("").relative_to(root)) for path in paths]
    seen = {}
    for path, name in zip(paths, names):
        if name in seen:
            raise UsageError(
                f"{seen[name]} and {path} would write the same predictions ({name}_classes.png); "
                "rename one or segment them in separate runs."
            )
        seen[name] = path
    return names


def check_output_folder(option, path):
    """Refuses, before any work, an output folder `option` that is a file or cannot be created."""
    path = Path(path)
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        what = "is a file" if existing == path else f"lies under the file {existing}"
        raise UsageError(f"{option} {path} {what}; name a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the folder {existing} is not writable; choose another.")


def run_predict(args):
    paths = [Path(image) for image in args.images]
    names = output_names(paths)
    check_output_folder("--out", args.out)
    model = load_model(args)
    class_names, colors = model.labels()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path, stem in zip(paths, names):
        try:
            image, note = read_image(path)
        except (OSError, SyntaxError) as error:
            print(f"skipping {path}: not a readable image ({error})", file=sys.stderr)
            failures += 1
            continue
        if note:
            print(f"note: {path}: {note}")
        classes = model.segment(image[None], size=args.size)[0].astype(np.uint8)
        (out / stem).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(classes).save(out / f"{stem}_classes.png")
        written = [f"{stem}_classes.png"]
        if args.overlay:
            picture = visualize.overlay(image, classes, colors)
            picture = visualize.with_legend(picture, classes, class_names, colors)
            Image.fromarray(picture).save(out / f"{stem}_overlay.png")
            written.append(f"{stem}_overlay.png")
        print(f"{path} -> {', '.join(str(out / name) for name in written)}")
    if failures:
        print(f"{failures} of {len(args.images)} images could not be read.", file=sys.stderr)
    return 1 if failures else 0


def make_dataset(args, split, training, recipe=None, start_step=None):
    """The dataset chosen by `--data` and `--data-root` (training: the recipe's stream from `start_step`)."""
    options = {"training": training}
    if training:
        options.update(recipe.data_options(), seed=args.seed, start_step=start_step)
    if args.data == "synthetic":  # held-out scenes for evaluation
        count = args.synthetic if training else max(2, args.synthetic // 8)
        size = recipe.crop_size if training else (256, 512)
        options.setdefault("seed", 10**6)
        return keras_segup.data.synthetic(count, size=size, **options)
    if not args.data_root:
        raise UsageError(f"--data {args.data} needs --data-root.")
    return getattr(keras_segup.data, args.data)(args.data_root, split, **options)


# the recipe where the preset names none (a preset folder, a .keras file)
DEFAULT_RECIPE = Recipe(epochs=200, batch_size=8, loss="cross_entropy", warmup_iterations=1000,
                        source="keras-segup's default (the handle names no paper recipe)")


def train_recipe(args):
    """The preset's recipe with the command line's overrides, and the names of the changed fields.

    `--batch-size` other than the recipe's scales it by the linear rule
    (`Recipe.scaled_to`) unless `--lr` gives the learning rate.
    """
    recipe = (args.preset and preset_recipe(args.preset)) or DEFAULT_RECIPE
    base = recipe
    try:
        for text in args.recipe or ():
            recipe = recipe.override(text)
        if args.batch_size is not None and args.batch_size != recipe.batch_size:
            recipe = recipe.scaled_to(args.batch_size)
        changes = {}
        if args.epochs is not None:
            changes.update(epochs=args.epochs, iterations=None)
        if args.iterations is not None:
            changes.update(iterations=args.iterations, epochs=None)
        if args.lr is not None:
            changes["learning_rate"] = args.lr
        if args.crop is not None:
            changes["crop_size"] = tuple(args.crop)
        if args.loss is not None:
            changes["loss"] = "cross_entropy" if args.loss == "auto" else args.loss
        recipe = recipe.replace(**changes)
    except ValueError as error:
        raise UsageError(str(error)) from None
    changed = [name for name in Recipe.field_names() if getattr(recipe, name) != getattr(base, name)]
    return recipe, base, changed


def run_train(args):
    check_output_folder("--output", args.output)
    if args.model and args.backbone_weights:
        raise UsageError(
            "--backbone-weights starts a --preset from ImageNet weights; a --model file has its own."
        )
    check_local_checkpoint(args.backbone_weights)  # before the data and the model are built
    try:
        keras_segup.training.distribution_scope(args.distribute)  # engines start before any other work
    except ValueError as error:
        raise UsageError(str(error)) from None
    recipe, base, changed = train_recipe(args)
    print(f"Recipe of {args.preset or args.model}:")
    print(recipe.describe(changed))
    if recipe.batch_size != base.batch_size and args.lr is None:
        print(f"  learning rate scaled to the global batch: {base.learning_rate:g} x "
              f"{recipe.batch_size}/{base.batch_size} = {recipe.learning_rate:g} (linear scaling rule)")
    keras.utils.set_random_seed(args.seed)  # the same initial weights in every process of a run

    def train_data(start_step):
        return make_dataset(args, "train", training=True, recipe=recipe, start_step=start_step)

    val_data = None if args.no_val else make_dataset(args, "val", training=False)
    keras_segup.training.train(
        lambda: load_model(args), train_data, None, args.output, val_data=val_data,
        steps_per_epoch=args.steps_per_epoch, resume=not args.restart, distribute=args.distribute,
        recipe=recipe, precision=args.precision,
    )
    print(f"Saved {args.output}/final.keras; per-epoch log in {args.output}/log.csv")
    return 0


def run_evaluate(args):
    dataset = make_dataset(args, args.split, training=False)  # its files are checked before the model loads
    model = load_model(args)
    if args.limit:
        dataset = dataset.take(args.limit)
    if args.mode is None:  # the paper's evaluation where the preset names it
        name = args.recipe_from or args.preset
        recipe = preset_recipe(name) if name else None
        if args.recipe_from and recipe is None:
            raise UsageError(f"--recipe-from {args.recipe_from}: not a built-in preset (keras-segup presets).")
        options = (recipe or DEFAULT_RECIPE).evaluation_options()
        options = {key: value for key, value in options.items() if value is not None}
        print(f"Evaluating as the recipe does: {options}")
    else:
        options = {"mode": args.mode}
        if args.mode != "whole":
            options.update(crop_size=tuple(args.crop or (1024, 1024)), stride=tuple(args.stride or (683, 683)))
    keras_segup.evaluate(model, dataset, class_names=model.labels()[0], **options)
    return 0


def run_export(args):
    out = check_destination(args.out or f"model.{args.format}", args.format)  # before the model loads
    if args.format == "onnx" and (args.quantization or args.keep_float):
        raise UsageError("--quantization and --keep-float apply to TFLite; ONNX files are float32.")
    if args.keep_float and args.quantization != "int8":
        raise UsageError("--keep-float keeps layers out of int8: use it with --quantization int8.")
    if args.format == "tflite":
        representative = None
        if args.quantization in keras_segup.export.CALIBRATED:
            if not args.representative:
                raise UsageError(
                    f"{args.quantization} needs --representative: a folder of typical input images."
                )
            folder = Path(args.representative)
            if not folder.is_dir():
                raise UsageError(f"--representative {folder} is not a folder of images.")
            files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
            if not files:
                raise UsageError(f"No PNG or JPEG images in {folder} for {args.quantization} calibration.")
            representative = []
            for file in files[:100]:
                try:
                    representative.append(read_image(file)[0][None].astype(np.float32))
                except (OSError, SyntaxError) as error:
                    raise UsageError(f"--representative: {file} is not a readable image ({error}).") from None
        report = keras_segup.export.export_tflite(
            load_model(args), out, args.size, args.quantization, representative, args.output,
            keep_float=args.keep_float,
        )
    else:
        report = keras_segup.export.export_onnx(load_model(args), out, args.size, args.opset, args.output)
    figures = f"class maps agree on {100 * report['class_agreement']:.3f}% of pixels"
    if "max_abs_diff" in report:
        figures += f", max abs logit difference {report['max_abs_diff']:.1e}"
    print(f"Wrote {out} ({report['bytes'] / 1e6:.1f} MB) via {report['converted_by']}; verified: {figures}.")
    return 0


def check_output_file(option, path):
    """Refuses, before any work, an output file `option` that is a folder or lies in none."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; name the file to write.")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {path}: the folder {path.parent} does not exist; create it first.")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the folder {path.parent} is not writable; choose another.")


def run_benchmark(args):
    if args.json:
        check_output_file("--json", args.json)
    if args.precision:
        if args.model:
            raise UsageError("--precision rebuilds a --preset; a --model file keeps the dtype it was saved with.")
        keras.config.set_dtype_policy(args.precision)
    if args.keep_freed_memory and not keep_freed_memory():
        print("--keep-freed-memory: the C library is not glibc; its own policy applies.", file=sys.stderr)
    model = load_model(args)
    result = latency(
        model, args.size, batch_size=args.batch_size, repeats=args.repeats, warmup=args.warmup,
    )
    print(describe_latency(result, args.preset or args.model))
    if args.json:
        record = {"model": args.preset or args.model, **result}
        write_atomically(args.json, lambda temporary: Path(temporary).write_text(json.dumps(record, indent=1)))
        print(f"Wrote {args.json}.")
    return 0


def run_presets(args):
    keras_segup.models.list_presets()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-segup", description="Real-time semantic segmentation with Keras 3.",
        epilog="Exit codes: 0 success, 1 the work failed, 2 bad command line or input.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("presets", help="list the built-in presets").set_defaults(run=run_presets)

    predict = commands.add_parser("predict", help="segment images: class-id PNGs and overlays")
    add_model_arguments(predict)
    predict.add_argument("images", nargs="+", help="JPEG or PNG files (RGB, grayscale, RGBA)")
    predict.add_argument("--out", default="predictions", help="output folder")
    predict.add_argument("--overlay", action="store_true", help="also write colour overlays with a legend")
    predict.add_argument("--size", type=positive_int, nargs=2, metavar=("H", "W"), help="run the model at this size")
    predict.set_defaults(run=run_predict)

    for name, helptext in (("train", "train with model.fit"), ("evaluate", "per-class IoU and mIoU")):
        sub = commands.add_parser(name, help=helptext)
        add_model_arguments(sub)
        sub.add_argument("--data", choices=DATASET_FUNCTIONS, default="cityscapes")
        sub.add_argument("--data-root", help="dataset folder")
        sub.add_argument("--synthetic", type=positive_int, default=64, help="scenes for --data synthetic")
    recipe = " (default: the preset's recipe)"
    commands.choices["evaluate"].add_argument(
        "--crop", type=positive_int, nargs=2, metavar=("H", "W"), help="windows of --mode slide (default 1024 1024)"
    )
    train = commands.choices["train"]
    train.add_argument("--crop", type=positive_int, nargs=2, metavar=("H", "W"), help="training crop" + recipe)
    train.add_argument(
        "--backbone-weights", metavar="CHECKPOINT",
        help="the paper's ImageNet checkpoint for the backbone: 'paper' (the download the preset "
             "names), a .pth/.pt/.safetensors/.zip file, an http(s) URL or hf://owner/repo[/file]",
    )
    train.add_argument("--epochs", type=int, help="epochs (replaces the recipe's iterations)" + recipe)
    train.add_argument("--iterations", type=int, help="optimizer steps (replaces the recipe's epochs)" + recipe)
    train.add_argument("--batch-size", type=int,
                       help="global batch; the learning rate and iterations scale with it" + recipe)
    train.add_argument("--lr", type=float, help="peak learning rate (never rescaled)" + recipe)
    train.add_argument("--loss", choices=("auto", "ohem"), help="auto: cross-entropy" + recipe)
    train.add_argument("--recipe", action="append", metavar="FIELD=VALUE",
                       help="override any recipe field, e.g. --recipe weight_decay=1e-4 (repeatable)")
    train.add_argument("--precision", choices=keras_segup.training.PRECISIONS,
                       help="Keras dtype policy (default float32)")
    train.add_argument("--steps-per-epoch", type=positive_int)
    train.add_argument("--no-val", action="store_true")
    train.add_argument("--output", default="runs/train")
    train.add_argument("--restart", action="store_true", help="ignore an interrupted run's state")
    train.add_argument("--distribute", choices=("data_parallel", "multi_worker"),
                       help="all local devices, or all devices of all hosts (README: Training at scale)")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(run=run_train)
    evaluate = commands.choices["evaluate"]
    evaluate.add_argument("--split", default="val")
    evaluate.add_argument("--mode", choices=("whole", "slide", "multiscale"),
                          help="default: the preset's recipe (whole images for other models)")
    evaluate.add_argument("--stride", type=positive_int, nargs=2, metavar=("H", "W"), help="default 683 683")
    evaluate.add_argument("--recipe-from", metavar="PRESET",
                          help="evaluate as this built-in preset's recipe does (default: --preset's)")
    evaluate.add_argument("--limit", type=positive_int, help="evaluate the first N batches only")
    evaluate.set_defaults(run=run_evaluate)

    export = commands.add_parser("export", help="TFLite or ONNX file, verified against Keras")
    add_model_arguments(export)
    export.add_argument("--format", choices=("tflite", "onnx"), required=True)
    export.add_argument("--size", type=positive_int, nargs=2, required=True, metavar=("H", "W"))
    export.add_argument("--out", help="output file (default model.<format>)")
    export.add_argument("--output", choices=("logits", "classes"), default="logits")
    export.add_argument(
        "--quantization", choices=("float16", "dynamic_range", "int8", "int16x8"),
        help="float16; dynamic_range (int8 weights); int8 (full integer) or int16x8 (int16 "
        "activations), both calibrated on --representative",
    )
    export.add_argument("--representative", help="folder of images for int8/int16x8 calibration")
    export.add_argument(
        "--keep-float", type=keep_float_argument, default=0, metavar="N|OP,OP",
        help="int8: keep in float the N most lossy layers (TFLite's QuantizationDebugger), or every "
        "op of the named TFLite types (BATCH_MATMUL: attention products)",
    )
    export.add_argument("--opset", type=positive_int, default=17)
    export.set_defaults(run=run_export)

    benchmark = commands.add_parser("benchmark", help="latency of a model on this machine")
    add_model_arguments(benchmark)
    benchmark.add_argument("--size", type=positive_int, nargs=2, default=(1024, 2048), metavar=("H", "W"))
    benchmark.add_argument("--repeats", type=positive_int, default=5, help="timed calls (default 5)")
    benchmark.add_argument("--warmup", type=positive_int, default=2, help="untimed calls first (default 2)")
    benchmark.add_argument("--batch-size", type=positive_int, default=1)
    benchmark.add_argument("--precision", choices=("float32", "bfloat16", "float16", "mixed_bfloat16", "mixed_float16"),
                           help="dtype policy to build the preset in (default: float32)")
    benchmark.add_argument("--keep-freed-memory", action="store_true",
                           help="let glibc's malloc reuse freed blocks up to 1 GiB instead of page-faulting "
                                "new ones in (keras_segup.utils.allocator.keep_freed_memory)")
    benchmark.add_argument("--json", metavar="FILE", help="also write every figure and fact as JSON")
    benchmark.set_defaults(run=run_benchmark)
    return parser


def main(argv=None):
    """Runs the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, PresetError, DataError, CheckpointError, ExportRefused) as error:
        hint = " (on the command line: --no-weights)" if "load_weights=False" in str(error) else ""
        print(f"error: {error}{hint}", file=sys.stderr)
        return 2
    except (ExportError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`keras-segup presets | head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 0
    except KeyboardInterrupt:
        print(f"\ninterrupted: the {args.command} command stopped; run it again to go on.", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(f"error: the {args.command} command failed: {type(error).__name__}: {error}\n"
              "Run it again with --debug (keras-segup --debug ...) for the full traceback.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
