import keras
from keras import ops

from keras_segup.layers.validation import check_size
from keras_segup.models.ifa.ifa_head import IFAHead
from keras_segup.models.segmenter import Segmenter


@keras.saving.register_keras_serializable(package="keras_segup")
class IFASegmenter(Segmenter):
    """IFA segmenter: deep-stem ResNet-50 (or 101) + `IFAHead` (Hu et al., ECCV 2022).

    The backbone is hzhupku/IFA's (`resnet50_deep_mg`): PyTorch-Encoding's
    deep-stem ResNet (checkpoint `resnet50-ebb6acbb.pth`), ceil-mode
    max-pool, multi-grid dilations (2, 2, 4) in layer4, which keeps stride 2.

    As the official model, the head decodes the stride-4 grid and the
    logits are upsampled bilinearly with `align_corners=True`; with
    `output_size` the head decodes that resolution directly instead
    (arbitrary-resolution IFA). Auxiliary loss weight 0.4.

    Example:
    >>> model = IFASegmenter(num_classes=19)
    >>> model(np.zeros((1, 128, 256, 3)), output_size=(64, 64)).shape
    (1, 64, 64, 19)
    """

    head_class = IFAHead
    default_backbone = "resnet50_deep_mg"
    aux_loss_weights = (0.4,)
    # traced with a static size, tf2onnx folds the positional encodings into
    # constants of 8 KB per stride-4 pixel (and ran out of 24 GB converting
    # at 512x1024); the ONNX graph takes any height and width
    onnx_dynamic_size = True

    def call(self, images, training=None, output_size=None):
        features = self.features(images, training=training)
        if output_size is None:
            return self.decode(features, ops.shape(images)[1:3], training)
        logits = self.head(features, output_size=check_size("output_size", output_size), training=training)
        return ops.cast(logits, "float32")

