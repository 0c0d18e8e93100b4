"""Parallel text on disk: one TSV file (``source<TAB>target`` per line) or aligned ``{split}.{src_ext}`` /
``{split}.{tgt_ext}`` files (or ``{split}.tsv``) in a directory, with val/test held out of train when missing."""

from __future__ import annotations

import random
from pathlib import Path

__all__ = ["SPLITS", "read_lines", "read_parallel_text"]

SPLITS = ("train", "val", "test")


def read_lines(path: Path) -> list[str]:
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
    for number, line in enumerate(read_lines(path), 1):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise ValueError(
                f"{path}: line {number} has {len(fields)} tab-separated fields (or an empty one); "
                "each line must be 'source<TAB>target'"
            )
        pairs.append((fields[0], fields[1]))
    return pairs


def _read_aligned(source_path: Path, target_path: Path) -> list[tuple[str, str]]:
    sources, targets = read_lines(source_path), read_lines(target_path)
    if len(sources) != len(targets):
        raise ValueError(
            f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}; "
            "source and target files must be aligned line by line"
        )
    return list(zip(sources, targets))


def read_parallel_text(
    path: Path, sizes: dict[str, int], src_ext: str = "src", tgt_ext: str = "tgt", seed: int = 0
) -> dict[str, list[tuple[str, str]]]:
    """(source, target) pairs of every split; a missing val/test split takes ``sizes[split]`` seeded training pairs."""
    found: dict[str, list[tuple[str, str]]] = {}
    if path.is_file():
        found["train"] = _read_tsv(path)
    else:
        for split in SPLITS:
            tsv, src, tgt = (path / f"{split}.{ext}" for ext in ("tsv", src_ext, tgt_ext))
            if tsv.is_file():
                found[split] = _read_tsv(tsv)
            elif src.is_file() or tgt.is_file():
                found[split] = _read_aligned(src, tgt)
        if "train" not in found:
            raise FileNotFoundError(
                f"{path} holds neither train.{src_ext} + train.{tgt_ext} nor train.tsv; "
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
        random.Random(seed).shuffle(train)
        for split in held_out:
            found[split], train = train[: sizes[split]], train[sizes[split] :]
        found["train"] = train
    return found
