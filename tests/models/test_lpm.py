import pytest
import torch
from torch import nn

from ll4al import LearningLoss, ranking_loss
from ll4al.models.networks import CifarResNet18


def check_wrapper(model, layers, x):
    model.eval()
    with torch.no_grad():
        expected = model(x)
    wrapped = LearningLoss(model, layers, hidden=16, example_input=x)
    wrapped.eval()
    with torch.no_grad():
        output, predicted = wrapped(x)
    return wrapped, expected, output, predicted


def assert_registered(wrapped, n_layers):
    names = {n for n, _ in wrapped.named_parameters()}
    for k in range(n_layers):
        assert f"heads.{k}.0.weight" in names
        assert f"heads.{k}.0.weight" in wrapped.state_dict()
    assert "out.weight" in names


def test_cifar_resnet18():
    x = torch.randn(4, 3, 32, 32)
    layers = ["layer1", "layer2", "layer3", "layer4"]
    wrapped, expected, output, predicted = check_wrapper(CifarResNet18(width=0.25), layers, x)
    assert torch.equal(output, expected)
    assert predicted.shape == (4,)
    assert_registered(wrapped, 4)
    assert wrapped.heads[0][0].in_features == 16 and wrapped.heads[3][0].in_features == 128


def test_torchvision_resnet18():
    from torchvision.models import resnet18

    x = torch.randn(2, 3, 64, 64)
    layers = ["layer1", "layer2", "layer3", "layer4"]
    wrapped, expected, output, predicted = check_wrapper(resnet18(weights=None), layers, x)
    assert torch.equal(output, expected)
    assert predicted.shape == (2,)
    assert [h[0].in_features for h in wrapped.heads] == [64, 128, 256, 512]


def test_transformer_encoder_on_tokens():
    layer = nn.TransformerEncoderLayer(d_model=24, nhead=4, dim_feedforward=32, batch_first=True)
    model = nn.TransformerEncoder(layer, num_layers=3, enable_nested_tensor=False)
    x = torch.randn(5, 7, 24)  # [B, T, C]
    wrapped, expected, output, predicted = check_wrapper(model, ["layers.0", "layers.2"], x)
    assert torch.allclose(output, expected)
    assert predicted.shape == (5,)
    assert [h[0].in_features for h in wrapped.heads] == [24, 24]


def test_ssdlite_backbone():
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large

    detector = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=4)
    backbone = detector.backbone
    x = torch.randn(2, 3, 320, 320)
    layers = ["features.0", "features.1", "extra.0", "extra.3"]
    wrapped, expected, output, predicted = check_wrapper(backbone, layers, x)
    assert list(output) == list(expected)
    assert all(torch.equal(output[k], expected[k]) for k in expected)
    assert predicted.shape == (2,)
    assert_registered(wrapped, 4)


def test_unknown_layer_names_it_and_close_matches():
    with pytest.raises(ValueError, match=r"'layer5'.*layer1"):
        LearningLoss(CifarResNet18(width=0.25), ["layer5"])


class TwoBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(4, 3)
        self.unused = nn.Linear(4, 3)

    def forward(self, x):
        return self.used(x)


def test_layer_that_never_runs_is_reported():
    wrapped = LearningLoss(TwoBranch(), ["used", "unused"])
    with pytest.raises(RuntimeError, match="unused"):
        wrapped(torch.randn(2, 4))


def test_lazy_sizes_are_inferred_on_first_call():
    wrapped = LearningLoss(TwoBranch(), ["used"], hidden=8)
    _, predicted = wrapped(torch.randn(3, 4))
    assert predicted.shape == (3,)
    assert wrapped.heads[0][0].in_features == 3


