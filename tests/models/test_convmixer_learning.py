import pytest


@pytest.mark.slow
def test_convmixer_config_reaches_97_percent_on_digits(fit_config):
    cli = fit_config("convmixer.yaml")
    assert cli.trainer.callback_metrics["test/acc"] >= 0.97
