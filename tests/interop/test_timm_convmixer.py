import pytest
import timm
import torch

from lit_vision.interop import from_timm, to_timm
from lit_vision.nn.convmixer import ConvMixer


def randomize(model: torch.nn.Module) -> torch.nn.Module:
    """Random weights and BN statistics, so a wrong mapping cannot hide behind default init."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0, 0.05)
    return model


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(dim=48, depth=3, kernel_size=7, patch_size=7, act_layer=torch.nn.ReLU, num_classes=10),
        dict(dim=32, depth=2, kernel_size=5, patch_size=2, in_chans=1, num_classes=5),
        dict(dim=16, depth=1, kernel_size=9, patch_size=4),
    ],
)
def test_from_timm_equal_logits(kwargs):
    theirs = randomize(timm.models.convmixer.ConvMixer(**kwargs)).eval()
    ours = from_timm(theirs)
    x = torch.randn(2, kwargs.get("in_chans", 3), 28, 28)
    assert isinstance(ours, ConvMixer)
    assert (ours(x) - theirs(x)).abs().max() <= 1e-5


def test_to_timm_equal_logits_full_preset():
    ours = randomize(ConvMixer(dim=768, depth=32, kernel_size=7, patch_size=7, act_layer="relu", num_classes=10)).eval()
    theirs = to_timm(ours)
    assert type(theirs).__module__.startswith("timm.")
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max() <= 1e-5


def test_round_trip_keeps_every_tensor():
    theirs = randomize(timm.create_model("convmixer_768_32", pretrained=False, num_classes=3))
    back = to_timm(from_timm(theirs))
    for key, value in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def test_unsupported_family_is_clear_error():
    with pytest.raises(ValueError, match="no timm converter for ResNet"):
        from_timm(timm.create_model("resnet18", pretrained=False))