def ranking_grads_on_target(stop_gradient: bool):
    torch.manual_seed(0)
    model = CifarResNet18(width=0.125)
    x = torch.randn(8, 3, 32, 32)
    wrapped = LearningLoss(model, ["layer2", "layer4"], hidden=8, example_input=x)
    wrapped.stop_gradient = stop_gradient
    _, predicted = wrapped(x)
    loss = ranking_loss(predicted, torch.arange(8.0))
    loss.backward()
    target_grad = sum(p.grad.abs().sum() for p in model.parameters() if p.grad is not None)
    lpm_grad = wrapped.out.weight.grad.abs().sum()
    return float(target_grad), float(lpm_grad)


def test_ranking_loss_reaches_target_only_without_stop_gradient():
    target_grad, lpm_grad = ranking_grads_on_target(stop_gradient=False)
    assert target_grad > 0 and lpm_grad > 0
    target_grad, lpm_grad = ranking_grads_on_target(stop_gradient=True)
    assert target_grad == 0 and lpm_grad > 0


def test_remove_hooks_leaves_model_unchanged():
    model = TwoBranch()
    wrapped = LearningLoss(model, ["used"])
    wrapped.remove_hooks()
    assert not model.used._forward_hooks


@pytest.mark.parametrize("channels_last", [False, True])
def test_pooling_gradient_is_the_mean_gradient_in_the_input_layout(channels_last):
    from ll4al.models.features import global_pool

    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    assert torch.autograd.gradcheck(global_pool, (x,))
    weights = torch.randn(3, 4, dtype=torch.float64)
    (global_pool(x) * weights).sum().backward()
    expected = (weights / 30)[:, :, None, None].expand(3, 4, 5, 6)
    assert torch.allclose(x.grad, expected)
    assert x.grad.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert torch.allclose(global_pool(x), x.mean(dim=(2, 3)))


def test_predicted_losses_are_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    x = torch.randn(64, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    model = CifarResNet18(width=0.25).to(memory_format=torch.channels_last)
    wrapped = LearningLoss(model, ["layer1", "layer4"], hidden=16, example_input=x[:2])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, predicted = wrapped(x)
    assert output.dtype == torch.bfloat16  # the target network itself runs in bf16
    assert predicted.dtype == torch.float32
    assert len(torch.unique(predicted)) == 64  # no ties from bf16 rounding


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("channels_last", [False, True])
def test_spatial_mean_in_chunks_is_the_mean_bitwise(dtype, channels_last, monkeypatch):
    from ll4al.models import features

    torch.manual_seed(0)
    x = torch.randn(9, 3, 7, 5).relu().to(dtype)  # 105 elements a sample
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = x.mean(dim=(2, 3))
    monkeypatch.setattr(features, "_CHUNK_ELEMENTS", 250)  # 2 samples a chunk
    sizes = []
    mean = torch.Tensor.mean
    monkeypatch.setattr(
        torch.Tensor, "mean", lambda t, *a, **k: sizes.append(len(t)) or mean(t, *a, **k)
    )
    pooled = features.spatial_mean(x)
    assert sizes == ([2, 2, 2, 2, 1] if dtype != torch.float32 else [9])  # fp32: no copy to save
    assert pooled.dtype == dtype and torch.equal(pooled, expected)


def test_predicted_losses_are_those_of_pooling_each_level_whole():
    """A bf16 batch whose 32x32 level is pooled in chunks scores as pooling it whole did."""
    torch.manual_seed(0)
    x = torch.randn(150, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    model = CifarResNet18(width=0.25).to(memory_format=torch.channels_last).eval()
    layers = ["layer1", "layer2", "layer3", "layer4"]
    wrapped = LearningLoss(model, layers, hidden=16, example_input=x[:2]).eval()
    maps = []
    for name in layers:
        getattr(model, name).register_forward_hook(lambda _m, _i, out: maps.append(out))
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, predicted = wrapped(x)
        heads = zip(maps, wrapped.heads, strict=True)
        pooled = torch.cat([head(m.mean(dim=(2, 3)).float()) for m, head in heads], dim=1)
        expected = wrapped.out(pooled).squeeze(1)
    assert maps[0].dtype == torch.bfloat16
    assert maps[0][0].numel() * len(x) > 2**20  # the first level does go in chunks
    assert torch.equal(predicted, expected)
