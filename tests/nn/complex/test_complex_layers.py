import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lit_vision.nn.complex import (
    ComplexAdaptiveAvgPool2d,
    ComplexAvgPool2d,
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexDropout,
    ComplexDropout2d,
    ComplexLinear,
    MagnitudeMaxPool2d,
    ModReLU,
    NaiveComplexBatchNorm2d,
    SplitMaxPool2d,
    SplitPReLU,
    SplitReLU,
)


def crandn(*shape, dtype=torch.complex64):
    return torch.randn(*shape, dtype=dtype)


CONV_CASES = [
    {"kernel_size": 3, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "bias": True},
    {"kernel_size": (1, 3), "dilation": 2, "padding": (0, 2), "bias": True},
    {"kernel_size": 3, "groups": 2, "bias": True},
    {"kernel_size": 7, "stride": 2, "padding": 3},
]


@pytest.mark.parametrize("kwargs", CONV_CASES)
def test_conv_equals_native_complex_conv_with_bias_mapping(kwargs):
    torch.manual_seed(0)
    conv = ComplexConv2d(4, 6, **kwargs)
    x = crandn(2, 4, 9, 10)
    bias = None
    if conv.bias_real is not None:
        b_r, b_i = conv.bias_real, conv.bias_imag
        bias = torch.complex(b_r - b_i, b_r + b_i)
    args = {k: v for k, v in kwargs.items() if k not in ("kernel_size", "bias")}
    ref = F.conv2d(x, torch.complex(conv.weight_real, conv.weight_imag), bias, **args)
    out = conv(x)
    assert out.dtype == torch.complex64 and out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_conv_equals_official_four_convolution_layer():
    """Official layer: two real nn.Conv2d, out = [Wr*xr - Wi*xi] + i[Wr*xi + Wi*xr], each term with its own bias."""
    torch.manual_seed(0)
    conv_real, conv_imag = nn.Conv2d(3, 5, 3, padding=1), nn.Conv2d(3, 5, 3, padding=1)
    ours = ComplexConv2d(3, 5, 3, padding=1, bias=True)
    with torch.no_grad():
        ours.weight_real.copy_(conv_real.weight)
        ours.weight_imag.copy_(conv_imag.weight)
        ours.bias_real.copy_(conv_real.bias)
        ours.bias_imag.copy_(conv_imag.bias)
    x = crandn(2, 3, 8, 8)
    ref = torch.complex(conv_real(x.real) - conv_imag(x.imag), conv_real(x.imag) + conv_imag(x.real))
    torch.testing.assert_close(ours(x), ref, rtol=1e-5, atol=1e-5)


def test_bias_mapping_example():
    conv = ComplexConv2d(1, 1, 1, bias=True)
    with torch.no_grad():
        conv.weight_real.zero_()
        conv.weight_imag.zero_()
        conv.bias_real.fill_(1.0)
        conv.bias_imag.fill_(2.0)
    assert conv(crandn(1, 1, 2, 2)).flatten()[0] == torch.complex(torch.tensor(-1.0), torch.tensor(3.0))
    assert conv.complex_bias().item() == complex(-1, 3)


@pytest.mark.parametrize("kwargs", CONV_CASES[1:4])
def test_conv_gradients_equal_native_autograd(kwargs):
    torch.manual_seed(0)
    conv = ComplexConv2d(4, 6, **kwargs)
    x = crandn(2, 4, 9, 10).requires_grad_(True)
    params = [p for p in conv.parameters()]
    args = {k: v for k, v in kwargs.items() if k not in ("kernel_size", "bias")}

    def native(x):
        b_r, b_i = conv.bias_real, conv.bias_imag
        bias = None if b_r is None else torch.complex(b_r - b_i, b_r + b_i)
        return F.conv2d(x, torch.complex(conv.weight_real, conv.weight_imag), bias, **args)

    out, ref = conv(x), native(x)
    grad_out = torch.randn_like(out)
    ours = torch.autograd.grad(out, [x, *params], grad_out)
    theirs = torch.autograd.grad(ref, [x, *params], grad_out)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_conv_gradcheck_double():
    torch.manual_seed(0)
    conv = ComplexConv2d(2, 2, 3, stride=2, padding=1, bias=True).double()
    x = crandn(1, 2, 4, 4, dtype=torch.complex128).requires_grad_(True)
    w_r, w_i, b_r, b_i = (p.detach().clone().requires_grad_(True) for p in conv.parameters())

    def fn(x, w_r, w_i, b_r, b_i):
        return torch.func.functional_call(
            conv, {"weight_real": w_r, "weight_imag": w_i, "bias_real": b_r, "bias_imag": b_i}, (x,)
        )

    assert torch.autograd.gradcheck(fn, (x, w_r, w_i, b_r, b_i), fast_mode=True)


