"""SacreBLEU as a torchmetrics ``Metric``: corpus BLEU on detokenized text, comparable with published numbers.

Each update scores its sentences with ``sacrebleu`` itself (tokenize 13a, mixed case, one reference) and keeps only
the corpus statistics (matching and total n-grams, hypothesis and reference lengths), which add up over batches and
DDP ranks; ``compute`` turns the sums into BLEU with sacrebleu's default exponential smoothing. The result equals
``sacrebleu.corpus_bleu(hypotheses, [references]).score`` (0-100) on the whole corpus.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sacrebleu.metrics import BLEU
from torch import Tensor
from torchmetrics import Metric

__all__ = ["SacreBLEU"]


class SacreBLEU(Metric):
    """Corpus SacreBLEU (0-100) of detokenized hypotheses against one reference each.

    Args:
        tokenize: sacrebleu's tokenizer applied to both sides ("13a" as WMT and the sacrebleu default).
        lowercase: compare lowercased text.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, tokenize: str = "13a", lowercase: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bleu = BLEU(tokenize=tokenize, lowercase=lowercase)
        order = self.bleu.max_ngram_order
        self.add_state("correct", torch.zeros(order, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(order, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sys_len", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("ref_len", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def signature(self) -> str:
        """sacrebleu's signature of this BLEU, e.g. ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``."""
        return str(self.bleu.get_signature())

    def update(self, hypotheses: Sequence[str], references: Sequence[str]) -> None:
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references; pass one per hypothesis")
        if not hypotheses:
            return
        score = self.bleu.corpus_score(list(hypotheses), [list(references)])
        self.correct += torch.tensor(score.counts, dtype=torch.float64, device=self.correct.device)
        self.total += torch.tensor(score.totals, dtype=torch.float64, device=self.total.device)
        self.sys_len += score.sys_len
        self.ref_len += score.ref_len

    def compute(self) -> Tensor:
        score = BLEU.compute_bleu(
            [int(c) for c in self.correct.tolist()],
            [int(t) for t in self.total.tolist()],
            int(self.sys_len.item()),
            int(self.ref_len.item()),
            smooth_method="exp",
        )
        return torch.tensor(score.score, dtype=torch.float32)
