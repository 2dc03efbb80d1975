import hashlib
import http.server
import json
import threading

import keras
import numpy as np
import pytest

from keras_segup import presets
from keras_segup.models import FANetSegmenter
from keras_segup.models import GAISegmenter
from keras_segup.models import IFASegmenter
from keras_segup.models import Segmenter
from tests.test_case import TestCase

X = np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3)).astype("float32")


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_SEGUP_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def saved_preset(tmp_path):
    """A small FANet saved as a preset folder, and its logits on X."""
    model = FANetSegmenter(
        num_classes=5, backbone=TestCase.tiny_backbone(),
        head_kwargs={"channels": 16, "aux_channels": 8, "classifier_channels": 16},
    )
    logits = TestCase.to_numpy(model(X))
    folder = tmp_path / "tiny_fanet"
    model.save_to_preset(folder)
    return folder, logits, model


class Server:
    """Serves a folder on 127.0.0.1; can truncate or fail files; counts requests."""

    def __init__(self, folder):
        self.requests = []
        self.truncate = set()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                server.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                if name in server.truncate:
                    data = (folder / name).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(saved_preset):
    served = Server(saved_preset[0].parent)
    yield served
    served.close()


def row_of(rows, name):
    return next(row for row in rows if row["name"] == name)


class TestPresets(TestCase):
    def test_every_builtin_preset_is_listed_and_resolves(self, capsys):
        names = set(Segmenter.presets)
        assert {"gai_cityscapes", "ifa_r50_cityscapes", "ifa_r101_cityscapes", "fanet_r18_cityscapes",
                "fanet_r34_cityscapes", "rsp_r50_cityscapes", "rsp_r101_cityscapes",
                "ifa_r50_ade20k", "rsp_r50_ade20k", *TestPresets.MOBILE} <= names
        assert set(GAISegmenter.presets) == {"gai_cityscapes", "gai_efficientnet_lite0_cityscapes"}
        rows = presets.list_presets()
        printed = capsys.readouterr().out
        assert len(rows) == len(names)
        for row in rows:  # every row printed with its parameters and GFLOPs
            assert f"{row['parameters'] / 1e6:.2f}M" in printed and f"{row['gflops']:.1f}" in printed
            assert row["weights"] in ("repository", "cache", "download", "none")
        expected_input = {"cityscapes": [1024, 2048], "ade20k": [512, 512]}
        for name in names:
            _, config, metadata, _ = presets.resolve(name)
            arguments = config["config"]
            assert "num_classes" not in arguments  # one source: the class names
            assert len(arguments["class_names"]) == len(arguments["palette"]) == row_of(rows, name)["classes"]
            assert metadata["parameter_count"] > 1e6
            assert metadata["gflops"] > 10 and metadata["gflops_input"] == expected_input[metadata["dataset"]]

    def test_presets_is_a_class_level_mapping(self):
        assert isinstance(GAISegmenter.presets, dict)
        assert GAISegmenter.presets["gai_cityscapes"]["dataset"] == "cityscapes"
        assert GAISegmenter.presets() == GAISegmenter.presets  # the callable form of 0.1 still works
        assert "gai_cityscapes" not in IFASegmenter.presets

    def test_class_names_and_palette_survive_a_keras_file(self, tmp_path):
        model = Segmenter.from_preset("fanet_r18_cityscapes", load_weights=False)
        assert model.class_names[0] == "road" and model.palette[0] == [128, 64, 128]
        small = FANetSegmenter(
            class_names=["sky", "road", "car"], palette=[[0, 0, 255], [128, 64, 128], [0, 0, 142]],
            backbone=self.tiny_backbone(), head_kwargs={"channels": 16, "aux_channels": 8, "classifier_channels": 16},
        )
        assert small.num_classes == 3
        small(X)
        small.save(tmp_path / "model.keras")
        restored = keras.saving.load_model(tmp_path / "model.keras")
        assert restored.class_names == ["sky", "road", "car"]
        names, colors = restored.labels()
        assert names == ["sky", "road", "car"] and colors.tolist()[2] == [0, 0, 142]

    def test_inconsistent_class_labels_are_refused(self):
        with pytest.raises(ValueError, match="`class_names` has 2 names but `num_classes` is 3"):
            FANetSegmenter(num_classes=3, class_names=["a", "b"], backbone=self.tiny_backbone())
        with pytest.raises(ValueError, match="`palette` must hold 2 RGB colours"):
            FANetSegmenter(class_names=["a", "b"], palette=[[0, 0, 0]], backbone=self.tiny_backbone())
        with pytest.raises(ValueError, match="needs `num_classes` or `class_names`"):
            FANetSegmenter(backbone=self.tiny_backbone())

    def test_hub_handles_go_through_the_hub_downloader(self, saved_preset, monkeypatch):
        folder, logits, _ = saved_preset
        asked = []

        def hub_file(handle, filename):  # keras-hub's downloader, served from a local folder
            asked.append((handle, filename))
            return str(folder / filename)

        monkeypatch.setattr(presets.compat, "hub_preset_file", hub_file)
        model = Segmenter.from_preset("hf://keras-segup/tiny-fanet")
        np.testing.assert_allclose(self.to_numpy(model(X)), logits, atol=1e-5)
        assert ("hf://keras-segup/tiny-fanet", "config.json") in asked
        assert ("hf://keras-segup/tiny-fanet", "model.weights.h5") in asked

        def offline(handle, filename):
            raise OSError("no network")

        monkeypatch.setattr(presets.compat, "hub_preset_file", offline)
        with pytest.raises(presets.PresetError, match="config.json of preset kaggle://a/b/keras/c"):
            Segmenter.from_preset("kaggle://a/b/keras/c")

    @pytest.mark.parametrize("name", ["gai_cityscapes", "fanet_r18_cityscapes", "ifa_r50_cityscapes",
                                      "rsp_r50_cityscapes", "ifa_r50_ade20k"])
    def test_builtin_preset_builds_without_weights(self, name):
        model = Segmenter.from_preset(name, load_weights=False)
        model.build((None, None, None, 3))
        assert model.count_params() == presets.resolve(name)[2]["parameter_count"]

    MOBILE = ["gai_efficientnet_lite0_cityscapes", "ifa_efficientnet_lite0_cityscapes",
              "fanet_efficientnet_lite0_cityscapes", "rsp_efficientnet_lite0_cityscapes"]

    @pytest.mark.parametrize("name", MOBILE)
    def test_mobile_preset_builds_offline_and_runs(self, name):
        model = Segmenter.from_preset(name, load_weights=False)
        assert type(model.backbone).__name__ == "EfficientNetBackbone" and model.feature_strides == (4, 8, 16, 32)
        assert tuple(model(X).shape) == (1, 64, 96, 19)
        assert model.count_params() == presets.resolve(name)[2]["parameter_count"]

    def test_mobile_preset_takes_its_keras_hub_imagenet_weights(self, monkeypatch):
        import keras_hub

        name = "rsp_efficientnet_lite0_cityscapes"
        architecture = Segmenter.from_preset(name, load_weights=False).backbone.get_config()
        published = keras_hub.models.EfficientNetBackbone.from_config(architecture)
        for variable in published.weights:
            variable.assign(np.random.default_rng(3).normal(size=variable.shape).astype("float32"))
        asked = []
        monkeypatch.setattr(keras_hub.models.Backbone, "from_preset",
                            lambda handle, **kwargs: asked.append(handle) or published)
        model = Segmenter.from_preset(name, load_weights=False, backbone_weights="paper")
        assert asked == ["efficientnet_lite0_ra_imagenet"]
        for ours, theirs in zip(model.backbone.weights, published.weights):
            np.testing.assert_array_equal(self.to_numpy(ours), self.to_numpy(theirs))

    @pytest.mark.large
    @pytest.mark.parametrize("name", ["ifa_r101_cityscapes", "rsp_r101_cityscapes", "fanet_r34_cityscapes",
                                      "rsp_r50_ade20k"])
    def test_large_builtin_preset_builds_and_runs(self, name):
        model = Segmenter.from_preset(name, load_weights=False)
        assert tuple(model(X).shape) == (1, 64, 96, model.num_classes)

    def test_no_weights_is_an_error_not_random_weights(self):
        with pytest.raises(presets.PresetError, match="load_weights=False"):
            GAISegmenter.from_preset("gai_cityscapes")

    def test_unknown_preset_and_wrong_class(self):
        with pytest.raises(presets.PresetError, match="Built-in presets: .*gai_cityscapes"):
            Segmenter.from_preset("gai_kitti")
        with pytest.raises(presets.PresetError, match="builds a IFASegmenter, not a GAISegmenter"):
            GAISegmenter.from_preset("ifa_r50_cityscapes", load_weights=False)

    def test_save_to_preset_round_trip(self, saved_preset):
        folder, logits, _ = saved_preset
        assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metadata.json", "model.weights.h5"]
        restored = Segmenter.from_preset(folder)
        assert isinstance(restored, FANetSegmenter)
        np.testing.assert_allclose(self.to_numpy(restored(X)), logits, atol=1e-5)

    def test_num_classes_surgery_keeps_other_weights(self, saved_preset):
        folder, _, original = saved_preset
        model = FANetSegmenter.from_preset(folder, num_classes=7)
        assert tuple(model(X).shape) == (1, 64, 96, 7)
        for a, b in zip(original.backbone.weights, model.backbone.weights):
            np.testing.assert_array_equal(self.to_numpy(a), self.to_numpy(b))
        resized = 0
        for a, b in zip(original.head.weights, model.head.weights):
            if a.shape == b.shape:
                np.testing.assert_array_equal(self.to_numpy(a), self.to_numpy(b))
            else:  # the three 1x1 classifiers: 5 -> 7 classes
                assert a.shape[-1] == 5 and b.shape[-1] == 7
                resized += 1
        assert resized == 3

    def test_corrupt_weights_file(self, saved_preset):
        folder, _, _ = saved_preset
        (folder / "model.weights.h5").write_bytes(b"not an h5 file")
        with pytest.raises(presets.PresetError, match="delete it"):
            Segmenter.from_preset(folder)

    def test_download_verified_and_cached(self, saved_preset, server, user_cache):
        folder, logits, _ = saved_preset
        (folder / "model.weights.h5").rename(folder.parent / "weights.h5")
        sha = hashlib.sha256((folder.parent / "weights.h5").read_bytes()).hexdigest()
        metadata = json.loads((folder / "metadata.json").read_text())
        metadata.update(weights_url=f"{server.url}/weights.h5", weights_sha256=sha)
        (folder / "metadata.json").write_text(json.dumps(metadata))

        model = Segmenter.from_preset(f"{server.url}/tiny_fanet")
        np.testing.assert_allclose(self.to_numpy(model(X)), logits, atol=1e-5)
        downloads = [r for r in server.requests if r.endswith(".h5")]
        assert downloads == ["/weights.h5"]
        Segmenter.from_preset(f"{server.url}/tiny_fanet")  # weights come from the cache now
        assert [r for r in server.requests if r.endswith(".h5")] == ["/weights.h5"]
        assert not list(user_cache.rglob("*.part"))

    def test_wrong_sha256_leaves_nothing(self, saved_preset, server, user_cache):
        folder, _, _ = saved_preset
        metadata = json.loads((folder / "metadata.json").read_text())
        (folder / "model.weights.h5").rename(folder.parent / "weights.h5")
        metadata.update(weights_url=f"{server.url}/weights.h5", weights_sha256="0" * 64)
        (folder / "metadata.json").write_text(json.dumps(metadata))
        with pytest.raises(presets.PresetError, match="corrupt: sha256"):
            Segmenter.from_preset(f"{server.url}/tiny_fanet")
        assert not list(user_cache.rglob("*.h5")) and not list(user_cache.rglob("*.part"))

    def test_truncated_download_leaves_nothing(self, saved_preset, server, user_cache):
        server.truncate.add("model.weights.h5")
        with pytest.raises(presets.PresetError):
            Segmenter.from_preset(f"{server.url}/tiny_fanet")
        assert not list(user_cache.rglob("*.h5")) and not list(user_cache.rglob("*.part"))

    def test_404(self, server):
        with pytest.raises(presets.PresetError, match="Could not download .*404"):
            Segmenter.from_preset(f"{server.url}/missing_preset")

    def test_file_url(self, saved_preset):
        folder, logits, _ = saved_preset
        model = Segmenter.from_preset(folder.as_uri())
        np.testing.assert_allclose(self.to_numpy(model(X)), logits, atol=1e-5)

    def test_keras_model_of_a_preset_loads_in_keras(self, saved_preset, tmp_path):
        _, logits, original = saved_preset
        original.save(tmp_path / "m.keras")
        np.testing.assert_allclose(self.to_numpy(keras.saving.load_model(tmp_path / "m.keras")(X)), logits, atol=1e-5)


class TestCachedWeights(TestCase):
    def test_an_unreadable_cached_file_is_removed(self, tmp_path):
        cached = tmp_path / "cache" / "fanet_r18_cityscapes" / presets.WEIGHTS_FILE
        cached.parent.mkdir(parents=True)
        cached.write_bytes(b"not hdf5")
        with pytest.raises(presets.PresetError, match="Removed it from the cache"):
            Segmenter.from_preset("fanet_r18_cityscapes")
        assert not cached.exists()
