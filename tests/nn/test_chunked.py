"""The chunked CPU kernels (window attention, MLP) give the layer-by-layer results: outputs and every gradient, in
float64 to the last bits and through whole models; they step aside where they do not apply."""

import pytest
import torch
import torch.nn.functional as F

from lit_vision.nn.chunked import chunking_applies, set_chunked
from lit_vision.nn.chunked_attention import chunked_window_attention
from lit_vision.nn.chunked_mlp import chunked_mlp
from lit_vision.nn.layers import Mlp
from lit_vision.nn.swin import SwinTransformer, WindowAttention, shifted_window_mask
from lit_vision.nn.vit import VisionTransformer


def grads_of(loss: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor | None]:
    for tensor in tensors:
        tensor.grad = None
    loss.backward()
    return [None if tensor.grad is None else tensor.grad.clone() for tensor in tensors]


def explicit_window_attention(x, qkv, proj, mask, heads, scale):
    windows, tokens, channels = x.shape
    q, k, v = qkv(x).view(windows, tokens, 3, heads, -1).permute(2, 0, 3, 1, 4)
    logits = (q * scale) @ k.transpose(-2, -1)
    logits = (logits.view(-1, *(mask.shape if mask.ndim == 4 else (1, *mask.shape))) + mask).view_as(logits)
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(windows, tokens, channels)
    return proj(out)


@pytest.mark.parametrize("per_window_mask", [False, True])
@pytest.mark.parametrize("qkv_bias", [True, False])
@pytest.mark.parametrize("chunk_tokens", [1, 20, 10_000])  # one image per chunk, a partial last chunk, one chunk
def test_window_attention_equals_explicit_in_float64(per_window_mask, qkv_bias, chunk_tokens):
    torch.manual_seed(0)
    images, windows_per_image, tokens, channels, heads = 5, 4, 9, 12, 3
    qkv = torch.nn.Linear(channels, 3 * channels, bias=qkv_bias).double()
    proj = torch.nn.Linear(channels, channels).double()
    bias = torch.randn(heads, tokens, tokens, dtype=torch.double, requires_grad=True)
    shift = torch.randn(windows_per_image, 1, tokens, tokens, dtype=torch.double)
    x = torch.randn(images * windows_per_image, tokens, channels, dtype=torch.double, requires_grad=True)
    target = torch.randn(images * windows_per_image, tokens, channels, dtype=torch.double)
    tensors = [x, bias, *qkv.parameters(), *proj.parameters()]
    mask = (bias + shift) if per_window_mask else bias
    ours = chunked_window_attention(x, qkv, proj, mask, heads, 0.5, chunk_tokens)
    reference = explicit_window_attention(x, qkv, proj, mask, heads, 0.5)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)
    ours_grads = grads_of((ours * target).sum(), tensors)
    mask = (bias + shift) if per_window_mask else bias
    reference_grads = grads_of((explicit_window_attention(x, qkv, proj, mask, heads, 0.5) * target).sum(), tensors)
    for ours_grad, reference_grad in zip(ours_grads, reference_grads, strict=True):
        torch.testing.assert_close(ours_grad, reference_grad, rtol=0, atol=1e-11)


def test_window_attention_computes_only_the_gradients_asked_for():
    torch.manual_seed(0)
    qkv, proj = torch.nn.Linear(8, 24), torch.nn.Linear(8, 8)
    qkv.requires_grad_(False)
    mask = torch.zeros(2, 4, 4)  # a constant mask: no gradient
    x = torch.randn(6, 4, 8)  # an input that needs none either (e.g. a frozen stem)
    chunked_window_attention(x, qkv, proj, mask, 2, 0.5, chunk_tokens=8).sum().backward()
    assert qkv.weight.grad is None and proj.weight.grad is not None and proj.bias.grad is not None


