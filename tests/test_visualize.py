import numpy as np
import pytest

from keras_segup import visualize


def test_overlay_and_colorize():
    colors = visualize.palette("cityscapes")
    classes = np.array([[0, 13], [255, 10]])
    picture = visualize.colorize(classes, colors)
    np.testing.assert_array_equal(picture[0, 0], (128, 64, 128))  # road
    np.testing.assert_array_equal(picture[1, 0], (0, 0, 0))  # ignored
    image = np.full((2, 2, 3), 100, np.uint8)
    blended = visualize.overlay(image, classes, colors, alpha=0.5)
    np.testing.assert_array_equal(blended[0, 0], (114, 82, 114))
    with pytest.raises(ValueError, match="differ in size"):
        visualize.overlay(image, classes[:1], colors)
    with pytest.raises(ValueError, match="Unknown dataset"):
        visualize.palette("kitti")
    assert len(visualize.palette("voc")) == 21 and len(visualize.palette("ade20k")) == 150


def test_figures_are_written(tmp_path):
    image = np.zeros((16, 32, 3), np.uint8)
    classes = np.zeros((16, 32), np.int64)
    classes[:, 16:] = 13
    visualize.side_by_side(image, classes, classes, path=tmp_path / "cmp.png",
                           class_names=[str(i) for i in range(19)])
    (tmp_path / "log.csv").write_text("epoch,loss,mean_iou,val_loss,val_mean_iou\n0,2.0,0.1,2.1,0.1\n1,1.0,0.4,1.2,0.3\n")
    assert visualize.read_log(tmp_path / "log.csv")["val_mean_iou"] == [0.1, 0.3]
    visualize.plot_history(tmp_path / "log.csv", path=tmp_path / "curves.png")
    for name in ("cmp.png", "curves.png"):
        assert (tmp_path / name).stat().st_size > 1000
    with pytest.raises(FileNotFoundError, match="log.csv"):
        visualize.read_log(tmp_path / "missing.csv")


def test_legend_lists_the_classes_present_in_their_colours():
    colors = visualize.palette("cityscapes")
    prediction = np.array([[0, 13], [13, 255]])
    label = np.array([[11, 0], [255, 255]])
    entries = visualize.legend_entries([prediction, label], ["road"] + [f"c{i}" for i in range(1, 19)], colors)
    assert entries == [("road", (128, 64, 128)), ("c11", (220, 20, 60)), ("c13", (0, 0, 142))]
    picture = visualize.with_legend(np.zeros((40, 320, 3), np.uint8), prediction, None, colors)
    assert picture.shape[0] > 40 and (picture[40:] == (0, 0, 142)).all(-1).any()  # a car swatch
