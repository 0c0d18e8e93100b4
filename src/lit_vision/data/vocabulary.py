"""Word and character vocabularies (tokenization ``whitespace`` / ``char``) with the special tokens first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["SPECIAL_TOKENS", "Vocabulary", "tokenize"]

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")


def tokenize(text: str, tokenization: str) -> list[str]:
    """Words (``whitespace``) or characters (``char``) of ``text``."""
    return text.split() if tokenization == "whitespace" else list(text)


class Vocabulary:
    """Token <-> id map with the special tokens first: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.itos = list(SPECIAL_TOKENS) + [t for t in dict.fromkeys(tokens) if t not in SPECIAL_TOKENS]
        self.stoi = {token: i for i, token in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = (self.stoi[t] for t in SPECIAL_TOKENS)

    @classmethod
    def build(cls, sentences: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> Vocabulary:
        """Most frequent tokens first (ties alphabetical), those seen fewer than ``min_freq`` times left out."""
        counts = Counter(token for sentence in sentences for token in sentence)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(SPECIAL_TOKENS))]
        return cls(ranked)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.stoi.get(token, self.unk_id) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to the first eos; padding and bos are dropped."""
        tokens = []
        for i in ids:
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                tokens.append(self.itos[i] if 0 <= i < len(self.itos) else SPECIAL_TOKENS[3])
        return tokens
