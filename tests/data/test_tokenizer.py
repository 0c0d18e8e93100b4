import pytest
import torch

from lit_vision.data import SequenceDataModule
from lit_vision.data.tokenizer import BPETokenizer

TEXTS = ["the cats sat on the mat", "Hello, world!  Two spaces.", "die Katzen saßen auf der Matte"] * 10


def test_bpe_round_trips_text_with_any_character():
    tokenizer = BPETokenizer.train(TEXTS, vocab_size=320)
    assert (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id) == (0, 1, 2, 3)
    assert 260 < len(tokenizer) <= 320
    for text in [*TEXTS[:3], "unseen wörds 日本語, tabs\tand  double  spaces!", "x"]:
        ids = tokenizer.encode(text)
        assert tokenizer.unk_id not in ids  # the byte alphabet covers every character
        assert tokenizer.decode(ids) == text
        assert tokenizer.decode([tokenizer.bos_id, *ids, tokenizer.eos_id, tokenizer.pad_id, 5]) == text
    assert tokenizer.tokens("the cats") == ["Ġthe", "Ġcats"]  # merged into whole words seen in training
    assert tokenizer.encode_batch(TEXTS[:2]) == [tokenizer.encode(t) for t in TEXTS[:2]]


def test_bpe_training_is_deterministic_and_saves_to_json(tmp_path):
    first, second = BPETokenizer.train(TEXTS, 300), BPETokenizer.train(TEXTS, 300)
    assert first == second
    first.save(tmp_path / "tokenizer.json")
    loaded = BPETokenizer.from_file(tmp_path / "tokenizer.json")
    assert loaded == first and loaded.encode(TEXTS[1]) == first.encode(TEXTS[1])
    assert BPETokenizer.from_str(first.to_str()) == first


def test_bpe_errors(tmp_path):
    with pytest.raises(ValueError, match="vocab_size=100 must be >= 260"):
        BPETokenizer.train(TEXTS, 100)
    with pytest.raises(FileNotFoundError, match="tokenizer_path='missing.json' does not exist"):
        BPETokenizer.from_file("missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not a tokenizers JSON file"):
        BPETokenizer.from_file(tmp_path / "bad.json")


def write_pairs(root, count=40, words=("the cat number sat on the mat", "die Katze Nummer saß auf der Matte")):
    root.mkdir(exist_ok=True)
    sources = [f"{words[0]} {i}" for i in range(count)]
    targets = [f"{words[1]} {i}" for i in range(count)]
    for split in ("train", "val", "test"):
        (root / f"{split}.src").write_text("\n".join(sources) + "\n", encoding="utf-8")
        (root / f"{split}.tgt").write_text("\n".join(targets) + "\n", encoding="utf-8")
    return root


def test_datamodule_bpe_shared_vocab_decodes_detokenized_text(tmp_path):
    root = write_pairs(tmp_path / "text")
    dm = SequenceDataModule(task="text", text_path=str(root), tokenization="bpe", vocab_size=300, batch_size=4)
    assert dm.src_vocab is dm.tgt_vocab is dm.tokenizer and dm.src_vocab_size == dm.tgt_vocab_size == 300
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    source, target = dm.pairs()["val"][0]
    assert dm.decode(batch["src"][0], "src") == source and dm.decode(batch["tgt"][0]) == target
    assert batch["tgt"][0, 0] == dm.bos_id


def test_datamodule_loads_tokenizer_json_and_carries_it_in_checkpoints(tmp_path):
    root = write_pairs(tmp_path / "text")
    trained = SequenceDataModule(task="text", text_path=str(root), tokenization="bpe", vocab_size=300)
    trained.tokenizer.save(tmp_path / "tokenizer.json")
    loaded = SequenceDataModule(
        task="text", text_path=str(root), tokenization="bpe", tokenizer_path=str(tmp_path / "tokenizer.json")
    )
    assert loaded.tokenizer == trained.tokenizer

    state = trained.state_dict()
    assert state["tokenizer"] == trained.tokenizer.to_str()
    other_root = write_pairs(tmp_path / "other", words=("a dog ran to the park", "ein Hund rannte zum Park"))
    other = SequenceDataModule(task="text", text_path=str(other_root), tokenization="bpe", vocab_size=300)
    other.setup()
    assert other.tokenizer != trained.tokenizer and len(other.tokenizer) == 300
    other.load_state_dict(state)  # the checkpoint's tokenizer replaces this run's, and the data is encoded again
    assert other.tokenizer == trained.tokenizer
    source = other.pairs()["train"][0][0]
    assert torch.equal(other.splits["train"][0][0], torch.tensor(trained.tokenizer.encode(source)))

    smaller = SequenceDataModule(task="text", text_path=str(root), tokenization="bpe", vocab_size=280)
    with pytest.raises(ValueError, match="the checkpoint's tokenizer has 300 tokens but this run's has 280"):
        smaller.load_state_dict(state)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(tokenization="bpe", vocab_size=100), "vocab_size=100 must be >= 260"),
        (dict(tokenizer_path="x.json"), "tokenizer_path is set but tokenization='whitespace'"),
        (dict(tokenization="bpe", tokenizer_path="x.json"), "tokenizer_path='x.json' does not exist"),
        (dict(max_tokens=0), "max_tokens=0 must be a positive number"),
    ],
)
def test_bpe_arguments_are_checked_early(tmp_path, kwargs, message):
    root = write_pairs(tmp_path / "text")
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        SequenceDataModule(task="text", text_path=str(root), **kwargs)
