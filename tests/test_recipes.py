"""The papers' recipes as data, and runs that follow them."""

import keras
import numpy as np
import pytest

import keras_segup.models
from keras_segup import cli
from keras_segup import training
from keras_segup.presets import BUILTIN_PRESETS
from keras_segup.recipes import Recipe
from keras_segup.recipes import preset_recipe
from tests.test_case import TestCase


class TestRecipes(TestCase):
    @pytest.mark.parametrize("name", sorted(BUILTIN_PRESETS))
    def test_every_preset_names_its_recipe(self, name):
        recipe = preset_recipe(name)
        assert recipe.source and set(recipe.assumed) <= set(Recipe.field_names())
        model_class = getattr(keras_segup.models, BUILTIN_PRESETS[name]["class_name"])
        assert len(recipe.aux_weights) == len(model_class.aux_loss_weights)

    def test_the_official_configs(self):
        gai, ifa = preset_recipe("gai_cityscapes"), preset_recipe("ifa_r50_cityscapes")
        assert (gai.batch_size, gai.iterations, gai.weight_decay, gai.warmup_iterations) == (16, 80000, 1e-4, 1000)
        assert gai.loss == "ohem" and gai.aux_weights == (1.0, 1.0) and gai.blur and not gai.assumed
        assert (ifa.crop_size, ifa.batch_size, ifa.epochs, ifa.head_lr_multiplier) == ((769, 769), 8, 100, 10.0)
        assert ifa.evaluation_options() == {"mode": "multiscale", "scales": (1.0,), "flip": True,
                                            "crop_size": (769, 769), "stride": (513, 513)}
        assert preset_recipe("not_a_preset") is None

    def test_linear_scaling_keeps_the_images_seen(self):
        recipe = preset_recipe("gai_cityscapes").scaled_to(4)
        assert recipe.learning_rate == pytest.approx(0.0025)
        assert (recipe.iterations, recipe.warmup_iterations) == (320000, 4000)
        with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
            recipe.scaled_to(0)
        epochs = preset_recipe("ifa_r50_cityscapes").scaled_to(16)
        assert epochs.epochs == 100 and epochs.learning_rate == pytest.approx(0.02)

    def test_overrides_are_typed_and_checked(self):
        recipe = Recipe(iterations=10)
        recipe = recipe.override("crop_size=512x1024").override("flip=false").override("aux_weights=1,0.5")
        assert recipe.crop_size == (512, 1024) and recipe.flip is False and recipe.aux_weights == (1.0, 0.5)
        assert recipe.override("epochs=3").epochs == 3 and recipe.override("epochs=3").iterations is None
        for text, message in (("speed=3", "FIELD=VALUE"), ("flip=maybe", "takes a bool"),
                              ("learning_rate=-1", "learning_rate must be positive and finite"),
                              ("iterations=none", "exactly one of iterations"),
                              ("crop_size=0,5", "two positive sizes")):
            with pytest.raises(ValueError, match=message):
                recipe.override(text)
        with pytest.raises(ValueError, match="Unknown recipe fields"):
            Recipe.from_dict({"iterations": 1, "lr": 0.1})

    def test_epochs_of_an_iteration_recipe(self):
        assert Recipe(iterations=1000).epochs_for(300) == (4, 250)
        assert Recipe(epochs=3).epochs_for(7) == (3, 7)

    def test_compile_for_recipe_sets_aux_weights_and_head_rate(self):
        model = self.small_segmenter("ifa")
        model.build((None, None, None, 3))
        recipe = preset_recipe("ifa_r50_cityscapes").replace(aux_weights=(0.25,), loss="cross_entropy")
        training.compile_for_recipe(model, recipe, total_steps=10)
        assert model.aux_loss_weights == (0.25,)
        multipliers = model.optimizer._multipliers
        backbone = {id(v) for v in model.backbone.trainable_variables}
        assert multipliers and all(key not in backbone for key in multipliers)
        assert len(multipliers) == len(model.trainable_variables) - len(backbone)
        with pytest.raises(ValueError, match="auxiliary losses"):
            training.compile_for_recipe(model, recipe.replace(aux_weights=(1.0, 1.0)), total_steps=10)

    @pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
    def test_a_run_in_mixed_precision(self, tmp_path, precision):
        from keras_segup import data

        dataset = data.synthetic(4, size=(32, 32), training=True, batch_size=2, seed=0)
        recipe = Recipe(iterations=4, batch_size=2, crop_size=(32, 32), loss="cross_entropy")
        model, history = training.train(lambda: self.small_segmenter("fanet", num_classes=19), dataset, output_dir=tmp_path,
                                        recipe=recipe, precision=precision, verbose=0)
        assert model.dtype_policy.name == precision and keras.config.dtype_policy().name == "float32"
        assert np.isfinite(history.history["loss"]).all() and len(history.history["loss"]) == 2
        assert history.history["images_per_second"][-1] > 0
        logits = model.predict_on_batch(np.zeros((1, 32, 32, 3), "float32"))
        assert str(logits.dtype) == "float32"
        is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert is_scaled == (precision == "mixed_float16")


