"""Target networks for the built-in experiments, with the layers the LPM and core-set read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """The two-conv residual block of ResNet-18."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 for 32x32 images as in the paper: 3x3 stem, no max-pool.

    ``width`` scales every channel count (1.0 is the paper's 64-128-256-512; 0.25 trains
    about an order of magnitude faster on a CPU).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> None:
        super().__init__()
        widths = [max(4, round(c * width)) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        layers, channels = [], widths[0]
        for i, out_channels in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(
                nn.Sequential(
                    BasicBlock(channels, out_channels, stride),
                    BasicBlock(out_channels, out_channels, 1),
                )
            )
            channels = out_channels
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.pool(x)))


class SmallCNN(nn.Module):
    """A three-block CNN for tiny images (the 8x8 digits of the demo)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3 = (max(4, round(c * width)) for c in (32, 64, 128))

        def block(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

        self.block1 = block(in_channels, c1, 1)
        self.block2 = block(c1, c2, 2)
        self.block3 = block(c2, c3, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(c3, num_classes)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(self.dropout(self.flatten(self.pool(x))))


class MLP(nn.Module):
    """Two hidden layers on the flattened image, no batch norm: for tiny images, and the one
    network whose training under torchrun (each rank's batch norm statistics its own) is
    the single process's."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: float = 1.0) -> None:
        super().__init__()
        hidden = max(4, round(256 * width))
        self.flatten = nn.Flatten()
        self.hidden1 = nn.Sequential(nn.LazyLinear(hidden), nn.ReLU())
        self.hidden2 = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.fc(self.hidden2(self.hidden1(self.flatten(x))))


class Hourglass(nn.Module):
    """One hourglass of Newell et al. (2016): a residual block at the current resolution plus
    a branch that max-pools, recurses ``depth - 1`` levels and upsamples back, added together,
    so every output pixel sees both local detail and the whole face."""

    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        self.skip = BasicBlock(channels, channels, 1)
        self.down = BasicBlock(channels, channels, 1)
        self.inner = (
            Hourglass(depth - 1, channels) if depth > 1 else BasicBlock(channels, channels, 1)
        )
        self.up = BasicBlock(channels, channels, 1)

    def forward(self, x):
        low = self.up(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(low, scale_factor=2, mode="nearest")


class HourglassStack(nn.Module):
    """An hourglass, a feature block and a 1x1 convolution to one heatmap per keypoint."""

    def __init__(self, channels: int, num_keypoints: int, depth: int) -> None:
        super().__init__()
        self.hourglass = Hourglass(depth, channels)
        self.features = nn.Sequential(
            BasicBlock(channels, channels, 1),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.heatmaps = nn.Conv2d(channels, num_keypoints, 1)
        # Start at all-zero heatmaps: random ones cost an MSE ~100x that of the targets, and
        # the first steps spent removing it left the network on the all-zero plateau (200
        # faces x 30 epochs with SGD: PCK ~0 at lr 0.05 to 5 from random heads, 0.86 at lr 5
        # from zero; 0.24 against 0.91 with RMSprop).
        nn.init.zeros_(self.heatmaps.weight)
        nn.init.zeros_(self.heatmaps.bias)

    def forward(self, x):
        features = self.features(self.hourglass(x))
        return features, self.heatmaps(features)


class StackedHourglass(nn.Module):
    """A small stacked hourglass (Newell et al. 2016) for keypoint heatmaps.

    Stem: 7x7 convolution at stride 2 and a residual block, so heatmaps come out at half the
    input resolution (32x32 for 64x64 faces: an argmax is then within 1 px of a point, which
    PCK@0.1 on 29 px faces, 2.9 px, needs). Then ``stacks`` hourglasses of ``depth``
    poolings (32 -> 4 px at depth 3), each predicting heatmaps; all but the last feed their
    features and heatmaps back into the next (intermediate supervision needs every stack's
    heatmaps, so the output is ``[B, stacks, num_keypoints, H/2, W/2]``). ``width`` scales
    the 64 channels of every block (0.5: 32, a CPU-sized network).
    """

    def __init__(
        self,
        num_keypoints: int = 14,
        in_channels: int = 3,
        width: float = 1.0,
        stacks: int = 2,
        depth: int = 3,
    ) -> None:
        super().__init__()
        channels = max(4, round(64 * width))
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 7, 2, 3, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            BasicBlock(channels, channels, 1),
        )
        self.stacks = nn.ModuleList(
            HourglassStack(channels, num_keypoints, depth) for _ in range(stacks)
        )
        self.merge_features = nn.ModuleList(
            nn.Conv2d(channels, channels, 1) for _ in range(stacks - 1)
        )
        self.merge_heatmaps = nn.ModuleList(
            nn.Conv2d(num_keypoints, channels, 1) for _ in range(stacks - 1)
        )

    def forward(self, x):
        x = self.stem(x)
        heatmaps = []
        for i, stack in enumerate(self.stacks):
            features, maps = stack(x)
            heatmaps.append(maps)
            if i < len(self.merge_features):
                x = x + self.merge_features[i](features) + self.merge_heatmaps[i](maps)
        return torch.stack(heatmaps, dim=1)


def _ssd(name: str) -> Callable[..., nn.Module]:
    """A builder of ``ll4al.models.ssd``, imported when first called: torchvision's detection
    models take seconds to import, which every classification round would otherwise pay."""

    def build(*args, **kwargs) -> nn.Module:
        from ll4al.models import ssd

        return getattr(ssd, name)(*args, **kwargs)

    return build


@dataclass(frozen=True)
class ModelSpec:
    """How to build a named target network and which of its layers the strategies read."""

    build: Callable[..., nn.Module]
    lpm_layers: list[str] = field(default_factory=list)
    embedding_layer: str = "flatten"


MODELS: dict[str, ModelSpec] = {
    "cifar-resnet18": ModelSpec(CifarResNet18, ["layer1", "layer2", "layer3", "layer4"]),
    "small-cnn": ModelSpec(SmallCNN, ["block1", "block2", "block3"]),
    "mlp": ModelSpec(MLP, ["hidden1", "hidden2"], embedding_layer="hidden2"),
    # The LPM reads the stem and each stack's features (before its heatmaps); core-set and
    # learning-loss-diverse use the last stack's features, pooled.
    "stacked-hourglass": ModelSpec(
        StackedHourglass,
        ["stem", "stacks.0.features", "stacks.1.features"],
        embedding_layer="stacks.1.features",
    ),
    # SSD's backbone levels: the first two feed the heads from MobileNet / VGG, the extra
    # blocks add the coarser ones; learning-loss-diverse clusters the last MobileNet level.
    "ssdlite320": ModelSpec(
        _ssd("ssdlite320"),
        [f"detector.backbone.features.{i}" for i in range(2)]
        + [f"detector.backbone.extra.{i}" for i in range(4)],
        embedding_layer="detector.backbone.features.1",
    ),
    "ssd300-vgg16": ModelSpec(
        _ssd("ssd300"),
        ["detector.backbone.features"] + [f"detector.backbone.extra.{i}" for i in range(5)],
        embedding_layer="detector.backbone.extra.0",
    ),
}


def build_model(name: str, num_outputs: int, in_channels: int, width: float) -> nn.Module:
    """Instantiate a registered model by name; ``num_outputs``: classes, or keypoints."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name].build(num_outputs, in_channels=in_channels, width=width)


def materialize(model: nn.Module, example_input: torch.Tensor) -> None:
    """Size a model's lazy layers (the MLP's first) with one eval-mode pass, so every
    parameter exists before an optimiser is built; no-op for a model without lazy layers."""
    if any(nn.parameter.is_lazy(p) for p in model.parameters()):
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(example_input)
        model.train(was_training)
