"""Subword tokenization: byte-level BPE from Hugging Face ``tokenizers``, one vocabulary shared by source and target.

``BPETokenizer.train`` learns the merges from the training split's source and target lines; ``from_file`` loads a
``tokenizer.json`` (this class's own or any BPE ``tokenizers`` file holding our four special tokens). The special
tokens ``<pad>`` ``<bos>`` ``<eos>`` ``<unk>`` take ids 0-3 as in ``Vocabulary``. Text round-trips exactly
(``decode(encode(text)) == text``) for every text that does not begin with whitespace: the byte alphabet covers any
character, and the one space the pre-tokenizer puts before the first word is taken off again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

__all__ = ["BPETokenizer"]

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")


class BPETokenizer:
    """A shared byte-level BPE vocabulary with the ``Vocabulary`` interface the DataModule and model use
    (``len``, ``pad_id``/``bos_id``/``eos_id``/``unk_id``), encoding text to ids and decoding ids to text."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        ids = [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
        if ids != [0, 1, 2, 3]:
            found = dict(zip(SPECIAL_TOKENS, ids))
            raise ValueError(
                f"the tokenizer's special token ids are {found}; lit-vision needs <pad> <bos> <eos> <unk> as ids "
                "0-3 (train it with tokenization='bpe' and no tokenizer_path)"
            )
        self.tokenizer = tokenizer
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = ids

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> BPETokenizer:
        """Learn merges on ``texts`` until ``vocab_size`` tokens (the 256 bytes and 4 specials included) or no pair is
        seen ``min_frequency`` times any more."""
        if vocab_size < 260:
            raise ValueError(f"vocab_size={vocab_size} must be >= 260 (256 byte tokens + 4 special tokens)")
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer)
        return cls(tokenizer)

    @classmethod
    def from_file(cls, path: str | Path) -> BPETokenizer:
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"tokenizer_path={str(path)!r} does not exist; pass a tokenizer.json (a run writes one into its "
                "log directory) or leave tokenizer_path unset to train one on the training split"
            )
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as error:  # tokenizers raises its own exception type for malformed files
            if isinstance(error, ValueError) and "special token ids" in str(error):
                raise
            raise ValueError(f"tokenizer_path={str(path)!r} is not a tokenizers JSON file ({error})") from None

    @classmethod
    def from_str(cls, json: str) -> BPETokenizer:
        return cls(Tokenizer.from_str(json))

    def to_str(self) -> str:
        return self.tokenizer.to_str()

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(path))

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BPETokenizer) and self.to_str() == other.to_str()

    __hash__ = None  # mutable wrapper: compared by content

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def tokens(self, text: str) -> list[str]:
        """The subword strings of ``text`` (``Ġ`` marks a preceding space)."""
        return self.tokenizer.encode(text).tokens

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ids up to the first eos (padding and bos dropped)."""
        kept = []
        for i in ids:
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                kept.append(i)
        text = self.tokenizer.decode(kept, skip_special_tokens=False)
        return text[1:] if text.startswith(" ") else text
