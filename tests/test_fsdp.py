"""FSDP2 (configs/trainer/fsdp.yaml, lit_vision.strategies.FSDP2Strategy) on the CPU with 2 gloo processes.

The digits ViT trains 6 steps three ways side by side: DDP, FSDP and FSDP with activation checkpointing. Each rank
sees the same batches in all three, so their per-rank losses must agree; FSDP must hold about half of DDP's
parameters and AdamW state per rank; its checkpoint is one full file that a single process loads.
"""

import json
import threading
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from helpers import CONFIGS, ROOT, run_lit_vision

# DDP all-reduces gradients, FSDP reduce-scatters them: the same sums, possibly in another order and another reduction
# kernel, so float32 rounding (~1e-7 relative per step) may differ; 6 AdamW steps at LR 3e-3 keep that far below 1e-4.
# Measured with 2 ranks: losses and weights bitwise equal (a two-term sum rounds the same in either order).
LOSS_TOLERANCE = 1e-4
WEIGHT_TOLERANCE = 1e-4
STEPS = 6
INFRA = """
trainer:
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args: {{save_dir: logs, name: run}}
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {{save_last: true}}
    - class_path: helpers.shard_probe.ShardProbe
      init_args: {{output_dir: {probe}}}
"""
ARGS = [
    "--trainer.accelerator", "cpu",
    "--trainer.devices", "2",
    "--trainer.precision", "32-true",
    "--trainer.max_epochs", "1",
    "--trainer.limit_train_batches", str(STEPS),
    "--trainer.limit_val_batches", "1",
    "--trainer.enable_progress_bar", "false",
    "--test_after_fit", "false",
    "--model.init_args.lr_schedule", "constant",  # onecycle would start at LR 0
]  # fmt: skip
RUNS = {
    "ddp": ["--config", str(CONFIGS / "trainer/ddp.yaml"), "--trainer.strategy", "ddp"],
    "fsdp": ["--config", str(CONFIGS / "trainer/fsdp.yaml")],
    "fsdp_ac": ["--config", str(CONFIGS / "trainer/fsdp.yaml"), "--trainer.strategy.activation_checkpointing", "true"],
}
ENV = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "tests")}


def fit(name: str, tmp_path: Path) -> dict:
    folder = tmp_path / name
    folder.mkdir()
    infra = folder / "infra.yaml"
    infra.write_text(INFRA.format(probe=folder / "probe"))
    args = ["fit", "--config", str(CONFIGS / "vit.yaml"), "--config", str(infra), *RUNS[name], *ARGS]
    result = run_lit_vision(*args, cwd=folder, env=ENV, timeout=300)
    assert result.returncode == 0, f"{name}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return {"folder": folder, "ranks": [read_probe(folder / f"probe/rank{rank}.json") for rank in range(2)],
            "output": result.stdout + result.stderr}  # fmt: skip