class TestTrainCommand(TestCase):
    @pytest.mark.one_backend("torch")
    def test_prints_the_recipe_and_its_overrides(self, capsys, tmp_path):
        code = cli.main(["train", "--preset", "fanet_r18_cityscapes", "--no-weights", "--data", "synthetic",
                         "--synthetic", "4", "--crop", "32", "32", "--batch-size", "2", "--iterations", "2",
                         "--recipe", "weight_decay=1e-4", "--no-val", "--output", str(tmp_path)])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "weight_decay         0.0001  (overridden)" in out and "batch_size           2  (overridden)" in out
        assert "0.01 x 2/16 = 0.00125 (linear scaling rule)" in out
        assert "(assumed)" in out and "74.4 mIoU" in out
        assert "images_per_second" in (tmp_path / "log.csv").read_text().splitlines()[0]

    def test_bad_overrides_exit_2(self, capsys, tmp_path):
        (tmp_path / "final.keras").write_bytes(b"a finished run")
        common = ["train", "--preset", "gai_cityscapes", "--no-weights", "--data", "synthetic",
                  "--output", str(tmp_path)]
        for option, message in ((["--recipe", "momentum=2"], "momentum must be in [0, 1)"),
                                (["--epochs", "0"], "epochs must be a positive integer, got 0"),
                                (["--lr", "-0.01"], "learning_rate must be positive and finite, got -0.01"),
                                (["--batch-size", "0"], "batch_size must be a positive integer, got 0")):
            assert cli.main(common + option) == 2, option
            assert message in capsys.readouterr().err
        assert (tmp_path / "final.keras").read_bytes() == b"a finished run"


PAPER_STARTS = {"fanet_r18_cityscapes": "resnet18_fanet", "gai_cityscapes": "resnet18_deep128",
                "ifa_r50_cityscapes": "resnet50_deep_mg", "rsp_r50_cityscapes": "resnet50_deep"}


class TestPaperStart(TestCase):
    # FANet's on every backend; the other three differ from it in their checkpoint and recipe,
    # nothing backend-specific: under torch
    @pytest.mark.parametrize("preset", [
        preset if preset == "fanet_r18_cityscapes" else pytest.param(preset, marks=pytest.mark.one_backend("torch"))
        for preset in sorted(PAPER_STARTS)
    ])
    def test_trains_the_recipe_from_an_imagenet_checkpoint(self, capsys, tmp_path, preset):
        import torch

        reference = self.torch_resnet(PAPER_STARTS[preset], seed=5)
        torch.save({"state_dict": reference.state_dict()}, tmp_path / "imagenet.pth")
        code = cli.main(["train", "--preset", preset, "--no-weights", "--backbone-weights",
                         str(tmp_path / "imagenet.pth"), "--data", "synthetic", "--synthetic", "4",
                         "--crop", "64", "64", "--batch-size", "2", "--iterations", "2", "--no-val",
                         "--output", str(tmp_path / "run")])
        out = capsys.readouterr().out
        assert code == 0, out
        assert f"Backbone {PAPER_STARTS[preset]}: loaded" in out and "ohem" in out
        model = keras.saving.load_model(tmp_path / "run/final.keras")
        deep = not hasattr(reference.conv1, "weight")
        start = (reference.conv1[0] if deep else reference.conv1).weight.detach().numpy().transpose(2, 3, 1, 0)
        trained = self.to_numpy(model.backbone.get_layer("conv1_0" if deep else "conv1").kernel)
        assert trained.shape == start.shape and np.isfinite(trained).all() and not np.array_equal(trained, start)
        logs = (tmp_path / "run/log.csv").read_text().splitlines()
        assert len(logs) == 2 and np.isfinite(float(logs[1].split(",")[logs[0].split(",").index("loss")]))


class TestEvaluateCommand(TestCase):
    @pytest.mark.one_backend("torch")
    def test_follows_the_recipes_evaluation(self, capsys, tmp_path):
        preset = tmp_path / "tiny"
        self.small_segmenter("fanet", num_classes=19).save_to_preset(preset)
        common = ["evaluate", "--preset", str(preset), "--no-weights", "--data", "synthetic", "--synthetic", "16",
                  "--limit", "1"]
        assert cli.main(common) == 0
        assert "Evaluating as the recipe does: {'mode': 'whole'}" in capsys.readouterr().out
        assert cli.main(common + ["--recipe-from", "ifa_r50_cityscapes"]) == 0
        out = capsys.readouterr().out
        assert "'mode': 'multiscale', 'scales': (1.0,), 'flip': True, 'crop_size': (769, 769)" in out
        assert cli.main(common + ["--recipe-from", "nope"]) == 2
        assert "--recipe-from nope: not a built-in preset" in capsys.readouterr().err
