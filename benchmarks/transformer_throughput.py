"""Train-step throughput of ``lit_vision.nn.transformer.Transformer`` against ``torch.nn.Transformer``.

Both stacks have the same sizes and the same weights (torch's is made with ``interop.torch_transformer.to_torch``), see
the same batch-first inputs and masks (causal target, optionally key padding on source and target), and train with the
same AdamW settings. A train step is forward + MSE loss + backward + optimizer step. After a warm-up the two are timed in
interleaved repeats (alternating which goes first), and the median over repeats is reported, so a shared, noisy machine
favours neither. Throughput is counted in target tokens per second (batch × target length per step).

    python benchmarks/transformer_throughput.py
    python benchmarks/transformer_throughput.py --d-model 512 --layers 6 --batch 64 --device cuda --dtype bf16

Prints markdown table rows (ratio = ours / torch; > 1 means ours is faster) followed by the machine and versions.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lit_vision.interop.torch_transformer import to_torch
from lit_vision.nn.transformer import Transformer


def make_inputs(args: argparse.Namespace, padding: bool, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    batch, src_len, tgt_len, d = args.batch, args.src_len, args.tgt_len, args.d_model
    inputs = {
        "src": torch.randn(batch, src_len, d, generator=g),
        "tgt": torch.randn(batch, tgt_len, d, generator=g),
        "target": torch.randn(batch, tgt_len, d, generator=g),
    }
    if padding:  # right padding, lengths uniform in [len/2, len]
        src_lengths = torch.randint(src_len // 2, src_len + 1, (batch,), generator=g)
        tgt_lengths = torch.randint(tgt_len // 2, tgt_len + 1, (batch,), generator=g)
        inputs["src_key_padding_mask"] = torch.arange(src_len)[None] >= src_lengths[:, None]
        inputs["tgt_key_padding_mask"] = torch.arange(tgt_len)[None] >= tgt_lengths[:, None]
        inputs["memory_key_padding_mask"] = inputs["src_key_padding_mask"]
    return {k: v.to(device) for k, v in inputs.items()}


def train_step_fn(
    model: nn.Module, inputs: dict[str, torch.Tensor], is_torch: bool, autocast: contextlib.AbstractContextManager
) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    masks = {k: v for k, v in inputs.items() if k.endswith("padding_mask")}
    tgt_len = inputs["tgt"].shape[1]
    if is_torch:  # torch needs the mask tensor; the flag is only a hint there
        causal = {
            "tgt_mask": nn.Transformer.generate_square_subsequent_mask(tgt_len, device=inputs["tgt"].device),
            "tgt_is_causal": True,
        }
    else:
        causal = {"tgt_is_causal": True}

    def step() -> None:
        with autocast:
            out = model(inputs["src"], inputs["tgt"], **masks, **causal)
            loss = F.mse_loss(out.float(), inputs["target"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def time_steps(step: Callable[[], None], steps: int, device: torch.device) -> float:
    """Seconds per step over ``steps`` steps."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def run_case(args: argparse.Namespace, padding: bool, device: torch.device) -> tuple[float, float, list[float]]:
    """(ours tokens/s, torch tokens/s, per-repeat ratios) for one input setting."""
    torch.manual_seed(0)
    ours = Transformer(
        args.d_model,
        args.nhead,
        args.layers,
        args.layers,
        args.ffn,
        dropout=args.dropout,
        activation=args.activation,
        norm_first=args.norm_first,
    )
    theirs = to_torch(ours)
    ours.to(device).train()
    theirs.to(device).train()
    inputs = make_inputs(args, padding, device)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    steps = {
        "ours": train_step_fn(ours, inputs, False, autocast),
        "torch": train_step_fn(theirs, inputs, True, autocast),
    }
    for step in steps.values():
        time_steps(step, args.warmup, device)
    seconds: dict[str, list[float]] = {"ours": [], "torch": []}
    for repeat in range(args.repeats):
        order = ("ours", "torch") if repeat % 2 == 0 else ("torch", "ours")
        for name in order:
            seconds[name].append(time_steps(steps[name], args.steps, device))
    tokens = args.batch * args.tgt_len
    ratios = [t / o for o, t in zip(seconds["ours"], seconds["torch"], strict=True)]
    return tokens / statistics.median(seconds["ours"]), tokens / statistics.median(seconds["torch"]), ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--nhead", type=int, default=8)
    parser.add_argument("--layers", type=int, default=3, help="encoder and decoder layers each")
    parser.add_argument("--ffn", type=int, default=1024)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--activation", choices=["relu", "gelu"], default="relu")
    parser.add_argument("--norm-first", action="store_true")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--src-len", type=int, default=64)
    parser.add_argument("--tgt-len", type=int, default=64)
    parser.add_argument(
        "--padding",
        choices=["both", "yes", "no"],
        default="both",
        help="key padding masks on source/target (yes), causal only (no), or a row for each",
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per model")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32", help="autocast dtype")
    args = parser.parse_args()
    device = torch.device(args.device)

    config = (
        f"d_model {args.d_model}, {args.layers}+{args.layers} layers, {args.nhead} heads, ffn {args.ffn}, "
        f"batch {args.batch}, src/tgt {args.src_len}/{args.tgt_len}, {args.dtype}"
    )
    print("| config | masks | ours tgt tok/s | torch.nn.Transformer tgt tok/s | ratio (median) | ratio range |")
    print("|---|---|---|---|---|---|")
    for padding in {"both": (True, False), "yes": (True,), "no": (False,)}[args.padding]:
        ours, theirs, ratios = run_case(args, padding, device)
        masks = "causal + key padding" if padding else "causal"
        print(
            f"| {config} | {masks} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.3f} | "
            f"{min(ratios):.2f}–{max(ratios):.2f} |",
            flush=True,
        )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"\n{device.type}: {name}, {torch.get_num_threads()} threads; torch {torch.__version__}, "
        f"python {platform.python_version()}; warm-up {args.warmup}, {args.repeats} interleaved repeats × "
        f"{args.steps} steps"
    )


if __name__ == "__main__":
    main()
