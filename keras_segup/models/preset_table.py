"""Builds the preset entries of the segmenters (plain data)."""

from keras_segup.datasets_info import DATASETS
from keras_segup.models.segmenter import IMAGENET_MEAN
from keras_segup.models.segmenter import IMAGENET_STD


def preset(description, dataset, backbone, source, head_kwargs=None, weights_url=None,
           weights_sha256=None):
    """One preset: constructor config plus metadata for `metadata.json`."""
    info = DATASETS[dataset]
    return {
        "config": {
            "num_classes": len(info["class_names"]),
            "backbone": backbone,
            "head_kwargs": head_kwargs or {},
        },
        "metadata": {
            "description": description,
            "dataset": dataset,
            "num_classes": len(info["class_names"]),
            "class_names": list(info["class_names"]),
            "palette": [list(c) for c in info["palette"]],
            "input": {"range": [0, 255], "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
            "source": source,
            "weights_url": weights_url,
            "weights_sha256": weights_sha256,
        },
    }
