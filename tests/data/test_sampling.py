"""Resumable, rank-aware training order: shards, seeded epochs, mid-epoch restart, per-rank augmentation seeds."""

import pytest
import torch
from torch.utils.data import TensorDataset

from lit_vision.data.sampling import AugmentationSeeds, ResumableDataLoader, ResumableDistributedSampler, mix_seed

DATA = TensorDataset(torch.arange(103))


def loader(rank: int = 0, world: int = 1, batch_size: int = 8, seed: int = 5) -> ResumableDataLoader:
    sampler = ResumableDistributedSampler(DATA, num_replicas=world, rank=rank, seed=seed)
    return ResumableDataLoader(DATA, batch_size, sampler)


def epoch_order(dl: ResumableDataLoader, epoch: int) -> list[int]:
    dl.sampler.set_epoch(epoch)
    return torch.cat([batch for (batch,) in dl]).tolist()


def test_order_is_seeded_per_epoch_and_independent_of_the_global_rng():
    torch.manual_seed(0)
    first = epoch_order(loader(), 0)
    torch.manual_seed(1)
    assert epoch_order(loader(), 0) == first
    assert epoch_order(loader(), 1) != first
    assert epoch_order(loader(seed=6), 0) != first
    assert sorted(first) == list(range(103))
    state = torch.get_rng_state()
    epoch_order(loader(), 2)
    assert torch.equal(torch.get_rng_state(), state)  # iterating never consumes the global generator


def test_ranks_get_disjoint_equal_shards_of_one_permutation():
    shards = [epoch_order(loader(rank, world=2, batch_size=4), 3) for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) == 52  # 103 padded to 104
    assert set(shards[0]) | set(shards[1]) == set(range(103))
    single = epoch_order(loader(batch_size=8), 3)
    assert shards[0][:10] == single[0:20:2] and shards[1][:10] == single[1:20:2]  # same global batches


def test_resume_mid_epoch_continues_with_the_next_batch():
    full = loader()
    full.sampler.set_epoch(2)
    batches = [batch.tolist() for (batch,) in full]
    interrupted = loader()
    interrupted.sampler.set_epoch(2)
    iterator = iter(interrupted)
    for _ in range(5):
        next(iterator)
    state = interrupted.state_dict()
    assert state["epoch"] == 2 and state["batches_done"] == 5

    resumed = loader()
    resumed.load_state_dict(state)
    resumed.sampler.set_epoch(2)  # Lightning sets the epoch after loading the state
    rest = [batch.tolist() for (batch,) in resumed]
    assert rest == batches[5:]
    assert resumed.state_dict()["batches_done"] == len(batches)
    # the skip applies once, to that epoch only
    assert [batch.tolist() for (batch,) in resumed] == batches


def test_resume_state_for_a_finished_epoch_does_not_skip_the_next():
    dl = loader()
    state = {"epoch": 0, "batches_done": 13, "batch_size": 8, "num_replicas": 1}
    dl.load_state_dict(state)
    assert len(epoch_order(dl, 1)) == 103


def test_changed_batch_size_restarts_the_epoch_with_a_warning():
    dl = loader(batch_size=16)
    with pytest.warns(UserWarning, match="restarts from its beginning"):
        dl.load_state_dict({"epoch": 0, "batches_done": 3, "batch_size": 8, "num_replicas": 1})
    assert len(epoch_order(dl, 0)) == 103


def test_augmentation_seeds_differ_per_rank_and_batch_and_resume_exactly():
    def draws(seeds: AugmentationSeeds, rank: int, n: int) -> list[float]:
        return [
            torch.rand(1, generator=seeds.next_generator(torch.device("cpu"), rank, seed=0)).item() for _ in range(n)
        ]

    rank0, rank1 = draws(AugmentationSeeds(), 0, 6), draws(AugmentationSeeds(), 1, 6)
    assert len(set(rank0)) == 6 and not set(rank0) & set(rank1)
    resumed = AugmentationSeeds()
    resumed.load_state_dict({"batches": 4})
    assert draws(resumed, 0, 2) == rank0[4:]
    assert mix_seed(0, 1) != mix_seed(1, 0)
