import pytest
import torch

from lit_vision.data import SequenceDataModule
from lit_vision.data.sequence import SPECIAL_TOKENS, Vocabulary


def small(task: str = "reverse", **kwargs) -> SequenceDataModule:
    args = dict(task=task, min_length=2, max_length=7, train_size=300, val_size=40, test_size=40, batch_size=16)
    return SequenceDataModule(**{**args, **kwargs})


@pytest.mark.parametrize("task", ["copy", "reverse", "sort", "addition"])
def test_synthetic_tasks_are_seeded_and_correct(task):
    dm = small(task)
    pairs = dm.pairs()
    assert {k: len(v) for k, v in pairs.items()} == {"train": 300, "val": 40, "test": 40}
    assert small(task).pairs() == pairs  # same seed, same data
    assert small(task, seed=1).pairs()["train"] != pairs["train"]
    for source, target in pairs["train"]:
        if task == "copy":
            assert target == source
        elif task == "reverse":
            assert target == source[::-1]
        elif task == "sort":
            assert target == "".join(sorted(source))
        else:
            a, b = source.split("+")
            assert int(target) == int(a) + int(b) and 2 <= len(a) <= 7 and a[0] != "0"
        if task != "addition":
            assert 2 <= len(source) <= 7
    train = {source for source, _ in pairs["train"]}
    assert not train & {source for source, _ in pairs["test"]}  # held-out sources are unseen


def test_batches_are_padded_and_targets_wrapped_in_bos_eos():
    dm = small("reverse")
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    src, tgt = batch["src"], batch["tgt"]
    assert src.shape[0] == tgt.shape[0] == 16 and tgt.shape[1] == src.shape[1] + 2
    assert (tgt[:, 0] == dm.bos_id).all()
    src_lengths = (src != dm.pad_id).sum(1)
    assert src_lengths.max() == src.shape[1] and src_lengths.min() < src.shape[1]  # padded to the longest
    for row_src, row_tgt, length in zip(src, tgt, src_lengths):
        assert (row_src[length:] == dm.pad_id).all()
        assert row_tgt[length + 1] == dm.eos_id and (row_tgt[length + 2 :] == dm.pad_id).all()
        assert torch.equal(row_tgt[1 : length + 1], row_src[:length].flip(0))
        assert dm.decode(row_tgt) == dm.decode(row_src, "src")[::-1]
    source, target = dm.pairs()["val"][0]
    assert dm.decode(src[0], "src") == source and dm.decode(tgt[0]) == target


def test_synthetic_vocab_and_special_ids():
    dm = small("addition")
    assert (dm.pad_id, dm.bos_id, dm.eos_id) == (0, 1, 2)
    assert dm.src_vocab_size == dm.tgt_vocab_size == len(SPECIAL_TOKENS) + 11  # digits and '+'
    assert small("sort", num_symbols=5).src_vocab_size == len(SPECIAL_TOKENS) + 5


def write_corpus(directory, splits=("train", "val"), lines=None):
    lines = lines or ["the cat sat", "a dog ran", "the dog sat", "a cat ran"] * 3
    for split in splits:
        (directory / f"{split}.src").write_text("\n".join(lines) + "\n")
        (directory / f"{split}.tgt").write_text("\n".join(" ".join(reversed(s.split())) for s in lines) + "\n")


def test_text_files_vocab_from_train_split_and_decode(tmp_path):
    write_corpus(tmp_path)
    (tmp_path / "val.src").write_text("the zebra sat\n")
    (tmp_path / "val.tgt").write_text("sat zebra the\n")
    dm = SequenceDataModule(task="text", text_path=str(tmp_path), test_size=2, batch_size=4)
    dm.setup()
    assert dm.src_vocab.itos[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert set(dm.src_vocab.itos[4:]) == {"the", "cat", "sat", "a", "dog", "ran"}  # "zebra" (val only) is not in it
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 10, "val": 1, "test": 2, "predict": 2}
    ids = dm.encode("the zebra sat")
    assert ids[1] == dm.src_vocab.unk_id
    assert dm.decode(ids, "src") == "the <unk> sat"
    assert dm.decode([dm.bos_id, *dm.encode("sat cat", "tgt"), dm.eos_id, dm.pad_id, 5], "tgt") == "sat cat"