def test_conv_frozen_weights_still_give_input_gradient():
    conv = ComplexConv2d(2, 2, 3, padding=1).requires_grad_(False)
    x = crandn(1, 2, 4, 4).requires_grad_(True)
    torch.view_as_real(conv(x)).sum().backward()
    assert x.grad is not None and conv.weight_real.grad is None


def test_conv_stays_complex64_under_bf16_autocast():
    torch.manual_seed(0)
    conv = ComplexConv2d(4, 4, 3, padding=1, bias=True)
    x = crandn(2, 4, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(x)
    assert out.dtype == torch.complex64
    torch.testing.assert_close(out, conv(x))  # full float32 precision, not bfloat16


def test_linear_equals_complex_matmul():
    torch.manual_seed(0)
    lin = ComplexLinear(5, 3)
    x = crandn(4, 5)
    ref = x @ torch.complex(lin.weight_real, lin.weight_imag).T + torch.complex(lin.bias_real, lin.bias_imag)
    torch.testing.assert_close(lin(x), ref)


def test_all_parameters_and_buffers_are_real():
    modules = [ComplexConv2d(2, 2, 3, bias=True), NaiveComplexBatchNorm2d(2), ComplexBatchNorm2d(2), SplitPReLU()]
    modules += [ModReLU(2), ComplexLinear(2, 2)]
    for m in modules:
        for t in [*m.parameters(), *m.buffers()]:
            assert not t.is_complex()


def test_naive_bn_is_two_real_batch_norms():
    torch.manual_seed(0)
    bn = NaiveComplexBatchNorm2d(3)
    ref_r, ref_i = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    with torch.no_grad():
        for ours, ref in ((bn.bn_real, ref_r), (bn.bn_imag, ref_i)):
            ours.weight.uniform_(0.5, 2)
            ours.bias.uniform_(-1, 1)
            ref.load_state_dict(ours.state_dict())
    x = crandn(4, 3, 5, 5) * 3 + 1
    for _ in range(2):
        torch.testing.assert_close(bn(x), torch.complex(ref_r(x.real), ref_i(x.imag)))
    bn.eval(), ref_r.eval(), ref_i.eval()
    torch.testing.assert_close(bn(x), torch.complex(ref_r(x.real), ref_i(x.imag)))


def _correlated(n=4000, c=3):
    torch.manual_seed(0)
    re, im = torch.randn(n, c), torch.randn(n, c)
    # channel-dependent means, scales and correlation between the parts
    mix = torch.tensor([[2.0, 0.0], [1.5, 0.5]])
    re, im = mix[0, 0] * re + 3.0, mix[1, 0] * re + mix[1, 1] * im - 1.0
    return torch.complex(re, im).T.reshape(c, 8, 25, 20).permute(1, 0, 2, 3).contiguous()


def test_whitening_bn_whitens_each_channel():
    bn = ComplexBatchNorm2d(3)
    y = bn(_correlated())
    parts = torch.stack((y.real, y.imag), 0).permute(2, 0, 1, 3, 4).reshape(3, 2, -1)  # (C, 2, N)
    for c in range(3):
        assert parts[c].mean(1).abs().max() < 1e-5
        torch.testing.assert_close(torch.cov(parts[c], correction=0), torch.eye(2), atol=1e-3, rtol=0)


def test_whitening_bn_matches_eigendecomposition_reference_and_eval_uses_running_stats():
    x = _correlated()
    bn = ComplexBatchNorm2d(3, momentum=None)  # cumulative average: one batch -> running stats = batch stats
    with torch.no_grad():
        bn.weight_rr.fill_(1.5)
        bn.weight_ri.fill_(0.3)
        bn.weight_ii.fill_(0.8)
        bn.bias_real.fill_(0.1)
        bn.bias_imag.fill_(-0.2)
    y = bn(x)
    flat = torch.stack((x.real, x.imag), 0).permute(2, 0, 1, 3, 4).reshape(3, 2, -1).double()
    mean = flat.mean(2, keepdim=True)
    cov = torch.einsum("cin,cjn->cij", flat - mean, flat - mean) / flat.shape[2] + 1e-5 * torch.eye(2)
    evals, evecs = torch.linalg.eigh(cov)
    inv_sqrt = evecs @ torch.diag_embed(evals.rsqrt()) @ evecs.transpose(1, 2)
    gamma = torch.tensor([[1.5, 0.3], [0.3, 0.8]], dtype=torch.float64)
    ref = gamma @ inv_sqrt @ (flat - mean) + torch.tensor([0.1, -0.2], dtype=torch.float64)[:, None]
    ref = torch.complex(ref[:, 0], ref[:, 1]).to(torch.complex64).reshape(3, 8, 25, 20).transpose(0, 1)
    torch.testing.assert_close(y, ref, atol=1e-4, rtol=1e-4)
    n = flat.shape[2]
    torch.testing.assert_close(bn.running_var_ri.double(), cov[:, 0, 1] * n / (n - 1), rtol=1e-4, atol=1e-5)
    bn.eval()
    torch.testing.assert_close(bn(x), ref, atol=2e-3, rtol=1e-3)  # differs only by the n/(n-1) correction


def test_split_prelu_is_two_prelus():
    act = SplitPReLU()
    with torch.no_grad():
        act.slope_real.fill_(0.1)
        act.slope_imag.fill_(0.7)
    x = crandn(2, 3, 4, 4)
    ref = torch.complex(F.prelu(x.real, torch.tensor([0.1])), F.prelu(x.imag, torch.tensor([0.7])))
    torch.testing.assert_close(act(x), ref)
    assert [p.item() for p in SplitPReLU().parameters()] == [0.25, 0.25]  # official CPReLU init


def test_split_prelu_per_channel():
    act = SplitPReLU(3)
    with torch.no_grad():
        act.slope_real.copy_(torch.tensor([0.1, 0.2, 0.3]))
    x = crandn(2, 3, 4, 4)
    torch.testing.assert_close(act(x).real, F.prelu(x.real, act.slope_real))
    torch.testing.assert_close(act(x).imag, F.prelu(x.imag, act.slope_imag))


def test_split_relu_and_modrelu():
    x = crandn(2, 3, 4, 4)
    torch.testing.assert_close(SplitReLU()(x), torch.complex(x.real.relu(), x.imag.relu()))
    mod = ModReLU(3)
    with torch.no_grad():
        mod.bias.copy_(torch.tensor([-0.5, 0.0, 0.5]))
    out = mod(x)
    b = mod.bias.view(3, 1, 1)
    torch.testing.assert_close(out.abs(), (x.abs() + b).relu())
    kept = out.abs() > 0
    torch.testing.assert_close(torch.angle(out)[kept], torch.angle(x)[kept])
    assert mod(torch.zeros(1, 3, 2, 2, dtype=torch.complex64)).abs().max() == 0


def test_split_max_pool_pairs_parts_of_different_pixels():
    x = torch.tensor([[[[1 + 0j, 5j], [0j, 0j]]]], dtype=torch.complex64)
    assert SplitMaxPool2d(2)(x).item() == complex(1, 5)
    assert MagnitudeMaxPool2d(2)(x).item() == complex(0, 5)


def test_magnitude_max_pool_matches_brute_force_for_several_planes():
    torch.manual_seed(0)
    x = crandn(2, 3, 6, 6)  # N*C > 1: the case a published implementation gets wrong
    out = MagnitudeMaxPool2d(3, 2, 1)(x)
    windows = F.unfold(
        F.pad(torch.view_as_real(x).permute(0, 1, 4, 2, 3).reshape(2, 6, 6, 6), (1, 1, 1, 1)), 3, stride=2
    )
    windows = torch.view_as_complex(windows.view(2, 3, 2, 9, 9).permute(0, 1, 3, 4, 2).contiguous())  # (N, C, 9, L)
    ref = windows.gather(2, windows.abs().argmax(2, keepdim=True)).view(2, 3, 3, 3)
    torch.testing.assert_close(out, ref)
    ref_split = torch.complex(F.max_pool2d(x.real, 3, 2, 1), F.max_pool2d(x.imag, 3, 2, 1))
    torch.testing.assert_close(SplitMaxPool2d(3, 2, 1)(x), ref_split)


def test_average_pools_equal_complex_means():
    x = crandn(2, 3, 6, 6)
    torch.testing.assert_close(ComplexAvgPool2d(2)(x)[..., 0, 0], x[..., :2, :2].mean((-2, -1)))
    torch.testing.assert_close(ComplexAdaptiveAvgPool2d(2)(x)[..., 1, 0], x[..., 3:, :3].mean((-2, -1)))
    torch.testing.assert_close(ComplexAdaptiveAvgPool2d(1)(x), x.mean((-2, -1), keepdim=True))


def test_dropout_drops_whole_values_and_channels():
    torch.manual_seed(0)
    x = torch.complex(torch.ones(8, 16, 4, 4), torch.ones(8, 16, 4, 4))
    out = ComplexDropout(0.5).train()(x)
    assert torch.equal(out.real == 0, out.imag == 0)
    assert set(out.real.unique().tolist()) == {0.0, 2.0}
    out2d = ComplexDropout2d(0.5).train()(x)
    dropped = out2d.real.flatten(2).amax(2) == 0
    assert dropped.any() and torch.equal(dropped, out2d.abs().flatten(2).amin(2) == 0)  # whole channels
    assert torch.equal(ComplexDropout(0.5).eval()(x), x)


@pytest.mark.parametrize(
    "layer",
    [ComplexConv2d(3, 4, 3), NaiveComplexBatchNorm2d(3), ComplexBatchNorm2d(3), SplitPReLU(), SplitMaxPool2d(2)],
    ids=lambda m: type(m).__name__,
)
def test_real_input_raises_one_line_type_error(layer):
    with pytest.raises(
        TypeError, match=rf"^{type(layer).__name__}.*expects a complex64 tensor.*got a real float32"
    ) as e:
        layer(torch.zeros(1, 3, 4, 4))
    assert "\n" not in str(e.value)


def test_wrong_channels_and_dtype_raise():
    with pytest.raises(
        ValueError, match=r"ComplexConv2d\(in_channels=3\) expects a complex tensor of shape \(B, 3, H, W\)"
    ):
        ComplexConv2d(3, 4, 3)(crandn(1, 2, 4, 4))
    with pytest.raises(TypeError, match="ComplexConv2d has torch.float32 parameters and expects complex64 input"):
        ComplexConv2d(3, 4, 3)(crandn(1, 3, 4, 4, dtype=torch.complex128))
    with pytest.raises(ValueError, match="padding='same'"):
        ComplexConv2d(3, 4, 3, padding="same")
    with pytest.raises(ValueError, match="p=1.0"):
        ComplexDropout(1.0)


def test_real_layer_given_complex_input_is_a_torch_error():
    """What our layers replace: PyTorch's own BN and PReLU reject complex tensors."""
    with pytest.raises((RuntimeError, NotImplementedError)):
        nn.BatchNorm2d(3)(crandn(2, 3, 4, 4))
