"""Sequence-to-sequence data: seeded synthetic tasks (copy, reverse, sort, addition) and parallel text files.

Parallel text is tokenized by whitespace, characters or a shared byte-level BPE (``data.tokenizer``); training batches
hold ``batch_size`` pairs or, with ``max_tokens``, as many pairs of similar length as fit (``data.token_batching``).
Either training order is sharded over DDP ranks and resumes mid-epoch from a checkpoint, which also carries the BPE
tokenizer (``state_dict``); a fitting run also writes it to ``<run dir>/tokenizer.json``.

Batches are dicts ``{"src": (B, S), "tgt": (B, T)}`` of token ids padded with ``pad_id`` to the longest sequence in the
batch; ``tgt`` is ``bos y eos`` (the model feeds ``tgt[:, :-1]`` and predicts ``tgt[:, 1:]``), ``src`` is ``x`` alone.
The vocabulary is known when the DataModule is constructed, so the CLI can link ``src_vocab_size``, ``tgt_vocab_size``
and the special ids into the model.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lit_vision.data.checks import check_positive
from lit_vision.data.parallel_text import SPLITS, read_lines, read_parallel_text
from lit_vision.data.sampling import ResumableDataModule
from lit_vision.data.token_batching import TokenTrainingOrder
from lit_vision.data.tokenizer import BPETokenizer
from lit_vision.data.vocabulary import SPECIAL_TOKENS, Vocabulary, tokenize

__all__ = ["SPECIAL_TOKENS", "SYNTHETIC_TASKS", "PairDataset", "SequenceDataModule", "Vocabulary", "tokenize"]

SYNTHETIC_TASKS = ("copy", "reverse", "sort", "addition")
SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"

Task = Literal["copy", "reverse", "sort", "addition", "text"]
Tokenization = Literal["whitespace", "char", "bpe"]


class PackedSequences:
    """Token id sequences in one flat int32 array with offsets (a few bytes per token, none per sequence object)."""

    def __init__(self, sequences: list[list[int]]) -> None:
        self.lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.ids = np.fromiter((i for s in sequences for i in s), dtype=np.int32, count=int(self.offsets[-1]))

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> Tensor:
        return torch.from_numpy(self.ids[self.offsets[index] : self.offsets[index + 1]]).long()


class PairDataset(Dataset):
    """(source ids, target ids) pairs; the target gets bos/eos added here."""

    def __init__(self, sources: list[list[int]], targets: list[list[int]] | None, bos_id: int, eos_id: int) -> None:
        self.sources = PackedSequences(sources)
        self.targets = None if targets is None else PackedSequences([[bos_id, *t, eos_id] for t in targets])

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor | None]:
        return self.sources[index], None if self.targets is None else self.targets[index]


def pad_batch(sequences: Sequence[Tensor], pad_id: int) -> Tensor:
    return torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=pad_id)


# --- synthetic tasks ---------------------------------------------------------------------------------------------------
def _random_number(rng: random.Random, min_digits: int, max_digits: int) -> int:
    """A number of min_digits..max_digits digits, without leading zeros."""
    digits = rng.randint(min_digits, max_digits)
    return rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)


def _synthetic_pair(
    task: str, rng: random.Random, min_length: int, max_length: int, num_symbols: int
) -> tuple[str, str]:
    if task == "addition":
        a, b = _random_number(rng, min_length, max_length), _random_number(rng, min_length, max_length)
        return f"{a}+{b}", str(a + b)
    source = "".join(rng.choice(SYMBOLS[:num_symbols]) for _ in range(rng.randint(min_length, max_length)))
    target = {"copy": source, "reverse": source[::-1], "sort": "".join(sorted(source))}[task]
    return source, target


def synthetic_splits(
    task: str, sizes: dict[str, int], min_length: int, max_length: int, num_symbols: int, seed: int
) -> dict[str, list[tuple[str, str]]]:
    """Each split from its own seeded stream; val and test hold no source seen in an earlier split (while possible)."""
    seen: set[str] = set()
    splits = {}
    for index, split in enumerate(SPLITS):
        rng = random.Random(seed * 1000 + index)
        pairs, attempts = [], 0
        while len(pairs) < sizes[split]:
            source, target = _synthetic_pair(task, rng, min_length, max_length, num_symbols)
            attempts += 1
            if split == "train" or source not in seen or attempts > 20 * sizes[split]:
                pairs.append((source, target))
        seen.update(source for source, _ in pairs)
        splits[split] = pairs
    return splits


class SequenceDataModule(ResumableDataModule):
    """Seq2seq batches from a synthetic task or from parallel text.

    ``task`` = copy | reverse | sort (random strings of ``min_length``..``max_length`` symbols out of ``num_symbols``), addition
    (``a+b`` -> ``a+b``'s sum, operands of ``min_length``..``max_length`` digits), each split drawn from its own seeded stream
    with ``train_size``/``val_size``/``test_size`` pairs; or ``text``: ``text_path`` is a TSV file (``source<TAB>target``
    per line) or a directory with ``train.{src_ext}``/``train.{tgt_ext}`` (or ``train.tsv``) and the same for ``val`` and
    ``test``. Missing val/test files are held out of the training pairs (``val_size``/``test_size`` of them, seeded).
    The vocabulary comes from the training split alone. Synthetic tasks use one character vocabulary for both sides.
    ``predict_path`` holds source lines to decode with ``lit-vision predict`` (default: the test split).

    Args:
        task: copy, reverse, sort or addition (synthetic, character tokens), or text (read from text_path).
        min_length: shortest synthetic string (addition: fewest digits of an operand).
        max_length: longest synthetic string (addition: most digits of an operand).
        num_symbols: alphabet size of the copy/reverse/sort strings (digits, then letters).
        train_size: synthetic training pairs.
        val_size: validation pairs (synthetic, or held out of train when there is no val file).
        test_size: test pairs (synthetic, or held out of train when there is no test file).
        text_path: parallel text for task=text: a TSV file or a directory of {split}.{src_ext}/{split}.{tgt_ext} files.
        src_ext: file extension of the source side, e.g. en.
        tgt_ext: file extension of the target side, e.g. de.
        tokenization: whitespace or char (word/character vocabularies), or bpe (shared byte-level BPE subwords).
        shared_vocab: one whitespace/char vocabulary for both sides (bpe is always shared).
        min_freq: whitespace/char: tokens seen fewer times are <unk>; bpe: pairs seen fewer times are not merged.
        max_vocab_size: whitespace/char: keep at most this many tokens per vocabulary (None: all).
        vocab_size: bpe: size of the shared vocabulary learnt on the training split (256 bytes + 4 specials + merges).
        tokenizer_path: bpe: load this tokenizer.json instead of training one (e.g. a run's own tokenizer.json).
        max_tokens: training batches of similar-length pairs with at most this many padded tokens per side (None:
            batch_size pairs); the paper used about 25000 per step.
        max_pair_length: drop training pairs with more tokens than this on either side (None: keep all).
        predict_path: file of source lines that `lit-vision predict` translates (None: the test split).
        batch_size: pairs per batch (training without max_tokens, and always for val/test/predict).
        seed: seed of the synthetic data and of the held-out val/test pairs.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        task: Task = "reverse",
        min_length: int = 4,
        max_length: int = 16,
        num_symbols: int = 10,
        train_size: int = 10000,
        val_size: int = 500,
        test_size: int = 500,
        text_path: str | None = None,
        src_ext: str = "src",
        tgt_ext: str = "tgt",
        tokenization: Tokenization = "whitespace",
        shared_vocab: bool = False,
        min_freq: int = 1,
        max_vocab_size: int | None = None,
        vocab_size: int = 8000,
        tokenizer_path: str | None = None,
        max_tokens: int | None = None,
        max_pair_length: int | None = None,
        predict_path: str | None = None,
        batch_size: int = 64,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        check_positive(batch_size=batch_size, train_size=train_size, min_length=min_length, min_freq=min_freq)
        if task not in (*SYNTHETIC_TASKS, "text"):
            raise ValueError(f"task={task!r} is not supported; choose one of {[*SYNTHETIC_TASKS, 'text']}")
        if tokenization not in ("whitespace", "char", "bpe"):
            raise ValueError(f"tokenization={tokenization!r} is not supported; choose 'whitespace', 'char' or 'bpe'")
        if tokenization == "bpe" and vocab_size < 260:
            raise ValueError(f"vocab_size={vocab_size} must be >= 260 (256 byte tokens + 4 special tokens)")
        if tokenizer_path is not None:
            if tokenization != "bpe":
                raise ValueError(f"tokenizer_path is set but tokenization={tokenization!r}; set tokenization: bpe")
            if not Path(tokenizer_path).is_file():
                raise FileNotFoundError(
                    f"tokenizer_path={tokenizer_path!r} does not exist; pass a tokenizer.json (a run writes one into "
                    "its log directory) or leave it unset to train one on the training split"
                )
        for name, value in (("max_tokens", max_tokens), ("max_pair_length", max_pair_length)):
            if value is not None and value < 1:
                raise ValueError(f"{name}={value} must be a positive number of tokens (or null for no limit)")
        if max_length < min_length:
            raise ValueError(f"max_length={max_length} must be >= min_length={min_length}")
        if not 1 <= num_symbols <= len(SYMBOLS):
            raise ValueError(f"num_symbols={num_symbols} must lie in [1, {len(SYMBOLS)}]")
        if val_size < 0 or test_size < 0:
            raise ValueError(f"val_size={val_size} and test_size={test_size} must be >= 0")
        if task == "text":
            if text_path is None:
                raise ValueError("task='text' needs text_path: pass --data.init_args.text_path <file.tsv or directory>")
            if not Path(text_path).exists():
                raise FileNotFoundError(
                    f"text_path={text_path!r} does not exist; pass a TSV file or a directory holding train.{src_ext} "
                    f"and train.{tgt_ext} (or train.tsv)"
                )
        elif text_path is not None:
            raise ValueError(f"text_path is set but task={task!r}; set --data.init_args.task text to read it")
        if predict_path is not None and not Path(predict_path).is_file():
            raise FileNotFoundError(f"predict_path={predict_path!r} does not exist; pass a file of source lines")
        self.save_hyperparameters()
        self.training_order = TokenTrainingOrder()
        self.batch_size = batch_size
        self.tokenization: Tokenization = "char" if task in SYNTHETIC_TASKS else tokenization
        self._pairs: dict[str, list[tuple[str, str]]] | None = None
        self._vocabs: tuple[Vocabulary | BPETokenizer, Vocabulary | BPETokenizer] | None = None
        self._tokenizer_trained = False
        self.splits: dict[str, PairDataset] = {}

    # --- vocabulary (read on first use: the CLI links the sizes right after construction) ------------------------------
    @property
    def src_vocab(self) -> Vocabulary | BPETokenizer:
        return self._vocabularies()[0]

    @property
    def tgt_vocab(self) -> Vocabulary | BPETokenizer:
        return self._vocabularies()[1]

    @property
    def src_vocab_size(self) -> int:
        return len(self.src_vocab)

    @property
    def tgt_vocab_size(self) -> int:
        return len(self.tgt_vocab)

    @property
    def pad_id(self) -> int:
        return self.tgt_vocab.pad_id

    @property
    def bos_id(self) -> int:
        return self.tgt_vocab.bos_id

    @property
    def eos_id(self) -> int:
        return self.tgt_vocab.eos_id

    @property
    def tokenizer(self) -> BPETokenizer | None:
        """The shared BPE tokenizer (tokenization='bpe'), else None."""
        return self.src_vocab if isinstance(self.src_vocab, BPETokenizer) else None

    def _vocabularies(self) -> tuple[Vocabulary | BPETokenizer, Vocabulary | BPETokenizer]:
        if self._vocabs is None:
            train = self.pairs()["train"]
            hp = self.hparams
            if hp.task in SYNTHETIC_TASKS:
                symbols = SYMBOLS[: 10 if hp.task == "addition" else hp.num_symbols] + (
                    "+" if hp.task == "addition" else ""
                )
                vocab = Vocabulary(symbols)
                self._vocabs = (vocab, vocab)
            elif self.tokenization == "bpe":
                if hp.tokenizer_path is not None:
                    tokenizer = BPETokenizer.from_file(hp.tokenizer_path)
                else:
                    texts = (text for pair in train for text in pair)
                    tokenizer = BPETokenizer.train(texts, hp.vocab_size, hp.min_freq)
                    self._tokenizer_trained = True
                self._vocabs = (tokenizer, tokenizer)
            else:
                src = [tokenize(s, self.tokenization) for s, _ in train]
                tgt = [tokenize(t, self.tokenization) for _, t in train]
                if hp.shared_vocab:
                    vocab = Vocabulary.build(src + tgt, hp.min_freq, hp.max_vocab_size)
                    self._vocabs = (vocab, vocab)
                else:
                    self._vocabs = (
                        Vocabulary.build(src, hp.min_freq, hp.max_vocab_size),
                        Vocabulary.build(tgt, hp.min_freq, hp.max_vocab_size),
                    )
        return self._vocabs

    # --- raw pairs ------------------------------------------------------------------------------------------------
    def pairs(self) -> dict[str, list[tuple[str, str]]]:
        """Text pairs of every split (drawn or read once)."""
        if self._pairs is None:
            hp = self.hparams
            sizes = {"train": hp.train_size, "val": hp.val_size, "test": hp.test_size}
            if hp.task in SYNTHETIC_TASKS:
                self._pairs = synthetic_splits(hp.task, sizes, hp.min_length, hp.max_length, hp.num_symbols, hp.seed)
            else:
                self._pairs = read_parallel_text(Path(hp.text_path), sizes, hp.src_ext, hp.tgt_ext, hp.seed)
        return self._pairs

    # --- encoding / decoding ----------------------------------------------------------------------------------------
    def encode(self, text: str, side: Literal["src", "tgt"] = "src") -> list[int]:
        vocab = self.src_vocab if side == "src" else self.tgt_vocab
        if isinstance(vocab, BPETokenizer):
            return vocab.encode(text)
        return vocab.encode(tokenize(text, self.tokenization))

    def decode(self, ids: Iterable[int] | Tensor, side: Literal["src", "tgt"] = "tgt") -> str:
        """Text of token ids up to the first eos (padding and bos dropped); BPE ids decode to detokenized text."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        vocab = self.src_vocab if side == "src" else self.tgt_vocab
        if isinstance(vocab, BPETokenizer):
            return vocab.decode(ids)
        return ("" if self.tokenization == "char" else " ").join(vocab.decode(ids))

    def _encode_all(self, texts: list[str], side: Literal["src", "tgt"]) -> list[list[int]]:
        tokenizer = self.tokenizer
        return tokenizer.encode_batch(texts) if tokenizer is not None else [self.encode(t, side) for t in texts]

    def _dataset(self, pairs: list[tuple[str, str]], max_pair_length: int | None = None) -> PairDataset:
        sources = self._encode_all([s for s, _ in pairs], "src")
        targets = self._encode_all([t for _, t in pairs], "tgt")
        if max_pair_length is not None:  # the target also holds bos and eos
            kept = [i for i, (s, t) in enumerate(zip(sources, targets)) if max(len(s), len(t) + 2) <= max_pair_length]
            if not kept:
                raise ValueError(f"max_pair_length={max_pair_length} drops every training pair; raise it")
            sources, targets = [sources[i] for i in kept], [targets[i] for i in kept]
        return PairDataset(sources, targets, self.bos_id, self.eos_id)

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = {
                split: self._dataset(pairs, self.hparams.max_pair_length if split == "train" else None)
                for split, pairs in self.pairs().items()
            }
            if self.hparams.predict_path is not None:
                lines = read_lines(Path(self.hparams.predict_path))
                sources = self._encode_all(lines, "src")
                self.splits["predict"] = PairDataset(sources, None, self.bos_id, self.eos_id)
            else:
                self.splits["predict"] = self.splits["test"]
        if stage == "fit" and self._tokenizer_trained:
            self.save_tokenizer()

    def save_tokenizer(self, path: str | Path | None = None) -> Path | None:
        """Write the BPE tokenizer to ``path`` (default: ``<run dir>/tokenizer.json``, beside ``checkpoints/``)."""
        if self.tokenizer is None:
            return None
        trainer = self.trainer
        if path is None:
            if trainer is None or trainer.logger is None or trainer.fast_dev_run:
                return None  # no run directory: the checkpoints still carry the tokenizer
            from lit_vision.callbacks.save_config import run_dir

            path = Path(run_dir(trainer)) / "tokenizer.json"
        if trainer is None or trainer.is_global_zero:
            self.tokenizer.save(path)
        return Path(path)

    # --- checkpoints: the training order and the tokenizer ------------------------------------------------------------
    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.tokenizer is not None:
            state["tokenizer"] = self.tokenizer.to_str()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        saved = state_dict.get("tokenizer")
        if saved is None or self.tokenization != "bpe":
            return
        tokenizer = BPETokenizer.from_str(saved)
        if tokenizer == self.tokenizer:
            return
        if len(tokenizer) != len(self.tokenizer):
            raise ValueError(
                f"the checkpoint's tokenizer has {len(tokenizer)} tokens but this run's has {len(self.tokenizer)}; "
                "pass the run's own --data.init_args.tokenizer_path <run dir>/tokenizer.json"
            )
        self._vocabs = (tokenizer, tokenizer)  # same size, other merges: encode the data again with the saved one
        self.splits = {}
        self.setup()

    # --- loaders --------------------------------------------------------------------------------------------------
    def collate(self, items: list[tuple[Tensor, Tensor | None]]) -> dict[str, Tensor]:
        sources, targets = zip(*items)
        batch = {"src": pad_batch(sources, self.pad_id)}
        if targets[0] is not None:
            batch["tgt"] = pad_batch(targets, self.pad_id)
        return batch

    def _check_split(self, split: str) -> PairDataset:
        if not self.splits:
            self.setup()
        if not len(self.splits[split]):
            raise ValueError(f"the {split} split is empty; raise --data.init_args.{split}_size or add {split} files")
        return self.splits[split]

    def _loader(self, split: str) -> DataLoader:
        return DataLoader(
            self._check_split(split),
            batch_size=self.batch_size,
            shuffle=False,
            collate_fn=self.collate,
            num_workers=self.hparams.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled, sharded over the trainer's processes and resumable mid-epoch: ``batch_size`` pairs per batch, or
        similar-length pairs up to ``max_tokens`` padded tokens per side."""
        dataset, hp = self._check_split("train"), self.hparams
        if hp.max_tokens is None:
            return self.training_order.loader(
                dataset, self.batch_size, self.trainer, collate_fn=self.collate, num_workers=hp.num_workers
            )
        sizes = np.maximum(dataset.sources.lengths, dataset.targets.lengths - 1)  # target: bos y | y eos
        longest = int(sizes.max())
        if longest > hp.max_tokens:
            raise ValueError(
                f"a training pair has {longest} tokens, more than max_tokens={hp.max_tokens}; raise max_tokens or "
                "drop long pairs with max_pair_length"
            )
        return self.training_order.token_loader(
            dataset, sizes, hp.max_tokens, self.collate, self.trainer, num_workers=hp.num_workers
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")
