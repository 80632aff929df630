"""torchvision's SSD returning its raw head outputs in train and eval mode alike.

torchvision's SSD returns either the batch's summed losses (train mode) or post-processed
detections (eval mode), never the per-image loss the LPM learns to rank. ``SSDDetector``
runs SSD's own pieces (transform, backbone, head, anchors) and returns the raw head outputs;
``ll4al.tasks.detection.DetectionTask`` turns them into per-image losses and detections.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large
from torchvision.models.detection.ssd import SSD

from ll4al.tasks.detection import SSDOutput


class SSDDetector(nn.Module):
    """A torchvision SSD that takes a batch tensor ``[B, 3, H, W]`` in [0, 1] and returns an
    ``SSDOutput`` in both train and eval mode. The LPM hooks ``detector.backbone.*`` levels."""

    def __init__(self, detector: SSD) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor) -> SSDOutput:
        detector = self.detector
        original = [(int(images.shape[-2]), int(images.shape[-1]))] * len(images)
        resized, _ = detector.transform(list(images))
        features = detector.backbone(resized.tensors)
        if isinstance(features, torch.Tensor):
            features = OrderedDict([("0", features)])
        levels = list(features.values())
        head = detector.head(levels)
        anchors = detector.anchor_generator(resized, levels)
        return SSDOutput(
            head["cls_logits"],
            head["bbox_regression"],
            anchors,
            [tuple(size) for size in resized.image_sizes],
            original,
            detector,
        )


def ssdlite320(num_classes: int, in_channels: int = 3, width: float = 1.0) -> SSDDetector:
    """SSDlite320 on MobileNetV3-Large (``width`` its width multiplier), from scratch: CPU runs.

    Randomly initialised: nothing is downloaded. ``num_classes`` excludes the background.
    """
    _check_rgb(in_channels)
    return SSDDetector(
        ssdlite320_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=num_classes + 1, width_mult=width
        )
    )


def ssd300(num_classes: int, in_channels: int = 3, width: float = 1.0) -> SSDDetector:
    """SSD300 on VGG-16, the paper's detector, from scratch (``width`` must be 1)."""
    _check_rgb(in_channels)
    if width != 1.0:
        raise ValueError("ssd300-vgg16 has no width multiplier; use width 1.0")
    return SSDDetector(
        ssd300_vgg16(weights=None, weights_backbone=None, num_classes=num_classes + 1)
    )


def _check_rgb(in_channels: int) -> None:
    if in_channels != 3:
        raise ValueError(f"torchvision's SSD takes RGB images, not {in_channels} channels")
