from keras_segup.models.preset_table import preset

SOURCE = "Hu et al., Real-time Semantic Segmentation with Fast Attention; architecture of feinanshan/FANet"

FANET_PRESETS = {
    "fanet_r18_cityscapes": preset("FANet-18 (ResNet-18, strides 8-64), Cityscapes", "cityscapes", "resnet18", SOURCE),
    "fanet_r34_cityscapes": preset("FANet-34 (ResNet-34, strides 8-64), Cityscapes", "cityscapes", "resnet34", SOURCE),
}