@pytest.mark.parametrize("rows", [1, 1000, 2500])
def test_mlp_equals_layer_by_layer_in_float64(rows):
    torch.manual_seed(0)
    mlp = Mlp(16, 40).double()
    x = torch.randn(rows, 16, dtype=torch.double, requires_grad=True)
    target = torch.randn(rows, 16, dtype=torch.double)
    tensors = [x, *mlp.parameters()]
    ours = chunked_mlp(x, mlp.fc1, mlp.fc2, chunk_rows=1024)
    reference = mlp.fc2(F.gelu(mlp.fc1(x)))
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)
    ours_grads = grads_of((ours * target).sum(), tensors)
    reference_grads = grads_of((mlp.fc2(F.gelu(mlp.fc1(x))) * target).sum(), tensors)
    for ours_grad, reference_grad in zip(ours_grads, reference_grads, strict=True):
        torch.testing.assert_close(ours_grad, reference_grad, rtol=0, atol=1e-11)


SWIN_SHIFTED = dict(img_size=28, patch_size=2, window_size=7, embed_dim=24, depths=(2, 2), num_heads=(2, 4))
SWIN_PADDED = dict(img_size=20, patch_size=2, window_size=4, embed_dim=16, depths=(2,), num_heads=(2,))
VIT = dict(img_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=4)


@pytest.mark.parametrize(
    ("network", "config"),
    [(SwinTransformer, SWIN_SHIFTED), (SwinTransformer, SWIN_PADDED), (VisionTransformer, VIT)],
    ids=["swin-shifted", "swin-padded", "vit"],
)
def test_models_train_the_same_with_and_without_chunking(network, config):
    torch.manual_seed(0)
    chunked = set_chunked(network(num_classes=5, **config).double().train(), True)
    plain = set_chunked(network(num_classes=5, **config).double().train(), False)
    plain.load_state_dict(chunked.state_dict())
    images = torch.randn(3, 3, config["img_size"], config["img_size"], dtype=torch.double)
    losses = []
    for model in (chunked, plain):
        torch.manual_seed(1)  # the same stochastic-depth draws
        losses.append(model(images).logsumexp(-1).sum())
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=1e-10)
    for loss in losses:
        loss.backward()
    for (name, ours), theirs in zip(chunked.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=0, atol=1e-10, msg=name)


def test_chunking_steps_aside_where_it_does_not_apply():
    x = torch.zeros(2, 3)
    assert not chunking_applies(x, False, 0, 0) and chunking_applies(x.half(), True, 0, 0)
    assert chunking_applies(x, None, 2**30, 2**20) and not chunking_applies(x, None, 100, 2**20)
    assert not chunking_applies(x.bfloat16(), None, 2**30, 0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not chunking_applies(x, None, 2**30, 0)
    mlp = Mlp(4, 8, drop=0.5).train()
    calls = []
    mlp.fc1.register_forward_hook(lambda *args: calls.append("fc1"))  # only the layer-by-layer path calls fc1
    mlp(torch.randn(3, 4))
    assert calls == ["fc1"]
    with torch.no_grad():
        mlp.eval()(torch.randn(3, 4))
    assert calls == ["fc1"]  # no dropout at eval: chunked


def test_attention_weights_and_dropout_take_the_explicit_path():
    torch.manual_seed(0)
    attention = WindowAttention(8, 2, (2, 2), attn_drop=0.0)
    x = torch.randn(8, 4, 8)
    mask = shifted_window_mask(4, 4, (2, 2), (1, 1))
    out, weights = attention(x, None, mask, need_weights=True)
    torch.testing.assert_close(out, attention(x, None, mask))
    assert weights.shape == (8, 2, 4, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(8, 2, 4))


def test_second_derivatives_are_refused_not_wrong():
    mlp = Mlp(4, 8)
    x = torch.randn(3, 4, requires_grad=True)
    (grad,) = torch.autograd.grad(chunked_mlp(x, mlp.fc1, mlp.fc2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice|does not require grad"):
        grad.sum().backward()
