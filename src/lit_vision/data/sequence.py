"""Sequence-to-sequence data: seeded synthetic tasks (copy, reverse, sort, addition) and parallel text files.

Batches are dicts ``{"src": (B, S), "tgt": (B, T)}`` of token ids padded with ``pad_id`` to the longest sequence in the
batch; ``tgt`` is ``bos y eos`` (the model feeds ``tgt[:, :-1]`` and predicts ``tgt[:, 1:]``), ``src`` is ``x`` alone.
The vocabulary is known when the DataModule is constructed, so the CLI can link ``src_vocab_size``, ``tgt_vocab_size``
and the special ids into the model.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lit_vision.data.checks import check_positive

__all__ = ["SPECIAL_TOKENS", "SYNTHETIC_TASKS", "PairDataset", "SequenceDataModule", "Vocabulary", "tokenize"]

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
SYNTHETIC_TASKS = ("copy", "reverse", "sort", "addition")
SPLITS = ("train", "val", "test")
SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"

Task = Literal["copy", "reverse", "sort", "addition", "text"]
Tokenization = Literal["whitespace", "char"]


def tokenize(text: str, tokenization: Tokenization) -> list[str]:
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


class PairDataset(Dataset):
    """(source ids, target ids) pairs; the target gets bos/eos added here."""

    def __init__(self, sources: list[list[int]], targets: list[list[int]] | None, bos_id: int, eos_id: int) -> None:
        self.sources = [torch.tensor(s, dtype=torch.long) for s in sources]
        self.targets = None if targets is None else [torch.tensor([bos_id, *t, eos_id]) for t in targets]

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


# --- parallel text -------------------------------------------------------------------------------------------------
def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"text file {str(path)!r} does not exist; check --data.init_args.text_path")
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise ValueError(f"{path}: line {number} is empty; every line must hold a sentence (remove the pair)")
    if not lines:
        raise ValueError(f"{path} is empty; it must hold one sentence per line")
    return lines


def _read_tsv(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(_read_lines(path), 1):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise ValueError(
                f"{path}: line {number} has {len(fields)} tab-separated fields (or an empty one); "
                "each line must be 'source<TAB>target'"
            )
        pairs.append((fields[0], fields[1]))
    return pairs


def _read_aligned(source_path: Path, target_path: Path) -> list[tuple[str, str]]:
    sources, targets = _read_lines(source_path), _read_lines(target_path)
    if len(sources) != len(targets):
        raise ValueError(
            f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}; "
            "source and target files must be aligned line by line"
        )
    return list(zip(sources, targets))


class SequenceDataModule(L.LightningDataModule):
    """Seq2seq batches from a synthetic task or from parallel text.

    ``task`` = copy | reverse | sort (random strings of ``min_length``..``max_length`` symbols out of ``num_symbols``), addition
    (``a+b`` -> ``a+b``'s sum, operands of ``min_length``..``max_length`` digits), each split drawn from its own seeded stream
    with ``train_size``/``val_size``/``test_size`` pairs; or ``text``: ``text_path`` is a TSV file (``source<TAB>target``
    per line) or a directory with ``train.{src_ext}``/``train.{tgt_ext}`` (or ``train.tsv``) and the same for ``val`` and
    ``test``. Missing val/test files are held out of the training pairs (``val_size``/``test_size`` of them, seeded).
    The vocabulary comes from the training split alone. Synthetic tasks use one character vocabulary for both sides.
    ``predict_path`` holds source lines to decode with ``lit-vision predict`` (default: the test split).
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
        predict_path: str | None = None,
        batch_size: int = 64,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        check_positive(batch_size=batch_size, train_size=train_size, min_length=min_length, min_freq=min_freq)
        if task not in (*SYNTHETIC_TASKS, "text"):
            raise ValueError(f"task={task!r} is not supported; choose one of {[*SYNTHETIC_TASKS, 'text']}")
        if tokenization not in ("whitespace", "char"):
            raise ValueError(f"tokenization={tokenization!r} is not supported; choose 'whitespace' or 'char'")
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
        self.batch_size = batch_size
        self.tokenization: Tokenization = "char" if task in SYNTHETIC_TASKS else tokenization
        self._pairs: dict[str, list[tuple[str, str]]] | None = None
        self._vocabs: tuple[Vocabulary, Vocabulary] | None = None
        self.splits: dict[str, PairDataset] = {}

    # --- vocabulary (read on first use: the CLI links the sizes right after construction) ------------------------------
    @property
    def src_vocab(self) -> Vocabulary:
        return self._vocabularies()[0]

    @property
    def tgt_vocab(self) -> Vocabulary:
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

    def _vocabularies(self) -> tuple[Vocabulary, Vocabulary]:
        if self._vocabs is None:
            train = self.pairs()["train"]
            hp = self.hparams
            if hp.task in SYNTHETIC_TASKS:
                symbols = SYMBOLS[: 10 if hp.task == "addition" else hp.num_symbols] + (
                    "+" if hp.task == "addition" else ""
                )
                vocab = Vocabulary(symbols)
                self._vocabs = (vocab, vocab)
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
                self._pairs = self._read_text(Path(hp.text_path), sizes)
        return self._pairs

    def _read_text(self, path: Path, sizes: dict[str, int]) -> dict[str, list[tuple[str, str]]]:
        hp = self.hparams
        found: dict[str, list[tuple[str, str]]] = {}
        if path.is_file():
            found["train"] = _read_tsv(path)
        else:
            for split in SPLITS:
                tsv, src, tgt = (path / f"{split}.{ext}" for ext in ("tsv", hp.src_ext, hp.tgt_ext))
                if tsv.is_file():
                    found[split] = _read_tsv(tsv)
                elif src.is_file() or tgt.is_file():
                    found[split] = _read_aligned(src, tgt)
            if "train" not in found:
                raise FileNotFoundError(
                    f"{path} holds neither train.{hp.src_ext} + train.{hp.tgt_ext} nor train.tsv; "
                    "add the training files or point text_path at a TSV file"
                )
        held_out = [split for split in ("val", "test") if split not in found]
        need = sum(sizes[split] for split in held_out)
        if held_out and need >= len(found["train"]):
            raise ValueError(
                f"holding out {need} pairs for {'/'.join(held_out)} leaves no training pairs out of "
                f"{len(found['train'])}; lower val_size/test_size or provide val/test files"
            )
        if held_out:
            train = list(found["train"])
            random.Random(hp.seed).shuffle(train)
            for split in held_out:
                found[split], train = train[: sizes[split]], train[sizes[split] :]
            found["train"] = train
        return found

    # --- encoding / decoding ----------------------------------------------------------------------------------------
    def encode(self, text: str, side: Literal["src", "tgt"] = "src") -> list[int]:
        vocab = self.src_vocab if side == "src" else self.tgt_vocab
        return vocab.encode(tokenize(text, self.tokenization))

    def decode(self, ids: Iterable[int] | Tensor, side: Literal["src", "tgt"] = "tgt") -> str:
        """Text of token ids up to the first eos (padding and bos dropped)."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        tokens = (self.src_vocab if side == "src" else self.tgt_vocab).decode(ids)
        return ("" if self.tokenization == "char" else " ").join(tokens)

    def _dataset(self, pairs: list[tuple[str, str]]) -> PairDataset:
        sources = [self.encode(s, "src") for s, _ in pairs]
        targets = [self.encode(t, "tgt") for _, t in pairs]
        return PairDataset(sources, targets, self.bos_id, self.eos_id)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.splits = {split: self._dataset(pairs) for split, pairs in self.pairs().items()}
        if self.hparams.predict_path is not None:
            lines = _read_lines(Path(self.hparams.predict_path))
            self.splits["predict"] = PairDataset([self.encode(line) for line in lines], None, self.bos_id, self.eos_id)
        else:
            self.splits["predict"] = self.splits["test"]

    # --- loaders --------------------------------------------------------------------------------------------------
    def collate(self, items: list[tuple[Tensor, Tensor | None]]) -> dict[str, Tensor]:
        sources, targets = zip(*items)
        batch = {"src": pad_batch(sources, self.pad_id)}
        if targets[0] is not None:
            batch["tgt"] = pad_batch(targets, self.pad_id)
        return batch

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if not len(self.splits[split]):
            raise ValueError(f"the {split} split is empty; raise --data.init_args.{split}_size or add {split} files")
        return DataLoader(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=self.collate,
            num_workers=self.hparams.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", shuffle=False)
