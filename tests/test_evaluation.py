import numpy as np
import pytest
from PIL import Image

import keras_segup
from keras_segup.data.labels import CITYSCAPES_TRAIN_TO_LABEL
from keras_segup.data.labels import cityscapes_decoder


class FixedPredictions:
    """Stands in for a model: returns one-hot logits of given class maps in turn."""

    num_classes = 19

    def __init__(self, class_maps):
        self.class_maps = list(class_maps)

    def predict_on_batch(self, images):
        classes = self.class_maps.pop(0)
        return np.eye(self.num_classes, dtype="float32")[classes] * 10.0


def test_per_class_iou_equals_cityscapesscripts(shared_dir, tmp_path, capsys):
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval

    root = shared_dir / "data/cityscapes"
    gt_file = root / "gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelIds.png"
    label_ids = np.array(Image.open(gt_file))
    rng = np.random.default_rng(0)
    # a prediction that is right on most pixels, wrong on a random 30%, in trainIds
    train_ids = np.asarray(cityscapes_decoder()(open(gt_file, "rb").read(), str(gt_file)))
    prediction = np.where(train_ids == 255, rng.integers(0, 19, train_ids.shape), train_ids)
    wrong = rng.random(prediction.shape) < 0.3
    prediction[wrong] = rng.integers(0, 19, wrong.sum())
    pred_file = tmp_path / "frankfurt_000000_000294_pred.png"
    Image.fromarray(CITYSCAPES_TRAIN_TO_LABEL[prediction]).save(pred_file)

    cs_eval.args.evalInstLevelScore = False
    cs_eval.args.JSONOutput = False
    cs_eval.args.quiet = True
    official = cs_eval.evaluateImgLists([str(pred_file)], [str(gt_file)], cs_eval.args)["classScores"]

    dataset = keras_segup.data.cityscapes(root, "val")
    result = keras_segup.evaluate(FixedPredictions([prediction[None]]), dataset, num_classes=19,
                                  class_names=list(keras_segup.datasets_info.CITYSCAPES_CLASSES))
    for train_id, name in enumerate(keras_segup.datasets_info.CITYSCAPES_CLASSES):
        expected = official[name]
        got = result["per_class_iou"][train_id]
        if np.isnan(expected):
            assert np.isnan(got), name
        else:
            assert abs(got - expected) <= 1e-6, name
    assert label_ids.shape == prediction.shape
    printed = capsys.readouterr().out
    assert "mIoU" in printed and "road" in printed


def test_evaluate_refuses_unknown_mode_and_empty_data():
    with pytest.raises(ValueError, match="Unknown inference mode"):
        keras_segup.evaluate(FixedPredictions([]), [], num_classes=19, mode="fast")
    with pytest.raises(ValueError, match="no batches"):
        keras_segup.evaluate(FixedPredictions([]), [], num_classes=19, verbose=0)
