"""Input encoders: turn a batch into the shared representation ``e`` that every model starts from.

The encoder is chosen by the dataset schema: ``schema["encoder"]`` when present (image datasets
write it at preparation from their ``encoder`` option), else ``schema["input"]``. So every model
on a dataset shares the same encoder and only the multi-task part differs.

Image encoders read ``batch["image"]`` (uint8 [B, C, H, W]) and scale it to [0, 1] floats;
``schema["image"]`` gives C, H and W. They do not use ``embedding_dim``.

- ``cnn``: a small LeNet-style CNN in the spirit of the MultiMNIST encoder of Sener & Koltun,
  *Multi-Task Learning as Multi-Objective Optimization*, NeurIPS 2018.
- ``resnet18``: torchvision's ResNet-18 (He et al., *Deep Residual Learning for Image
  Recognition*, CVPR 2016), randomly initialised (``weights=None``: nothing is downloaded), with
  the classifier removed. Spatial features are averaged with ``mean`` rather than
  ``AdaptiveAvgPool2d``, whose CUDA backward has no deterministic implementation.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from .layers import make_norm

ENCODERS: dict[str, Callable[..., nn.Module]] = {}


def register_encoder(kind: str) -> Callable:
    def wrap(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        ENCODERS[kind] = cls
        return cls
    return wrap


def build_encoder(schema: dict[str, Any], embedding_dim: int, input_norm: str) -> nn.Module:
    kind = schema.get("encoder") or schema.get("input", "tabular")
    if kind not in ENCODERS:
        raise ValueError(f"schema input kind {kind!r} has no encoder; known: {sorted(ENCODERS)}")
    return ENCODERS[kind](schema, embedding_dim=embedding_dim, input_norm=input_norm)


@register_encoder("tabular")
class TabularEncoder(nn.Module):
    """Concatenate one embedding per categorical feature (id 0 = unknown) with the dense features.

    All categorical fields share one embedding table with per-field offsets (one lookup per batch).
    ``input_norm`` normalises the concatenation ("batch", "affine" or "none").
    """

    def __init__(self, schema: dict[str, Any], embedding_dim: int, input_norm: str) -> None:
        super().__init__()
        vocab = [int(f["vocab_size"]) for f in schema["categorical"]]
        self.n_dense = len(schema["dense"])
        self.embedding = nn.Embedding(max(sum(vocab), 1), embedding_dim)
        offsets = torch.tensor([0, *vocab[:-1]], dtype=torch.long).cumsum(0) if vocab else torch.zeros(0, dtype=torch.long)
        self.register_buffer("offsets", offsets, persistent=False)
        self.out_dim = len(vocab) * embedding_dim + self.n_dense
        self.norm = make_norm(input_norm, self.out_dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if self.offsets.numel():
            parts.append(self.embedding(batch["categorical"] + self.offsets).flatten(1))
        if self.n_dense:
            parts.append(batch["dense"])
        return self.norm(torch.cat(parts, dim=1))


def image_pixels(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """uint8 images [B, C, H, W] as floats in [0, 1], channels-last (the faster convolution layout
    on CPUs and GPUs; the encoders keep their convolution weights in it too)."""
    return batch["image"].float().div_(255.0).contiguous(memory_format=torch.channels_last)


@register_encoder("cnn")
class SmallCNN(nn.Module):
    """Three conv3x3 -> BatchNorm -> ReLU -> max-pool(2) blocks (16, 32, 64 filters; 36x36 -> 18
    -> 9 -> 4), flattened and mapped to 128 features by a linear layer with ReLU; ``input_norm``
    on top."""

    CHANNELS = (16, 32, 64)
    OUT_DIM = 128

    def __init__(self, schema: dict[str, Any], embedding_dim: int, input_norm: str) -> None:
        super().__init__()
        image = schema["image"]
        layers: list[nn.Module] = []
        c_in, h, w = int(image["channels"]), int(image["height"]), int(image["width"])
        for c_out in self.CHANNELS:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
            c_in, h, w = c_out, h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"cnn encoder: {image['height']}x{image['width']} images are too small (need 8x8 or more)")
        self.features = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * h * w, self.OUT_DIM), nn.ReLU())
        self.features.to(memory_format=torch.channels_last)
        self.out_dim = self.OUT_DIM
        self.norm = make_norm(input_norm, self.out_dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.norm(self.features(image_pixels(batch)))


@register_encoder("resnet18")
class ResNet18(nn.Module):
    """torchvision ResNet-18 trunk (random init; the first conv takes ``channels`` inputs), spatial
    mean of the last stage -> 512 features; ``input_norm`` on top."""

    def __init__(self, schema: dict[str, Any], embedding_dim: int, input_norm: str) -> None:
        super().__init__()
        from torchvision.models import resnet18  # imported here: only image datasets need torchvision

        net = resnet18(weights=None)
        channels = int(schema["image"]["channels"])
        if channels != 3:
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
        self.trunk.to(memory_format=torch.channels_last)
        self.out_dim = net.fc.in_features
        self.norm = make_norm(input_norm, self.out_dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.norm(self.trunk(image_pixels(batch)).mean(dim=(2, 3)))
