import keras_hub
import pytest


def tiny_backbone():
    """A one-block-per-stage keras-hub ResNet: fast to build and compile in tests."""
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
    )


@pytest.fixture
def backbone():
    return tiny_backbone()
