import keras

from keras_segup.models.fanet.fanet_head import FANetHead
from keras_segup.models.segmenter import Segmenter


@keras.saving.register_keras_serializable(package="keras_segup")
class FANetSegmenter(Segmenter):
    """FANet segmenter: the official ResNet-18/34 + `FANetHead`.

    The backbone is feinanshan/FANet's (`resnet18_fanet`, `resnet34_fanet`):
    torchvision's layout with stride 2 in layer1 as well (features at
    strides 8-64, the paper's real-time setting) and BatchNorm + LeakyReLU
    inside the blocks and the stem; it loads torchvision's ImageNet
    checkpoints. Final upsampling bilinear
    with `align_corners=True`; auxiliary loss weights 0.5 and 0.5.

    Example:
    >>> model = FANetSegmenter(num_classes=19)
    >>> model(np.zeros((1, 128, 256, 3))).shape
    (1, 128, 256, 19)
    """

    head_class = FANetHead
    default_backbone = "resnet18_fanet"
    # the paper's levels (strides 8-64); a backbone without stride 64 gives its 4..32
    default_feature_strides = ((8, 16, 32, 64), (4, 8, 16, 32))
    aux_loss_weights = (0.5, 0.5)

