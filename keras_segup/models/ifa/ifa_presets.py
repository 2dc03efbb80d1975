from keras_segup.models.preset_table import preset

SOURCE = "Hu et al., Learning Implicit Feature Alignment Function (ECCV 2022); architecture of hzhupku/IFA"

IFA_PRESETS = {
    "ifa_r50_cityscapes": preset("IFA, deep-stem ResNet-50, Cityscapes", "cityscapes", "resnet50", SOURCE),
    "ifa_r101_cityscapes": preset("IFA, deep-stem ResNet-101, Cityscapes", "cityscapes", "resnet101", SOURCE),
    "ifa_r50_ade20k": preset("IFA, deep-stem ResNet-50, ADE20K (150 classes)", "ade20k", "resnet50", SOURCE),
}
