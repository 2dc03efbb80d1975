from keras_segup.models.preset_table import preset

SOURCE = "Cheng et al., Cross-Layer Attentive Feature Upsampling; architecture of hustvl/simpleseg"

GAI_PRESETS = {
    "gai_cityscapes": preset(
        "GAI with a deep-stem ResNet-18, Cityscapes (19 classes)", "cityscapes", "resnet18", SOURCE
    ),
}
