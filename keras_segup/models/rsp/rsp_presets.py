from keras_segup.models.preset_table import preset

SOURCE = "Bai et al., arXiv 2106.01744; keras_segup design (docs/rsp.md), no official code"

RSP_PRESETS = {
    "rsp_r50_cityscapes": preset("RSP head, deep-stem ResNet-50, Cityscapes", "cityscapes", "resnet50", SOURCE),
    "rsp_r101_cityscapes": preset("RSP head, deep-stem ResNet-101, Cityscapes", "cityscapes", "resnet101", SOURCE),
    "rsp_r50_ade20k": preset("RSP head, deep-stem ResNet-50, ADE20K (150 classes)", "ade20k", "resnet50", SOURCE),
}