def read_probe(path: Path, wait: float = 60) -> dict:
    """A rank's report; rank 0's command may return while rank 1 is still writing it."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.2)
    raise AssertionError(f"{path} was not written")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("fsdp")
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            results[name] = fit(name, tmp_path)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(name,)) for name in RUNS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_fsdp_loss_equals_ddp_with_and_without_activation_checkpointing(runs):
    assert "distributed_backend=gloo" in runs["fsdp"]["output"]
    assert [rank["strategy"] for rank in runs["fsdp"]["ranks"]] == ["FSDP2Strategy"] * 2
    for rank in range(2):
        ddp = runs["ddp"]["ranks"][rank]["losses"]
        assert len(ddp) == STEPS
        for name in ("fsdp", "fsdp_ac"):
            losses = runs[name]["ranks"][rank]["losses"]
            assert losses == pytest.approx(ddp, abs=LOSS_TOLERANCE, rel=0), (name, rank, losses, ddp)


def test_fsdp_holds_half_of_ddp_parameters_and_optimizer_state_per_rank(runs):
    ddp, fsdp = runs["ddp"]["ranks"], runs["fsdp"]["ranks"]
    total = ddp[0]["param_numel"]
    assert ddp[1]["param_numel"] == total and ddp[0]["optimizer_numel"] == 2 * total  # AdamW: exp_avg, exp_avg_sq
    assert sum(rank["param_numel"] for rank in fsdp) == total == fsdp[0]["global_param_numel"]
    for rank in fsdp:
        # dim-0 shards: a tensor with an odd first dimension (or 1, like pos_embed) leaves one rank a bit more
        assert 0.45 * total <= rank["param_numel"] <= 0.55 * total
        assert rank["optimizer_numel"] == 2 * rank["param_numel"]


def test_fsdp_checkpoint_is_one_full_file_that_one_process_loads(runs):
    def last(name: str) -> dict:
        path = runs[name]["folder"] / "logs/run/version_0/checkpoints/last.ckpt"
        return torch.load(path, map_location="cpu", weights_only=False)

    fsdp, ddp = last("fsdp"), last("ddp")
    assert fsdp["state_dict"].keys() == ddp["state_dict"].keys()
    for key, value in ddp["state_dict"].items():
        assert fsdp["state_dict"][key].shape == value.shape
        torch.testing.assert_close(fsdp["state_dict"][key], value, atol=WEIGHT_TOLERANCE, rtol=0, msg=key)
    # a single process rebuilds the model from it (what `lit-vision test --ckpt_path` does) and gets DDP's outputs
    from lit_vision.models import ViTClassifier

    path = runs["fsdp"]["folder"] / "logs/run/version_0/checkpoints/last.ckpt"
    model = ViTClassifier.load_from_checkpoint(path, map_location="cpu").eval()
    reference = ViTClassifier.load_from_checkpoint(str(path).replace("/fsdp/", "/ddp/"), map_location="cpu")
    images = torch.rand(4, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(images), reference.eval()(images), atol=WEIGHT_TOLERANCE, rtol=0)


@pytest.fixture
def one_process_group():
    """A world of one gloo process, enough for `fully_shard` in this process; torn down afterwards."""
    if dist.is_initialized():
        pytest.skip("a process group already exists in this process")
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:0", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_each_swin_block_is_one_unit_and_outputs_and_gradients_stay(one_process_group):
    from torch.distributed.device_mesh import init_device_mesh

    from lit_vision.nn.swin import swin_digits
    from lit_vision.nn.swin_layers import SwinBlock
    from lit_vision.strategies import is_sharded, shard_network

    torch.manual_seed(0)
    reference = swin_digits(drop_path_rate=0.0)
    images = torch.rand(3, 1, 8, 8)
    saved = {}
    for activation_checkpointing in (False, True):
        net = swin_digits(drop_path_rate=0.0)
        net.load_state_dict(reference.state_dict())
        blocks = shard_network(net, init_device_mesh("cpu", (1,)), activation_checkpointing=activation_checkpointing)
        assert len(blocks) == 4 and all(isinstance(block, SwinBlock) for block in blocks) and is_sharded(net)
        counted = saved.setdefault(activation_checkpointing, [])
        with torch.autograd.graph.saved_tensors_hooks(
            lambda t, counted=counted: counted.append(t.numel()) or t, lambda t: t
        ):
            output = net(images)
        torch.testing.assert_close(output, reference(images), atol=1e-6, rtol=0)
        output.square().sum().backward()
        reference.zero_grad()
        reference(images).square().sum().backward()
        for (name, param), expected in zip(net.named_parameters(), reference.parameters()):
            torch.testing.assert_close(param.grad.full_tensor(), expected.grad, atol=1e-5, rtol=0, msg=name)
        assert net.state_dict().keys() == reference.state_dict().keys()  # checkpointing renames nothing
    # with checkpointing the blocks keep only their inputs for the backward: they recompute the rest
    assert sum(saved[True]) < 0.2 * sum(saved[False])


def test_a_network_without_the_named_blocks_gets_a_one_line_error(one_process_group):
    from torch.distributed.device_mesh import init_device_mesh

    from lit_vision.strategies import shard_network

    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 2))
    with pytest.raises(
        ValueError, match=r"no module of Sequential matches wrap_modules=.*torch.nn.modules.linear.Linear"
    ):
        shard_network(net, init_device_mesh("cpu", (1,)))
    shard_network(net, init_device_mesh("cpu", (1,)), ["Linear"])  # named by the user, it works
    assert net(torch.rand(3, 4)).shape == (3, 2)


def test_plain_model_parallel_strategy_is_refused_with_the_fix():
    from lightning.pytorch.strategies import ModelParallelStrategy

    from lit_vision.models import ViTClassifier

    model = ViTClassifier(num_classes=10, in_chans=1, image_size=16, patch_size=4, embed_dim=32, depth=1, num_heads=2)
    model.trainer = type("FakeTrainer", (), {"strategy": ModelParallelStrategy()})()
    with pytest.raises(ValueError, match="use lit_vision.strategies.FSDP2Strategy"):
        model.configure_model()


@pytest.mark.parametrize(
    ("config", "timm_name", "millions"),
    [
        ("imagenet/vit_l16.yaml", "vit_large_patch16_224", 304.3),
        ("imagenet/swin_b.yaml", "swin_base_patch4_window7_224", 87.8),
    ],
)
def test_large_preset_configs_match_timm_parameter_counts(config, timm_name, millions):
    """The networks of the ViT-L/16 and Swin-B recipes, built on the meta device from their configs' model arguments."""
    import importlib

    import timm
    import yaml

    model = yaml.safe_load((CONFIGS / config).read_text())["model"]
    module, _, name = model["class_path"].rpartition(".")
    arguments = {key: value for key, value in model["init_args"].items() if key != "optimizer"}
    with torch.device("meta"):
        ours = getattr(importlib.import_module(module), name)(num_classes=1000, **arguments)
        reference = timm.create_model(timm_name, pretrained=False)
    count = sum(p.numel() for p in ours.net.parameters())
    assert count == sum(p.numel() for p in reference.parameters())
    assert round(count / 1e6, 1) == millions


def test_ema_refuses_a_sharded_strategy_in_one_line():
    from lightning.pytorch.strategies import ModelParallelStrategy

    from lit_vision.callbacks.ema import EMA
    from lit_vision.strategies import FSDP2Strategy

    trainer = type("FakeTrainer", (), {"strategy": FSDP2Strategy()})()
    assert isinstance(trainer.strategy, ModelParallelStrategy)
    with pytest.raises(ValueError, match="EMA callback .* cannot average a model sharded by .*FSDP2Strategy"):
        EMA().setup(trainer, None, "fit")
