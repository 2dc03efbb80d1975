"""Runs every `>>>` example in keras_segup's docstrings (the others are plain code blocks)."""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest

import keras_segup

BACKEND_MODULES = {"jax": "jax_ops", "torch": "torch_ops", "tensorflow": "tensorflow_ops"}
MODULES = [
    info.name
    for info in pkgutil.walk_packages(keras_segup.__path__, "keras_segup.")
    if info.name.rsplit(".", 1)[-1] not in set(BACKEND_MODULES.values()) - {BACKEND_MODULES[keras.backend.backend()]}
]


def test_every_module_is_checked():
    assert "keras_segup.models.gai.gai_layers" in MODULES and "keras_segup.ops.gathers" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    examples = 0
    for test in finder.find(module, globs={**vars(module), "keras": keras, "np": np}):
        examples += len(test.examples)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {examples} docstring examples of {name} failed"
