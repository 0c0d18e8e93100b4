"""A generated toy language pair with morphology, where subwords help: every word is a stem plus an inflection.

Source words are ``stem + suffix`` ("English-like": nouns ``-`` / ``-s``, verbs ``-s`` / ``-ed`` / ``-ing``); each
translates word by word into the target's cognate stem (the source stem after a fixed consonant shift) and its own
suffix for the same inflection (``-a`` / ``-ani``, ``-et`` / ``-ovat`` / ``-ujem``). The training split never shows one inflection of each stem, which the val and test
sentences use: a word vocabulary has never seen those forms (``<unk>``), a BPE vocabulary composes them from a known
stem and a known suffix.
"""

from __future__ import annotations

import random
from pathlib import Path

SOURCE_SUFFIXES = {"noun": ["", "s"], "verb": ["s", "ed", "ing"]}
TARGET_SUFFIXES = {"noun": ["a", "ani"], "verb": ["et", "ovat", "ujem"]}


SOUND_SHIFT = str.maketrans("bdfgklmnprt", "ptvkxrnmbls")  # the target's stems are the source's, shifted


def make_lexicon(seed: int = 0, nouns: int = 30, verbs: int = 20) -> dict[str, list[tuple[str, str]]]:
    """(source stem, target stem) pairs per word class: random syllable strings and their sound-shifted cognates."""
    rng = random.Random(seed)
    taken: set[str] = set()
    lexicon = {}
    for kind, count in (("noun", nouns), ("verb", verbs)):
        stems = []
        while len(stems) < count:
            stem = "".join(rng.choice("bdfgklmnprt") + rng.choice("aeiou") for _ in range(rng.randint(2, 3)))
            if stem not in taken:
                taken.add(stem)
                stems.append((stem, stem.translate(SOUND_SHIFT)))
        lexicon[kind] = stems
    return lexicon


def write_morphology_corpus(root: Path, sizes: dict[str, int] | None = None, seed: int = 0) -> Path:
    """``root/{split}.src`` / ``.tgt``: sentences of 3-6 words (noun verb noun ...); train holds no held-out form."""
    sizes = sizes or {"train": 3000, "val": 100, "test": 200}
    lexicon = make_lexicon(seed)
    rng = random.Random(seed + 1)
    held_out = {
        (kind, stem): rng.randrange(len(SOURCE_SUFFIXES[kind])) for kind in lexicon for stem, _ in lexicon[kind]
    }
    root.mkdir(parents=True, exist_ok=True)
    for split, count in sizes.items():
        sources, targets = [], []
        while len(sources) < count:
            words, translations, unseen = [], [], False
            for position in range(rng.randint(3, 6)):
                kind = "noun" if position % 2 == 0 else "verb"
                stem, target_stem = rng.choice(lexicon[kind])
                form = rng.randrange(len(SOURCE_SUFFIXES[kind]))
                if split == "train" and form == held_out[kind, stem]:
                    form = (form + 1) % len(SOURCE_SUFFIXES[kind])
                unseen |= form == held_out[kind, stem]
                words.append(stem + SOURCE_SUFFIXES[kind][form])
                translations.append(target_stem + TARGET_SUFFIXES[kind][form])
            if split != "train" and not unseen:
                continue  # every val/test sentence holds at least one form the training split never shows
            sources.append(" ".join(words))
            targets.append(" ".join(translations))
        (root / f"{split}.src").write_text("".join(s + "\n" for s in sources), encoding="utf-8")
        (root / f"{split}.tgt").write_text("".join(t + "\n" for t in targets), encoding="utf-8")
    return root


def word_vocabulary_bound(root: Path, split: str = "test") -> tuple[list[str], list[str]]:
    """(hypotheses, references) of the best a word-vocabulary model can do: the reference with every target word the
    training split lacks replaced by ``<unk>`` (such a model can emit no other word in its place)."""
    known = set((root / "train.tgt").read_text(encoding="utf-8").split())
    references = (root / f"{split}.tgt").read_text(encoding="utf-8").splitlines()
    hypotheses = [" ".join(w if w in known else "<unk>" for w in line.split()) for line in references]
    return hypotheses, references
