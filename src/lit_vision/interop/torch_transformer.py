"""Weight conversion between ``torch.nn.Transformer`` and ``lit_vision.nn.transformer.Transformer`` (both directions).

Parameter names: torch's ``self_attn.in_proj_*`` is our ``self_attn.qkv``; the decoder's ``multihead_attn.in_proj_*`` is
split into our ``cross_attn.q`` (first d_model rows) and ``cross_attn.kv`` (the rest); ``out_proj`` is ``proj``;
``linear1``/``linear2`` are ``ffn.fc1``/``ffn.fc2``; norms keep their names. Ours is always batch-first; torch's weights do
not depend on ``batch_first``, so a sequence-first torch model converts too (``to_torch`` builds a batch-first one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_vision.nn.transformer import Transformer

__all__ = ["from_torch", "to_torch"]

_LAYER_RENAMES = {
    "self_attn.in_proj_weight": "self_attn.qkv.weight",
    "self_attn.in_proj_bias": "self_attn.qkv.bias",
    "self_attn.out_proj.weight": "self_attn.proj.weight",
    "self_attn.out_proj.bias": "self_attn.proj.bias",
    "multihead_attn.out_proj.weight": "cross_attn.proj.weight",
    "multihead_attn.out_proj.bias": "cross_attn.proj.bias",
    "linear1.weight": "ffn.fc1.weight",
    "linear1.bias": "ffn.fc1.bias",
    "linear2.weight": "ffn.fc2.weight",
    "linear2.bias": "ffn.fc2.bias",
}


def _activation_name(layer: nn.Module) -> str:
    activation = layer.activation
    if activation is F.relu or isinstance(activation, nn.ReLU):
        return "relu"
    if activation is F.gelu or (isinstance(activation, nn.GELU) and activation.approximate == "none"):
        return "gelu"
    raise ValueError(f"activation {activation!r} of {type(layer).__name__} is not supported; use 'relu' or 'gelu'")


def _check_standard(model: nn.Transformer) -> None:
    for stack, layer_type in ((model.encoder, nn.TransformerEncoderLayer), (model.decoder, nn.TransformerDecoderLayer)):
        if not all(isinstance(layer, layer_type) for layer in getattr(stack, "layers", [None])):
            raise ValueError(f"{type(stack).__name__} has custom layers; only stacks of {layer_type.__name__} convert")
        attentions = [layer.self_attn for layer in stack.layers]
        attentions += [layer.multihead_attn for layer in stack.layers if hasattr(layer, "multihead_attn")]
        if any(not attn._qkv_same_embed_dim or attn.bias_k is not None for attn in attentions):
            raise ValueError("attention with kdim/vdim != d_model or add_bias_kv=True cannot be converted")
    if (model.encoder.norm is None) != (model.decoder.norm is None):
        raise ValueError("encoder.norm and decoder.norm must be both set or both None to convert")


def from_torch(model: nn.Transformer) -> Transformer:
    """A ``Transformer`` with the configuration and weights of ``model`` (a ``torch.nn.Transformer``)."""
    _check_standard(model)
    layer = model.encoder.layers[0]
    ours = Transformer(
        d_model=layer.self_attn.embed_dim,
        nhead=layer.self_attn.num_heads,
        num_encoder_layers=len(model.encoder.layers),
        num_decoder_layers=len(model.decoder.layers),
        dim_feedforward=layer.linear1.out_features,
        dropout=layer.dropout.p,
        activation=_activation_name(layer),
        layer_norm_eps=layer.norm1.eps,
        norm_first=layer.norm_first,
        bias=layer.linear1.bias is not None,
        final_norm=model.encoder.norm is not None,
    )
    d_model = ours.d_model
    state: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        prefix, _, name = key.partition(".layers.")
        if not name:  # encoder.norm.* / decoder.norm.*
            state[key] = value
            continue
        index, _, param = name.partition(".")
        base = f"{prefix}.layers.{index}."
        if param.startswith("multihead_attn.in_proj_"):
            kind = param.rsplit("_", 1)[-1]  # weight / bias
            state[base + f"cross_attn.q.{kind}"] = value[:d_model]
            state[base + f"cross_attn.kv.{kind}"] = value[d_model:]
        else:
            state[base + _LAYER_RENAMES.get(param, param)] = value
    ours.load_state_dict(state)
    return ours.to(next(model.parameters()).device)


def to_torch(model: Transformer) -> nn.Transformer:
    """A batch-first ``torch.nn.Transformer`` with the configuration and weights of ``model``.

    Without final norms in ``model`` (post-norm default), torch's ``encoder.norm`` / ``decoder.norm`` are set to None.
    """
    layer = model.encoder.layers[0]
    activation = {F.relu: "relu", F.gelu: "gelu"}[layer.ffn.act]
    theirs = nn.Transformer(
        d_model=model.d_model,
        nhead=model.nhead,
        num_encoder_layers=len(model.encoder.layers),
        num_decoder_layers=len(model.decoder.layers),
        dim_feedforward=layer.ffn.fc1.out_features,
        dropout=layer.dropout1.p,
        activation=activation,
        layer_norm_eps=layer.norm1.eps,
        batch_first=True,
        norm_first=layer.norm_first,
        bias=layer.ffn.fc1.bias is not None,
    )
    if model.encoder.norm is None:
        theirs.encoder.norm = None
        theirs.decoder.norm = None
    renames = {ours: torch_name for torch_name, ours in _LAYER_RENAMES.items()}
    state: dict[str, Tensor] = {}
    ours_state = model.state_dict()
    for key, value in ours_state.items():
        prefix, _, name = key.partition(".layers.")
        if not name:
            state[key] = value
            continue
        index, _, param = name.partition(".")
        base = f"{prefix}.layers.{index}."
        if param.startswith("cross_attn.q."):
            kind = param.rsplit(".", 1)[-1]
            state[base + f"multihead_attn.in_proj_{kind}"] = torch.cat(
                [value, ours_state[base + f"cross_attn.kv.{kind}"]]
            )
        elif not param.startswith("cross_attn.kv."):
            state[base + renames.get(param, param)] = value
    theirs.load_state_dict(state)
    return theirs.to(next(model.parameters()).device)
