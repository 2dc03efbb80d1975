import keras

from keras_segup.models.fanet.fanet_head import FANetHead
from keras_segup.models.segmenter import Segmenter


@keras.saving.register_keras_serializable(package="keras_segup")
class FANetSegmenter(Segmenter):
    """FANet segmenter: ResNet-18/34 with the extra spatial reduction + `FANetHead`.

    The first ResNet stage has stride 2 as well (features at strides
    8-64), as in the paper's real-time setting. Final upsampling bilinear
    with `align_corners=True`; auxiliary loss weights 0.5 and 0.5.

    Example:
    >>> model = FANetSegmenter(num_classes=19)
    >>> model(np.zeros((1, 128, 256, 3))).shape
    (1, 128, 256, 19)
    """

    head_class = FANetHead
    default_backbone = {"depth": 18, "extra_reduction": True}
    aux_loss_weights = (0.5, 0.5)

