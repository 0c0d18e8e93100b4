"""Eager vs ``torch.compile``: train-step and inference time of lit_vision networks, and what compiling costs.

Cases are the five digits configs (``configs/{vit,swin,convmixer,fccn,transformer}.yaml``: the LightningModule is
built from the config's model section with the DataModule's linked values, on a real batch of its data) and the 224 px
shapes of ``benchmarks/throughput.py`` (ViT-S/16, Swin-T, ConvMixer-768/32, our networks converted from timm).

For each case, in one process: two copies with equal weights; the compiled one compiles ``net`` in place exactly as
the LightningModule's ``compile`` option does. Compile time is the first compiled step minus a steady compiled step
(cold: a fresh inductor cache per run); the second step shows recompiles (the transformer's second step takes a batch
of another length, as its data does). Then eager and compiled are timed in interleaved repeats (alternating which goes
first; median). A train step is forward + the module's own loss + backward + AdamW step (same settings both sides, the
optimizer stays eager); inference is a forward pass under ``torch.inference_mode`` in eval mode (its own compile).

    python benchmarks/compile.py                      # all cases, CPU (mostly inductor's C++ build: ~10 min, 2 cores)
    python benchmarks/compile.py --cases vit swin --threads 2
    python benchmarks/compile.py --device cuda --dtype bf16 --batch-224 128

A case that does not compile is a row "compile failed" with the error in the notes (on torch 2.14 the complex FCCN
training graph fails in AOTAutograd; its inference compiles with graph breaks around the complex operations).

Prints a markdown table: speedup = eager / compiled time (> 1: compiling is faster); "pays after" = compile seconds /
time saved per step, the number of steps a run needs before compiling has paid for itself (never: compiled is slower).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from throughput import CASES as SHAPE_CASES  # benchmarks/throughput.py, next to this script
from throughput import autocast, set_up_device, synchronize
from torch import nn

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CONFIG_CASES = ("vit", "swin", "convmixer", "fccn", "transformer")
SHAPES = ("vit_s16", "swin_t", "convmixer_768_32")
ALL_CASES = (*CONFIG_CASES, *SHAPES)


@dataclass
class Workload:
    """One model and its fixed batches: ``module(*inputs)`` gives the output ``loss(output)`` reduces."""

    description: str
    module: nn.Module
    inputs: tuple
    loss: Callable[[nn.Module, object], torch.Tensor]
    batch_size: int
    second_inputs: tuple | None = None  # the second compiled step's batch (another shape, where the data has one)


# --- building the cases --------------------------------------------------------------------------------------------
def _first_loss(module: nn.Module, output) -> torch.Tensor:
    loss = module.compute_loss(*output)
    return loss[0] if isinstance(loss, tuple) else loss


def config_workload(name: str, compile_options: dict | None, device: torch.device) -> Workload:
    """The LightningModule of ``configs/<name>.yaml`` (linked values from its DataModule) and real batches."""
    from lightning.pytorch.cli import instantiate_class

    from lit_vision.cli import DATA_TO_MODEL_LINKS

    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    data = instantiate_class((), config["data"])
    data.prepare_data()
    data.setup("fit")
    init = dict(config["model"]["init_args"])
    init.pop("optimizer", None)  # the benchmark's AdamW replaces it on both sides
    init.update({link: getattr(data, link) for link in DATA_TO_MODEL_LINKS if hasattr(data, link)})
    init["compile"] = False if compile_options is None else compile_options or True
    torch.manual_seed(0)
    module = instantiate_class((), {"class_path": config["model"]["class_path"], "init_args": init})
    if compile_options is not None:
        module.setup("fit")  # the module's own compile path: `net.compile(**options)` in place
    first = data.on_after_batch_transfer(_to(next(iter(data.val_dataloader())), device), 0)
    if isinstance(first, dict):  # token sequences: teacher forcing on tgt[:, :-1], labels tgt[:, 1:]
        inputs = (first["src"], first["tgt"][:, :-1], first["tgt"][:, 1:])
        # the second step: a batch of the shorter half of the pairs, padded shorter (batches vary in length)
        pairs = sorted(data.splits["val"], key=lambda pair: len(pair[0]))[: len(first["src"])]
        second = _to(data.collate(pairs), device)
        second_inputs = (second["src"], second["tgt"][:, :-1], second["tgt"][:, 1:])
        run = lambda m, src, tgt_in, labels: (m(src, tgt_in), labels)  # noqa: E731
        description = f"configs/{name}.yaml (src {tuple(first['src'].shape)}, tgt {tuple(first['tgt'].shape)})"
        batch_size = len(first["src"])
    else:
        images, labels = first
        inputs, second_inputs = (images, labels), None
        run = lambda m, images, labels: (m(images), labels)  # noqa: E731
        description = f"configs/{name}.yaml ({'x'.join(map(str, images.shape[1:]))})"
        batch_size = len(images)
    return Workload(
        description,
        module,
        inputs,
        lambda m, inputs: _first_loss(m, run(m, *inputs)),
        batch_size,
        second_inputs,
    )


def shape_workload(name: str, compile_options: dict | None, device: torch.device, batch_size: int) -> Workload:
    """Our network of a throughput.py case (converted from timm) on a random batch."""
    from lit_vision.interop.timm import from_timm

    case = SHAPE_CASES[name]
    torch.manual_seed(0)
    net = from_timm(case.build_timm())
    if compile_options is not None:
        net.compile(**compile_options)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size, case.in_chans, case.img_size, case.img_size, generator=generator)
    labels = torch.randint(0, case.num_classes, (batch_size,), generator=generator)
    return Workload(
        case.description,
        net,
        (images.to(device), labels.to(device)),
        lambda m, inputs: F.cross_entropy(m(inputs[0]), inputs[1]),
        batch_size,
    )


def _to(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: _to(value, device) for key, value in batch.items()}
    return type(batch)(_to(value, device) for value in batch)


def build(name: str, compile_options: dict | None, args: argparse.Namespace) -> Workload:
    device = torch.device(args.device)
    if name in CONFIG_CASES:
        workload = config_workload(name, compile_options, device)
    else:
        workload = shape_workload(name, compile_options, device, args.batch_224)
    workload.module.to(device)
    return workload


# --- measuring -----------------------------------------------------------------------------------------------------
class Runner:
    """Train steps (AdamW, eager) or inference passes of one workload."""

    def __init__(self, workload: Workload, mode: str, args: argparse.Namespace):
        self.workload, self.mode, self.dtype = workload, mode, args.dtype
        self.device = torch.device(args.device)
        self.optimizer = torch.optim.AdamW(workload.module.parameters(), lr=1e-4, weight_decay=0.05)

    def step(self, inputs: tuple | None = None) -> None:
        module, inputs = self.workload.module, inputs or self.workload.inputs
        if self.mode == "train":
            module.train()
            with autocast(self.device, self.dtype):
                loss = self.workload.loss(module, inputs)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        else:
            module.eval()
            with torch.inference_mode(), autocast(self.device, self.dtype):
                self.workload.loss(module, inputs)

    def time(self, steps: int = 1, inputs: tuple | None = None) -> float:
        synchronize(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            self.step(inputs)
        synchronize(self.device)
        return time.perf_counter() - start


def dynamo_counts() -> tuple[int, dict[str, int]]:
    """Graphs dynamo compiled so far and its graph breaks by reason (``torch._dynamo``'s own counters)."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"], dict(counters["graph_break"])


def measure(eager: Workload, compiled: Workload, mode: str, args: argparse.Namespace) -> dict:
    runners = {"eager": Runner(eager, mode, args), "compiled": Runner(compiled, mode, args)}
    runners["eager"].time(args.warmup)
    graphs_before, breaks_before = dynamo_counts()
    first = runners["compiled"].time(1)  # compiles (train: forward and backward graphs)
    graphs_first, _ = dynamo_counts()
    second = runners["compiled"].time(1, compiled.second_inputs)
    graphs_second, breaks_after = dynamo_counts()
    breaks = {reason: n - breaks_before.get(reason, 0) for reason, n in breaks_after.items()}
    breaks = {reason: n for reason, n in breaks.items() if n > 0}
    runners["compiled"].time(max(0, args.warmup - 2))
    per_step = max(runner.time(1) for runner in runners.values())
    steps = max(1, min(args.max_steps, round(args.min_seconds / max(per_step, 1e-6))))
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for repeat in range(args.repeats):
        order = list(runners) if repeat % 2 == 0 else list(reversed(runners))
        for name in order:
            seconds[name].append(runners[name].time(steps) / steps)
    eager_s, compiled_s = (statistics.median(seconds[name]) for name in ("eager", "compiled"))
    compile_s = max(0.0, first - compiled_s) + max(0.0, second - compiled_s)
    saved = eager_s - compiled_s
    return dict(
        eager=eager_s,
        compiled=compiled_s,
        compile=compile_s,
        pays_after=compile_s / saved if saved > 0 else None,
        graphs=graphs_first - graphs_before,
        recompiles=graphs_second - graphs_first,
        breaks=sum(breaks.values()),
        reasons=list(breaks),
    )


def run_case(name: str, args: argparse.Namespace, options: dict) -> tuple[list[str], list[str], list[str]]:
    from torch._dynamo.utils import counters

    torch._dynamo.reset()  # each case starts with empty dynamo caches and counters
    counters.clear()
    eager = build(name, None, args)
    try:
        compiled = build(name, options, args)
    except ValueError as error:  # the model refuses compile (complex FCCN) with a one-line reason
        row = f"| {name} | {', '.join(args.modes)} | {eager.batch_size} | | | | compile refused | | | | |"
        return [f"- {name}: {eager.description}"], [row], [f"- {name}: {error}"]
    compiled.module.load_state_dict(eager.module.state_dict())  # equal weights; in-place compile keeps the names
    rows, notes = [], []
    for mode in args.modes:
        try:
            result = measure(eager, compiled, mode, args)
        except Exception as error:  # noqa: BLE001 - an unsupported model is a result, not a crash
            message = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
            rows.append(f"| {name} | {mode} | {eager.batch_size} | | | | compile failed | | | | |")
            notes.append(f"- {name} {mode}: {type(error).__name__}: {message}")
            if os.environ.get("LIT_VISION_DEBUG"):
                traceback.print_exc()
            continue
        pays = "never" if result["pays_after"] is None else f"{result['pays_after']:.0f} steps"
        rows.append(
            f"| {name} | {mode} | {eager.batch_size} | {1000 * result['eager']:.1f} | {1000 * result['compiled']:.1f} "
            f"| {result['eager'] / result['compiled']:.2f}x | {result['compile']:.1f} | {pays} | {result['graphs']} "
            f"| {result['breaks']} | {result['recompiles']} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
        if result["reasons"]:
            notes.append(
                f"- {name} {mode}: graph breaks: " + "; ".join(r.splitlines()[0][:160] for r in result["reasons"])
            )
    return [f"- {name}: {eager.description}"], rows, notes


def machine_info(args: argparse.Namespace, options: dict) -> list[str]:
    import platform

    device = torch.device(args.device)
    if device.type == "cuda":
        accelerator = torch.cuda.get_device_name(device)
    else:
        accelerator = f"CPU, {torch.get_num_threads()} threads"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return [
        f"- device: {accelerator}; host CPU: {cpu}; python {platform.python_version()}, torch {torch.__version__}",
        f"- torch.compile options {options or '{}'} (inductor, cold cache); dtype {args.dtype}; repeats "
        f"{args.repeats} (median), warm-up {args.warmup}; 224 px batch {args.batch_224}",
        f"- command: `python {' '.join(sys.argv)}`",
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(ALL_CASES), choices=ALL_CASES, metavar="CASE",
                        help=f"rows to run (default: all): {', '.join(ALL_CASES)}")  # fmt: skip
    parser.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument("--mode", default="default",
                        choices=["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
                        help="torch.compile mode")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per side (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per side before timing (>= 2)")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="target duration of one timed repeat")
    parser.add_argument("--max-steps", type=int, default=50, help="cap on steps per timed repeat")
    parser.add_argument("--batch-224", type=int, default=4, help="batch size of the 224 px cases")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="bf16: autocast on both sides")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--warm-cache", action="store_true",
                        help="reuse the inductor cache of earlier runs (default: a fresh one, cold compile times)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 2 or args.batch_224 < 1:
        parser.error(f"--repeats={args.repeats}, --warmup={args.warmup} (>= 2) and --batch-224={args.batch_224} "
                     "must be >= 1")  # fmt: skip
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_up_device(args)
    options = {} if args.mode == "default" else {"mode": args.mode}
    cache = None if args.warm_cache else tempfile.TemporaryDirectory(prefix="compile-bench-")
    if cache is not None:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.environ["TRITON_CACHE_DIR"] = cache.name
    start = time.perf_counter()
    rows = [
        "| case | mode | batch | eager ms/step | compiled ms/step | speedup | compile s | pays after | graphs "
        "| graph breaks | recompiles (2nd step) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    described, notes = [], []
    for name in args.cases:
        case_start = time.perf_counter()
        description, case_rows, case_notes = run_case(name, args, options)
        described += [f"{description[0]} ({time.perf_counter() - case_start:.0f} s)"]
        rows += case_rows
        notes += case_notes
    print("\n".join([*rows, "", *described, *machine_info(args, options), *notes]))
    print(f"- total {time.perf_counter() - start:.0f} s")
    if cache is not None:
        cache.cleanup()


if __name__ == "__main__":
    main()
