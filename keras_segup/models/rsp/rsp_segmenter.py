import keras

from keras_segup.models.rsp.rsp_head import RSPHead
from keras_segup.models.segmenter import Segmenter


@keras.saving.register_keras_serializable(package="keras_segup")
class RSPSegmenter(Segmenter):
    """RSP segmenter: ResNet-50/101 + `RSPHead` on an efficient FPN (Bai et al.).

    The backbone (`resnet50_deep`, our choice, docs/rsp.md) is
    PyTorch-Encoding's deep-stem ResNet, whose ImageNet checkpoint exists,
    without IFA's multi-grid dilations.

    Final upsampling bilinear with half-pixel centres; one auxiliary head
    on P4' with loss weight 0.4 (our choice, docs/rsp.md).

    Example:
    >>> model = RSPSegmenter(num_classes=19)
    >>> model(np.zeros((1, 128, 256, 3))).shape
    (1, 128, 256, 19)
    """

    head_class = RSPHead
    default_backbone = "resnet50_deep"
    aux_loss_weights = (0.4,)

