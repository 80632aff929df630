import pytest
import torch

from ll4al import runtime
from ll4al.models.networks import MODELS, CifarResNet18, SmallCNN, build_model
from ll4al.runtime import resolve_precision, select_device


def test_cifar_resnet18_matches_the_paper_network():
    model = CifarResNet18(width=1.0)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # the standard CIFAR ResNet-18
    assert model.conv1.kernel_size == (3, 3)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert CifarResNet18(width=0.25)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_registered_models_expose_their_lpm_layers():
    for name, spec in MODELS.items():
        model = build_model(name, num_outputs=3, in_channels=3, width=1.0)
        names = dict(model.named_modules())
        assert all(layer in names for layer in spec.lpm_layers)
        assert spec.embedding_layer in names
    assert SmallCNN(3, 1, 0.5)(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    with pytest.raises(ValueError, match="small-cnn"):
        build_model("vgg", 10, 3, 1.0)


def test_device_selection(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device().type == "cuda"
    assert select_device("cpu").type == "cpu"


def test_precision_resolution(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    monkeypatch.setattr(runtime, "_cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(runtime, "_cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8", cpu)
