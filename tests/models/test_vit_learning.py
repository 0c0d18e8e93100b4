import pytest


@pytest.mark.slow
def test_vit_config_reaches_97_percent_on_digits(fit_config):
    cli = fit_config("vit.yaml")
    assert cli.trainer.callback_metrics["test/acc"] >= 0.97
