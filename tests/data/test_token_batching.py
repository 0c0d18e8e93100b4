import random

import pytest
import torch

from lit_vision.data import SequenceDataModule
from lit_vision.data.token_batching import TokenBatchSampler, TokenTrainingOrder, token_batches


def random_sizes(count=500, seed=0):
    rng = random.Random(seed)
    return [rng.randint(1, 60) for _ in range(count)]


def test_token_batches_fill_up_to_max_tokens():
    sizes = sorted([3, 3, 4, 5, 9, 10, 10, 20])
    ends = token_batches(sizes, max_tokens=20)
    starts = [0, *ends[:-1]]
    batches = [sizes[a:b] for a, b in zip(starts, ends)]
    assert batches == [[3, 3, 4, 5], [9, 10], [10], [20]]
    with pytest.raises(ValueError, match="a sequence of 21 tokens does not fit max_tokens=20"):
        token_batches([21], 20)


def test_sampler_covers_every_pair_once_per_epoch_within_max_tokens():
    sizes = random_sizes()
    sampler = TokenBatchSampler(sizes, max_tokens=300)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(len(sizes)))
    assert all(len(b) * max(sizes[i] for i in b) <= 300 for b in batches)
    padded = sum(len(b) * max(sizes[i] for i in b) for b in batches)
    assert sum(sizes) / padded > 0.9  # similar lengths together: little padding
    sampler.set_epoch(1)
    again = list(sampler)
    assert len(again) == len(batches) and again != batches  # another order, the same number of batches
    assert list(TokenBatchSampler(sizes, max_tokens=300)) == batches  # seeded


def test_ranks_take_disjoint_shards_of_equal_length():
    sizes = random_sizes(301)
    whole = TokenBatchSampler(sizes, max_tokens=200).epoch_batches()
    shards = [list(TokenBatchSampler(sizes, max_tokens=200, num_replicas=3, rank=r)) for r in range(3)]
    assert len({len(shard) for shard in shards}) == 1
    served = [batch for rank_batches in zip(*shards) for batch in rank_batches]
    assert served[: len(whole)] == whole  # round robin over the epoch's batches, wrapping round at the end
    assert served[len(whole) :] == whole[: len(served) - len(whole)]


def test_loader_resumes_mid_epoch_from_its_state():
    sizes = random_sizes(200)
    dataset = [(torch.zeros(s, dtype=torch.long), None) for s in sizes]

    def collate(items):
        return [len(source) for source, _ in items]

    order = TokenTrainingOrder()
    loader = order.token_loader(dataset, sizes, 150, collate, seed=3)
    loader.sampler.set_epoch(2)
    full = list(loader)
    loader.sampler.set_epoch(2)
    iterator = iter(loader)
    first = [next(iterator) for _ in range(5)]
    state = order.state_dict()
    assert state["position"] == {"epoch": 2, "batches_done": 5, "max_tokens": 150, "num_replicas": 1}

    resumed_order = TokenTrainingOrder()
    resumed_order.load_state_dict(state)  # before the loader exists, as when Lightning restores a checkpoint
    resumed = resumed_order.token_loader(dataset, sizes, 150, collate, seed=3)
    resumed.sampler.set_epoch(2)
    assert first + list(resumed) == full
    resumed.sampler.set_epoch(3)
    assert len(list(resumed)) == len(full)  # the next epoch starts from its beginning


def test_datamodule_max_tokens_batches(tmp_path):
    root = tmp_path / "text"
    root.mkdir()
    rng = random.Random(0)
    lines = [
        " ".join(rng.choice("abcdefgh") * rng.randint(1, 3) for _ in range(rng.randint(2, 20))) for _ in range(300)
    ]
    (root / "train.src").write_text("\n".join(lines) + "\n")
    (root / "train.tgt").write_text("\n".join(lines) + "\n")
    common = dict(task="text", text_path=str(root), tokenization="bpe", vocab_size=270, val_size=10, test_size=10)
    dm = SequenceDataModule(**common, max_tokens=200)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert sum(len(b["src"]) for b in batches) == len(dm.splits["train"])
    for batch in batches:
        assert batch["src"].numel() <= 200 and batch["tgt"][:, 1:].numel() <= 200
    real = sum((b["tgt"][:, 1:] != dm.pad_id).sum().item() for b in batches) / len(batches)
    assert real > 0.6 * 200  # tokens per batch achieved: most of max_tokens are real tokens

    small = SequenceDataModule(**common, max_tokens=5)
    small.setup()
    with pytest.raises(ValueError, match="more than max_tokens=5; raise max_tokens or drop long pairs"):
        small.train_dataloader()
    short = SequenceDataModule(**common, max_tokens=200, max_pair_length=8)
    short.setup()
    kept = short.splits["train"]
    assert 0 < len(kept) < len(dm.splits["train"]) and kept.targets.lengths.max() <= 8
