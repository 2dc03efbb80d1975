"""Runs every `>>>` example in keras_segup's docstrings (the others are plain code blocks)."""

import doctest
import importlib
import pkgutil
import re

import keras
import numpy as np
import pytest

import keras_segup

BACKEND_MODULES = {"jax": "jax_ops", "torch": "torch_ops", "tensorflow": "tensorflow_ops"}
OTHER_BACKENDS = set(BACKEND_MODULES.values()) - {BACKEND_MODULES[keras.backend.backend()]}
# the export worker is a script that switches the process to TensorFlow when imported
SCRIPTS = {"keras_segup.export.worker"}
MODULES = [
    info.name
    for info in pkgutil.walk_packages(keras_segup.__path__, "keras_segup.")
    if info.name.rsplit(".", 1)[-1] not in OTHER_BACKENDS and info.name not in SCRIPTS
]


def test_every_module_is_checked():
    assert "keras_segup.models.gai.gai_layers" in MODULES and "keras_segup.ops.gathers" in MODULES


class ShapeChecker(doctest.OutputChecker):
    """Reads `torch.Size([1, 2])` and `TensorShape([1, 2])` as the `(1, 2)` the docstrings show."""

    def check_output(self, want, got, optionflags):
        got = re.sub(
            r"(?:torch\.Size|TensorShape)\(\[([^\]]*)\]\)",
            lambda m: repr(tuple(None if n.strip() == "None" else int(n) for n in m.group(1).split(",") if n.strip())),
            got,
        )
        return super().check_output(want, got, optionflags)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(checker=ShapeChecker(), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    examples = 0
    for test in finder.find(module, globs={**vars(module), "keras": keras, "np": np}):
        examples += len(test.examples)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {examples} docstring examples of {name} failed"
