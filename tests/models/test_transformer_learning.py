import time

import pytest


@pytest.mark.slow
def test_transformer_config_reverses_digit_strings(fit_config):
    """configs/transformer.yaml: ≥ 99 % exact match on unseen 4–16 digit strings; beam search (the config's test
    decoding) against greedy decoding on the same checkpoint."""
    start = time.perf_counter()
    cli = fit_config("transformer.yaml")
    seconds = time.perf_counter() - start
    beam = cli.trainer.callback_metrics["test/exact_match"].item()

    cli.model.hparams.test_decoding = "greedy"
    cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path="best", verbose=False)
    greedy = cli.trainer.callback_metrics["test/exact_match"].item()
    print(f"\nreverse task: test exact match beam {beam:.4f}, greedy {greedy:.4f}; fit + test {seconds:.0f} s")
    assert beam >= 0.99
    assert greedy >= 0.98
