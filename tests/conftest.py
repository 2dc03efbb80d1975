"""Backend, markers and the `../shared` fixtures for the keras_segup suite.

The backend is fixed when keras is imported: run the suite once per backend,
`KERAS_BACKEND=jax|torch|tensorflow pytest`, each in its own process
(`make test` does all three).
"""

import os
from pathlib import Path

import keras
import pytest

SHARED_DIR = Path(
    os.environ.get(
        "KERAS_SEGUP_SHARED", Path(__file__).resolve().parents[2] / "shared"
    )
)


def pytest_addoption(parser):
    parser.addoption(
        "--run-large",
        action="store_true",
        default=False,
        help="also run the tests marked `large` (slow)",
    )


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    """Skips `large` tests, and `one_backend(name)` tests under the other backends, unless --run-large.

    `one_backend` marks end-to-end flows whose backend-specific parts other
    tests cover on every backend (command lines, multi-process resume, the
    recipes' runs): the default suite runs them under one backend.
    """
    if config.getoption("--run-large"):
        return
    skip_large = pytest.mark.skip(reason="large test: pass --run-large")
    backend = keras.backend.backend()
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip_large)
        marker = item.get_closest_marker("one_backend")
        if marker is not None and marker.args[0] != backend:
            item.add_marker(pytest.mark.skip(reason=f"runs under {marker.args[0]}; every backend with --run-large"))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.fixture
def backbone():
    """A small keras-hub ResNet (`TestCase.tiny_backbone`)."""
    from tests.test_case import TestCase

    return TestCase.tiny_backbone()


@pytest.fixture
def shared_dir():
    """The `../shared` folder beside the checkout; skips the test without it."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is absent (set KERAS_SEGUP_SHARED)")
    return SHARED_DIR
