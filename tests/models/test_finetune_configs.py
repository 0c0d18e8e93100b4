"""configs/finetune/*.yaml run through the real CLI path with generated pretrained weights of the same architecture
at a small width (overridden on the command line), on a small generated image folder.

Each run loads its weights at fit start (head re-initialized for the folder's 3 classes, ViT position grid and Swin
bias tables resized to the run's image size and window), and the DataModule normalizes with the weights' mean / std
because the configs leave them unset.
"""

import pytest
import safetensors.torch
import timm
import torch
from timm.models import save_for_hf

from dataset_fixtures import CPU_PRECISION, EAGER, write_image_tree

SHORT_RUN = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
             "--test_after_fit", "false", "--trainer.logger", "false", "--trainer.callbacks", "[]",
             "--trainer.enable_checkpointing", "false", *CPU_PRECISION, *EAGER]  # fmt: skip


def _data_args(tmp_path, image_size: int) -> list[str]:
    write_image_tree(tmp_path / "images", classes=("a", "b", "c"), splits={"train": 2, "val": 1}, size=(40, 40))
    return ["--data.init_args.data_dir", str(tmp_path / "images"), "--data.init_args.batch_size", "3",
            "--data.init_args.num_workers", "0", "--data.init_args.image_size", str(image_size)]  # fmt: skip


def _swin_weights(tmp_path) -> tuple[list[str], str]:
    torch.manual_seed(0)
    timm_model = timm.create_model(
        "swin_tiny_patch4_window7_224", img_size=32, patch_size=4, window_size=4, embed_dim=16, depths=(2, 2),
        num_heads=(2, 4), num_classes=7,
    )  # fmt: skip
    save_for_hf(timm_model, tmp_path / "swin")
    args = ["--model.init_args.pretrained", f"local-dir:{tmp_path / 'swin'}", "--model.init_args.embed_dim", "16",
            "--model.init_args.depths", "[2, 2]", "--model.init_args.num_heads", "[2, 4]",
            "--model.init_args.window_size", "6"]  # fmt: skip
    return args, "7 → 3 classes (re-initialized); relative-position tables 7×7 → 11×11"


def _vit_weights(tmp_path) -> tuple[list[str], str]:
    torch.manual_seed(0)
    timm_model = timm.create_model(
        "vit_small_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=7
    )
    save_for_hf(timm_model, tmp_path / "vit", safe_serialization=True)
    args = ["--model.init_args.pretrained", f"local-dir:{tmp_path / 'vit'}", "--model.init_args.patch_size", "8",
            "--model.init_args.embed_dim", "32", "--model.init_args.depth", "2", "--model.init_args.num_heads", "2"]  # fmt: skip
    return args, "7 → 3 classes (re-initialized); position embedding 4×4 → 6×6"


def _convmixer_weights(tmp_path) -> tuple[list[str], str]:
    from timm.models.convmixer import ConvMixer

    torch.manual_seed(0)
    timm_model = ConvMixer(dim=32, depth=2, kernel_size=3, patch_size=7, num_classes=7, act_layer=torch.nn.ReLU)
    safetensors.torch.save_file(timm_model.state_dict(), tmp_path / "convmixer.safetensors")
    args = ["--model.init_args.pretrained", str(tmp_path / "convmixer.safetensors"), "--model.init_args.dim", "32",
            "--model.init_args.depth", "2", "--model.init_args.kernel_size", "3"]  # fmt: skip
    return args, "7 → 3 classes (re-initialized)"


CASES = {
    # config: (weights writer, image size of the run, mean the DataModule must end up with)
    "swin_t.yaml": (_swin_weights, 48, (0.485, 0.456, 0.406)),
    "vit_s16.yaml": (_vit_weights, 48, (0.5, 0.5, 0.5)),
    "convmixer_768_32.yaml": (_convmixer_weights, 28, (0.485, 0.456, 0.406)),
}


@pytest.mark.parametrize("config", sorted(CASES))
def test_finetune_config_loads_generated_weights(config, fit_config, tmp_path):
    write_weights, image_size, mean = CASES[config]
    weights_args, adapted = write_weights(tmp_path)
    cli = fit_config(f"finetune/{config}", *_data_args(tmp_path, image_size), *weights_args, *SHORT_RUN)
    assert adapted in cli.model.pretrained_report
    assert tuple(cli.datamodule.hparams.mean) == pytest.approx(mean)
    assert cli.trainer.global_step == 2
