import keras

from keras_segup.models.gai.gai_head import GAIHead
from keras_segup.models.segmenter import Segmenter


@keras.saving.register_keras_serializable(package="keras_segup")
class GAISegmenter(Segmenter):
    """GAI segmenter: SFNet's deep-stem ResNet-18 + `GAIHead` (Cheng et al.).

    The backbone (`resnet18_deep128`: stem 64-64-128, a projection in
    layer1, dilation 2 in layer4 as simpleseg's Cityscapes config sets it)
    is the one simpleseg trains from, SFNet's ImageNet checkpoint
    `resnet18-deep-inplane128.pth`.

    Final upsampling bilinear with half-pixel centres; auxiliary loss
    weights 1.0 and 1.0 (CLANet's OHEMAuxSegLoss).

    Example:
    >>> model = GAISegmenter(num_classes=19)
    >>> model(np.zeros((1, 128, 256, 3))).shape
    (1, 128, 256, 19)
    """

    head_class = GAIHead
    default_backbone = "resnet18_deep128"
    aux_loss_weights = (1.0, 1.0)

