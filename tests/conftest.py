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
    if config.getoption("--run-large"):
        return
    skip_large = pytest.mark.skip(reason="large test: pass --run-large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip_large)


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
