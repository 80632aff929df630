"""Target networks for the built-in experiments, with the layers the LPM and core-set read."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class ModelSpec:
    """How to build a named target network and which of its layers the strategies read."""

    cls: type[nn.Module]
    lpm_layers: list[str] = field(default_factory=list)
    embedding_layer: str = "flatten"


MODELS: dict[str, ModelSpec] = {
    "cifar-resnet18": ModelSpec(CifarResNet18, ["layer1", "layer2", "layer3", "layer4"]),
    "small-cnn": ModelSpec(SmallCNN, ["block1", "block2", "block3"]),
}


def build_model(name: str, num_classes: int, in_channels: int, width: float) -> nn.Module:
    """Instantiate a registered model by name."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name].cls(num_classes=num_classes, in_channels=in_channels, width=width)
