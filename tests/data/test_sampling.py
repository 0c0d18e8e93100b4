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


@pytest.mark.parametrize(("size", "world", "repeats"), [(1000, 4, 3), (300, 8, 3), (200, 2, 2), (257, 3, 4)])
def test_repeated_augmentation_equals_timms_repeat_aug_sampler(size, world, repeats):
    """Same shards as timm's RepeatAugSampler (DeiT's RASampler) for seed 0 (timm seeds the permutation with the epoch)."""
    from timm.data.distributed_sampler import RepeatAugSampler

    dataset = TensorDataset(torch.arange(size))
    for epoch in (0, 3):
        shards = []
        for rank in range(world):
            ours = ResumableDistributedSampler(dataset, num_replicas=world, rank=rank, seed=0, aug_repeats=repeats)
            theirs = RepeatAugSampler(dataset, num_replicas=world, rank=rank, num_repeats=repeats)
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            shards.append(list(ours))
            assert shards[-1] == list(theirs) and len(ours) == len(theirs)
        if world >= repeats:  # the copies of one image go to `repeats` different ranks in the same step
            first_step = [shard[0] for shard in shards]
            assert len(set(first_step[:repeats])) == 1


def test_repeated_augmentation_resumes_mid_epoch_and_is_ignored_in_one_process():
    from lit_vision.data.sampling import resumable_loader

    dataset = TensorDataset(torch.arange(600))
    sampler = ResumableDistributedSampler(dataset, num_replicas=4, rank=1, seed=2, aug_repeats=3)
    full = ResumableDataLoader(dataset, 16, sampler)
    assert len(sampler) == 128  # 600 // 256 * 256 / 4
    order = epoch_order(full, 1)
    resumed_sampler = ResumableDistributedSampler(dataset, num_replicas=4, rank=1, seed=2, aug_repeats=3)
    resumed = ResumableDataLoader(dataset, 16, resumed_sampler)
    resumed.load_state_dict({"epoch": 1, "batches_done": 3, "batch_size": 16, "num_replicas": 4})
    assert torch.cat([batch for (batch,) in resumed]).tolist() == order[48:]

    with pytest.warns(UserWarning, match=r"aug_repeats=3 is ignored in a single process"):
        single = resumable_loader(dataset, 16, seed=2, aug_repeats=3)
    assert len(single.sampler) == 600 and sorted(epoch_order(single, 0)) == list(range(600))
