import pytest
import torch

from lit_vision.models.swin import SwinClassifier


def test_swin_classifier_builds_from_data_links_and_exempts_bias_tables():
    model = SwinClassifier(
        patch_size=1,
        embed_dim=24,
        depths=[2, 2],
        num_heads=[2, 4],
        window_size=4,
        num_classes=10,
        in_chans=1,
        image_size=8,
    )
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    decay, no_decay = model.param_groups()
    exempt = {id(p) for p in no_decay["params"]}
    tables = [p for n, p in model.net.named_parameters() if n.endswith("relative_position_bias_table")]
    assert len(tables) == 4 and all(id(p) in exempt for p in tables)
    assert all(p.ndim > 1 for p in decay["params"])
    maps = model.attention_maps(torch.randn(2, 1, 8, 8))
    assert len(maps) == 4 and maps[0].shape == (2, 4, 2, 16, 16)


@pytest.mark.slow
def test_swin_config_reaches_97_percent_on_digits(fit_config):
    cli = fit_config("swin.yaml", "--trainer.enable_progress_bar", "false")
    assert cli.trainer.callback_metrics["test/acc"] >= 0.97
