"""The papers' ImageNet checkpoints: file formats, the keys they lack, refusals, downloads."""

import functools
import hashlib
import http.server
import json
import threading
import zipfile

import numpy as np
import pytest
import torch

from keras_segup.backbones import load_torch_weights
from keras_segup.backbones import paper_backbone
from keras_segup.backbones import read_checkpoint
from keras_segup.models import FANetSegmenter
from keras_segup.models import Segmenter
from keras_segup.backbones import CheckpointError
from tests.test_case import TestCase


def torchvision_resnet18(reference):
    """FANet's backbone as torchvision publishes it: no layer1 projection, an fc classifier."""
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("layer1.0.downsample")}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    return state


@pytest.fixture
def server(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_SEGUP_HOME", str(tmp_path / "cache"))


class TestCheckpoints(TestCase):
    def test_fanet_starts_from_torchvision_weights(self, tmp_path, capsys):
        reference = self.torch_resnet("resnet18_fanet")
        path = tmp_path / "resnet18-5c106cde.pth"
        torch.save({"state_dict": {f"module.{k}": v for k, v in torchvision_resnet18(reference).items()}}, path)
        model = FANetSegmenter.from_preset("fanet_r18_cityscapes", load_weights=False, backbone_weights=path)
        printed = capsys.readouterr().out
        assert "kept at initialisation: layer1.0.downsample.0, layer1.0.downsample.1" in printed
        assert "ignored 2 classifier keys (fc.*)" in printed
        conv1 = model.backbone.get_layer("conv1").kernel
        expected = reference.conv1.weight.detach().numpy().transpose(2, 3, 1, 0)
        np.testing.assert_array_equal(self.to_numpy(conv1), expected)
        bn = model.backbone.get_layer("layer4_1_bn2")
        np.testing.assert_array_equal(self.to_numpy(bn.moving_variance), reference.layer4[1].bn2.running_var.numpy())

    def test_another_architecture_is_refused_before_anything_changes(self):
        backbone = paper_backbone("resnet18_fanet")
        before = [self.to_numpy(w).copy() for w in backbone.weights]
        deep_stem = self.torch_resnet("resnet18_deep128").state_dict()
        with pytest.raises(ValueError, match=r"(?s)not one of a resnet18_fanet backbone.*missing keys.*conv1\.weight.*unexpected keys.*conv1\.0\.weight"):
            load_torch_weights(backbone, deep_stem)
        wider = {**self.torch_resnet("resnet18_fanet").state_dict(), "layer2.0.conv1.weight": torch.zeros(128, 32, 3, 3)}
        with pytest.raises(ValueError, match=r"(?s)shape mismatches:.*layer2\.0\.conv1\.weight"):
            load_torch_weights(backbone, wider)
        for a, b in zip(before, backbone.weights):
            np.testing.assert_array_equal(a, self.to_numpy(b))

    def test_a_missing_local_checkpoint_is_refused_before_the_model_is_built(self, tmp_path, monkeypatch):
        def never(*args, **kwargs):
            raise AssertionError("built before the checkpoint was checked")

        monkeypatch.setattr("keras_segup.presets.resolve", never)
        for missing in (tmp_path / "absent.pth", str(tmp_path / "folder/"), "resnet18.safetensors"):
            with pytest.raises(CheckpointError, match="absent.pth|folder|resnet18.safetensors"):
                Segmenter.from_preset("fanet_r18_cityscapes", load_weights=False, backbone_weights=missing)
        # keras-hub preset names, URLs and "paper" are the loaders' to check
        for handle in ("efficientnet_b0_ra_imagenet", "https://example.org/r18.pth", "hf://timm/r18", "paper"):
            with pytest.raises(AssertionError, match="built before"):
                Segmenter.from_preset("fanet_r18_cityscapes", load_weights=False, backbone_weights=handle)

    def test_safetensors_and_bad_files(self, tmp_path):
        safetensors = pytest.importorskip("safetensors.numpy")
        state = {k: v.numpy() for k, v in self.torch_resnet("resnet18_deep128").state_dict().items()
                 if not k.endswith("num_batches_tracked")}
        safetensors.save_file(state, str(tmp_path / "deep.safetensors"))
        assert load_torch_weights(paper_backbone("resnet18_deep128"), tmp_path / "deep.safetensors")["missing"] == []

    def test_unreadable_checkpoints_are_named(self, tmp_path):
        with pytest.raises(ValueError, match="absent.pth does not exist"):
            read_checkpoint(tmp_path / "absent.pth")
        (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
        with pytest.raises(ValueError, match="junk.pth is not a readable PyTorch checkpoint"):
            read_checkpoint(tmp_path / "junk.pth")
        torch.save([1, 2, 3], tmp_path / "list.pth")
        with pytest.raises(ValueError, match="list.pth holds a list, not a state_dict"):
            read_checkpoint(tmp_path / "list.pth")

    def test_download_is_cached_and_verified(self, tmp_path, server):
        reference = self.torch_resnet("resnet18_deep128")
        torch.save(reference.state_dict(), tmp_path / "resnet18-deep-inplane128.pth")
        url = f"{server}/resnet18-deep-inplane128.pth"
        digest = hashlib.sha256((tmp_path / "resnet18-deep-inplane128.pth").read_bytes()).hexdigest()
        report = load_torch_weights(paper_backbone("resnet18_deep128"), url, sha256=digest)
        assert report["missing"] == [] and (tmp_path / "cache/checkpoints/resnet18-deep-inplane128.pth").is_file()
        (tmp_path / "cache/checkpoints/resnet18-deep-inplane128.pth").unlink()
        with pytest.raises(CheckpointError, match="corrupt"):
            load_torch_weights(paper_backbone("resnet18_deep128"), url, sha256="0" * 64)
        assert not (tmp_path / "cache/checkpoints/resnet18-deep-inplane128.pth").exists()
        report = load_torch_weights(paper_backbone("resnet18_deep128"), url, sha256=digest[:8])  # torchvision's
        assert report["missing"] == []

    def test_zip_archives_web_pages_and_unreadable_downloads(self, tmp_path, server):
        reference = self.torch_resnet("resnet50_deep_mg")
        torch.save(reference.state_dict(), tmp_path / "resnet50-ebb6acbb.pth")
        with zipfile.ZipFile(tmp_path / "resnet50-ebb6acbb.zip", "w") as bundle:
            bundle.write(tmp_path / "resnet50-ebb6acbb.pth", "resnet50-ebb6acbb.pth")
        report = load_torch_weights(paper_backbone("resnet50_deep_mg"), f"{server}/resnet50-ebb6acbb.zip")
        assert report["missing"] == [] and (tmp_path / "cache/checkpoints/resnet50-ebb6acbb.pth").is_file()
        (tmp_path / "page.html").write_text("<!DOCTYPE html><html>Virus scan warning</html>")
        with pytest.raises(CheckpointError, match="answered with a web page"):
            read_checkpoint(f"{server}/page.html?id=1")
        (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
        with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
            read_checkpoint(f"{server}/broken.pth")
        assert sorted(p.name for p in (tmp_path / "cache/checkpoints").iterdir()) == [
            "resnet50-ebb6acbb.pth", "resnet50-ebb6acbb.zip"]  # nothing unreadable stays cached

    def test_hugging_face_handles(self, tmp_path, monkeypatch):
        import huggingface_hub
        from safetensors.numpy import save_file

        state = {k: v.numpy() for k, v in self.torch_resnet("resnet50_deep").state_dict().items()
                 if not k.endswith("num_batches_tracked")}
        save_file(state, tmp_path / "model.safetensors")
        asked = []

        def fake_download(repo_id, filename):
            asked.append((repo_id, filename))
            return str(tmp_path / "model.safetensors")

        monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
        report = load_torch_weights(paper_backbone("resnet50_deep"), "hf://timm/resnet50s.gluon_in1k")
        read_checkpoint("hf://owner/repo/weights/model.safetensors")
        assert asked == [("timm/resnet50s.gluon_in1k", "model.safetensors"),
                         ("owner/repo", "weights/model.safetensors")]
        assert report["missing"] == []
        with pytest.raises(CheckpointError, match="hf://owner/repo"):
            read_checkpoint("hf://timm")

    def test_paper_names_the_presets_checkpoint(self, tmp_path, server):
        reference = self.torch_resnet("resnet18_fanet")
        torch.save(torchvision_resnet18(reference), tmp_path / "resnet18-5c106cde.pth")
        preset = tmp_path / "preset"
        Segmenter.from_preset("fanet_r18_cityscapes", load_weights=False).save_to_preset(preset)
        metadata = json.loads((preset / "metadata.json").read_text())
        metadata["backbone_checkpoint"]["url"] = f"{server}/resnet18-5c106cde.pth"
        digest = hashlib.sha256((tmp_path / "resnet18-5c106cde.pth").read_bytes()).hexdigest()
        metadata["backbone_checkpoint"]["sha256"] = digest[:8]  # verified as the preset says
        (preset / "metadata.json").write_text(json.dumps(metadata))
        model = Segmenter.from_preset(str(preset), load_weights=False, backbone_weights="paper")
        np.testing.assert_array_equal(self.to_numpy(model.backbone.get_layer("conv1").kernel),
                                      reference.conv1.weight.detach().numpy().transpose(2, 3, 1, 0))
        metadata["backbone_checkpoint"]["url"] = None
        (preset / "metadata.json").write_text(json.dumps(metadata))
        with pytest.raises(CheckpointError, match="names no download"):
            Segmenter.from_preset(str(preset), load_weights=False, backbone_weights="paper")

    def test_keras_hub_backbones_take_keras_hub_presets_only(self):
        model = Segmenter.from_preset("gai_cityscapes", load_weights=False)
        assert model.backbone.name == "resnet18_deep128"
        model = FANetSegmenter(num_classes=3, backbone=self.tiny_backbone())
        with pytest.raises(ValueError, match="weights come from a keras-hub preset name or folder, not a state_dict"):
            model.load_backbone_checkpoint({})
        with pytest.raises(CheckpointError, match="names no keras-hub preset"):
            model.load_backbone_checkpoint("paper")

    def test_keras_hub_preset_weights_into_a_segmenter(self, tmp_path):
        trained = self.tiny_backbone()
        for variable in trained.weights:
            variable.assign(np.random.default_rng(0).normal(size=variable.shape).astype("float32"))
        trained.save_to_preset(tmp_path / "hub")
        model = FANetSegmenter(num_classes=3, backbone=self.tiny_backbone(),
                               head_kwargs=self.SMALL_SEGMENTERS["fanet"][1])
        model.preset_metadata = {"backbone_checkpoint": {"keras_hub_preset": str(tmp_path / "hub")}}
        report = model.load_backbone_checkpoint("paper")
        assert report["loaded"] == len(trained.weights)
        for ours, theirs in zip(model.backbone.weights, trained.weights):
            np.testing.assert_array_equal(self.to_numpy(ours), self.to_numpy(theirs))

    def test_keras_hub_preset_of_another_architecture_changes_nothing(self, tmp_path):
        self.hub_backbone("cspnet").save_to_preset(tmp_path / "csp")
        import keras_hub

        wider = keras_hub.models.ResNetBackbone.from_config(
            {**self.tiny_backbone().get_config(), "stackwise_num_filters": [64, 128, 256, 256]}
        )
        wider.save_to_preset(tmp_path / "wider")
        model = FANetSegmenter(num_classes=3, backbone=self.tiny_backbone())
        before = [self.to_numpy(v) for v in model.backbone.weights]
        with pytest.raises(ValueError, match="is a CSPNetBackbone; this backbone is a ResNetBackbone"):
            model.load_backbone_checkpoint(str(tmp_path / "csp"))
        with pytest.raises(ValueError, match="has another architecture than this backbone"):
            model.load_backbone_checkpoint(str(tmp_path / "wider"))
        for ours, old in zip(model.backbone.weights, before):
            np.testing.assert_array_equal(self.to_numpy(ours), old)
