"""Files replaced only by whole ones."""

import os
from pathlib import Path


def write_atomically(path, write):
    """`write(temporary)`, then the temporary renamed to `path`: a file is replaced only by a whole one.

    The temporary, `.partial.<name>` beside `path`, keeps the file's
    suffix (Keras checks it); it is removed if `write` fails
    (`keras_segup.training.train` removes one that a killed run left behind).

    Args:
        path: the destination.
        write: `write(temporary_path)`, e.g. `model.save` or `model.save_weights`.
    """
    path = Path(path)
    temporary = path.with_name(f".partial.{path.name}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
