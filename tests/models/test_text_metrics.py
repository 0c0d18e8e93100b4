import pytest
import sacrebleu
import torch

from lit_vision.models.text_metrics import SacreBLEU

HYPOTHESES = ["The cat sat on the mat.", "Hello, world!", "a quick brown fox", "nothing matches", "It's 3.5 km away."]
REFERENCES = ["The cat sat on a mat.", "Hello world!", "the quick brown fox jumps", "at all", "It is 3.5 km away."]


def test_sacrebleu_over_batches_equals_sacrebleu_on_the_corpus():
    metric = SacreBLEU()
    metric.update(HYPOTHESES[:2], REFERENCES[:2])
    metric.update(HYPOTHESES[2:], REFERENCES[2:])
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES])  # tokenize 13a, exp smoothing: the defaults
    assert metric.compute().item() == pytest.approx(expected.score, abs=1e-4)
    assert "tok:13a" in metric.signature() and "smooth:exp" in metric.signature()
    metric.reset()
    metric.update(REFERENCES, REFERENCES)
    assert metric.compute().item() == pytest.approx(100.0)


def test_sacrebleu_states_add_up_like_ranks():
    # torchmetrics sums the states over DDP ranks: two metrics merged equal one that saw everything
    first, second, whole = SacreBLEU(), SacreBLEU(), SacreBLEU()
    first.update(HYPOTHESES[:3], REFERENCES[:3])
    second.update(HYPOTHESES[3:], REFERENCES[3:])
    whole.update(HYPOTHESES, REFERENCES)
    for name in ("correct", "total", "sys_len", "ref_len"):
        torch.testing.assert_close(getattr(first, name) + getattr(second, name), getattr(whole, name))
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        whole.update(["a", "b"], ["a"])
