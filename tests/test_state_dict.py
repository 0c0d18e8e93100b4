import torch
from torch import nn

from lit_vision.models.classifier import strip_compile_prefix as classifier_rule
from lit_vision.preflight import strip_compile_prefix as preflight_rule
from lit_vision.state_dict import strip_compile_prefix


def test_one_rule_for_checkpoints_and_preflight():
    assert classifier_rule is strip_compile_prefix and preflight_rule is strip_compile_prefix


def test_strips_the_wrapper_wherever_torch_compile_puts_it():
    net = nn.Sequential(nn.Linear(2, 2))
    plain = set(nn.ModuleDict({"net": net}).state_dict())
    compiled_submodule = set(nn.ModuleDict({"net": torch.compile(net)}).state_dict())  # net._orig_mod.0.weight
    compiled_whole = set(torch.compile(nn.ModuleDict({"net": net})).state_dict())  # _orig_mod.net.0.weight
    assert compiled_submodule != plain and compiled_whole != plain
    assert {strip_compile_prefix(k) for k in compiled_submodule} == plain
    assert {strip_compile_prefix(k) for k in compiled_whole} == plain


def test_names_that_only_contain_the_text_are_kept():
    assert strip_compile_prefix("my_orig_mod.weight") == "my_orig_mod.weight"
    assert strip_compile_prefix("net.head_orig_mod") == "net.head_orig_mod"