def test_tsv_file_char_tokenization_and_shared_vocab(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"ab{i}\t{i}ba\n" for i in range(10)))
    dm = SequenceDataModule(
        task="text", text_path=str(path), tokenization="char", shared_vocab=True, val_size=2, test_size=2
    )
    pairs = dm.pairs()
    train_chars = {c for source, target in pairs["train"] for c in source + target}
    assert dm.src_vocab is dm.tgt_vocab and dm.src_vocab_size == len(SPECIAL_TOKENS) + len(train_chars)
    assert sorted(pairs["train"] + pairs["val"] + pairs["test"]) == sorted((f"ab{i}", f"{i}ba") for i in range(10))
    assert dm.decode(dm.encode("ab", "tgt")) == "ab"
    words = SequenceDataModule(task="text", text_path=str(path), val_size=2, test_size=2)
    assert words.src_vocab_size == len(SPECIAL_TOKENS) + 6  # whitespace: each training source is one token


def test_vocabulary_frequency_order_min_freq_and_max_size():
    sentences = [["b", "a", "a", "c"], ["a", "b"]]
    assert Vocabulary.build(sentences).itos[4:] == ["a", "b", "c"]
    assert Vocabulary.build(sentences, min_freq=2).itos[4:] == ["a", "b"]
    assert Vocabulary.build(sentences, max_size=5).itos[4:] == ["a"]


def test_predict_path_decodes_source_lines(tmp_path):
    write_corpus(tmp_path)
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("the cat ran\na dog\n")
    dm = SequenceDataModule(task="text", text_path=str(tmp_path), predict_path=str(inputs), test_size=2)
    dm.setup()
    batch = next(iter(dm.predict_dataloader()))
    assert set(batch) == {"src"} and batch["src"].shape == (2, 3)


def test_text_errors_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="text_path='missing' does not exist"):
        SequenceDataModule(task="text", text_path="missing")
    with pytest.raises(ValueError, match="task='text' needs text_path"):
        SequenceDataModule(task="text")
    with pytest.raises(FileNotFoundError, match=r"holds neither train.src \+ train.tgt nor train.tsv"):
        SequenceDataModule(task="text", text_path=str(tmp_path)).setup()

    write_corpus(tmp_path, ("train",))
    (tmp_path / "val.src").write_text("a\nb\n")
    with pytest.raises(FileNotFoundError, match="val.tgt' does not exist"):
        SequenceDataModule(task="text", text_path=str(tmp_path)).setup()
    (tmp_path / "val.tgt").write_text("a\n")
    with pytest.raises(ValueError, match="val.src has 2 lines but .*val.tgt has 1; .* aligned line by line"):
        SequenceDataModule(task="text", text_path=str(tmp_path)).setup()
    (tmp_path / "val.tgt").write_text("a\n\n")
    with pytest.raises(ValueError, match="val.tgt: line 2 is empty"):
        SequenceDataModule(task="text", text_path=str(tmp_path)).setup()

    tsv = tmp_path / "bad.tsv"
    tsv.write_text("a\tb\nno tab here\n")
    with pytest.raises(ValueError, match="bad.tsv: line 2 has 1 tab-separated fields"):
        SequenceDataModule(task="text", text_path=str(tsv)).setup()
    tsv.write_text("a\tb\nc\td\n")
    with pytest.raises(ValueError, match="leaves no training pairs out of 2"):
        SequenceDataModule(task="text", text_path=str(tsv)).setup()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(task="shuffle"), "task='shuffle' is not supported"),
        (dict(min_length=5, max_length=3), "max_length=3 must be >= min_length=5"),
        (dict(batch_size=0), "batch_size=0 must be a positive number"),
        (dict(num_symbols=40), "num_symbols=40 must lie in"),
        (dict(text_path="x.tsv"), "text_path is set but task='reverse'"),
        (dict(tokenization="wordpiece"), "tokenization='wordpiece' is not supported"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        SequenceDataModule(**kwargs)
