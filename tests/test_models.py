"""Heatmap models: shapes, parameter counts, backbone/head split, validation."""

from __future__ import annotations

import pytest
import torch

from ceph_doctor.errors import ConfigError
from ceph_doctor.models import HRNet, UNet, build_model, count_parameters

K = 19


def _image(batch: int = 2, height: int = 64, width: int = 64) -> torch.Tensor:
    return torch.randn(batch, 1, height, width)


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_unet_output_shape_follows_stride(stride):
    model = build_model("unet", K, stride=stride)
    out = model(_image(2, 64, 48))
    assert out.shape == (2, K, 64 // stride, 48 // stride)
    assert model.stride == stride and model.num_landmarks == K
    assert out.is_contiguous()  # plain NCHW even though the weights are channels-last


def test_hrnet_w18_forward_backward_at_stride_4():
    torch.manual_seed(0)
    model = build_model("hrnet", K, width=18)
    out = model(_image(2, 64, 64))
    assert out.shape == (2, K, 16, 16)
    assert model.stride == 4 and model.num_landmarks == K
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.backbone.stem[0][0].weight.grad.abs().sum() > 0  # gradient reaches the input layer


def test_hrnet_parameter_counts_match_published():
    # Published (3-channel input, 17 joints): W32 28.5 M, W48 63.6 M.
    w32 = count_parameters(build_model("hrnet", K, width=32))
    assert 28_000_000 <= w32 <= 30_000_000
    w48_published = count_parameters(build_model("hrnet", 17, width=48, in_channels=3))
    assert abs(w48_published - 63_600_000) < 100_000


def test_unet_is_small():
    assert 100_000 < count_parameters(build_model("unet", K)) < 1_000_000


@pytest.mark.parametrize("arch", ["unet", "hrnet"])
def test_backbone_and_head_split_all_parameters(arch):
    model = build_model(arch, K, width=18)
    children = dict(model.named_children())
    assert set(children) == {"backbone", "head"}
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    head_ids = {id(p) for p in model.head.parameters()}
    assert backbone_ids.isdisjoint(head_ids)
    assert backbone_ids | head_ids == {id(p) for p in model.parameters()}
    assert all(name.startswith(("backbone.", "head.")) for name in model.state_dict())


@pytest.mark.parametrize("arch", ["unet", "hrnet"])
def test_freezing_backbone_leaves_only_head_trainable(arch):
    model = build_model(arch, K, width=18)
    model.backbone.requires_grad_(False)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("head.") for name in trainable)
    assert count_parameters(model, trainable_only=True) == count_parameters(model.head)
    assert count_parameters(model) > count_parameters(model, trainable_only=True)


@pytest.mark.parametrize("arch", ["unet", "hrnet"])
def test_initial_heatmaps_are_near_zero(arch):
    torch.manual_seed(0)
    model = build_model(arch, K, width=18).eval()
    with torch.no_grad():
        out = model(_image(2, 64, 64))
    assert out.abs().max() < 0.1
    output_conv = model.head if arch == "hrnet" else model.head[-1]
    assert torch.count_nonzero(output_conv.bias) == 0


@pytest.mark.parametrize("arch", ["unet", "hrnet"])
def test_init_is_deterministic_given_seed(arch):
    torch.manual_seed(123)
    first = build_model(arch, K, width=18).state_dict()
    torch.manual_seed(123)
    second = build_model(arch, K, width=18).state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_unet_eval_works_with_batch_of_one():
    model = build_model("unet", K).eval()
    with torch.no_grad():
        assert model(_image(1, 32, 32)).shape == (1, K, 16, 16)


def test_unet_group_norm_trains_with_batch_of_one():
    model = UNet(K, norm="group", channels=8)
    model(_image(1, 32, 32)).mean().backward()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arch": "vgg"}, "arch must be one of ('hrnet', 'resnet', 'unet'), got 'vgg'"),
        ({"arch": "hrnet", "width": 40}, "width for hrnet must be one of (18, 32, 48), got 40"),
        ({"arch": "hrnet", "stride": 2}, "stride for hrnet must be 4"),
        ({"arch": "unet", "stride": 8}, "stride for unet must be one of (1, 2, 4), got 8"),
        ({"arch": "unet", "channels": 0}, "channels for unet must be at least 1"),
        ({"arch": "unet", "num_landmarks": 0}, "num_landmarks must be at least 1"),
    ],
)
def test_bad_settings_raise_helpful_errors(kwargs, message):
    kwargs = {"num_landmarks": K, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        build_model(kwargs.pop("arch"), kwargs.pop("num_landmarks"), **kwargs)
    assert isinstance(caught.value, ConfigError)  # the CLI prints it as one line


def test_hrnet_accepts_its_only_stride_explicitly():
    assert build_model("hrnet", K, width=18, stride=4).stride == 4


@pytest.mark.parametrize(("arch", "size", "multiple"), [("unet", (72, 64), 16), ("hrnet", (64, 48), 32)])
def test_input_size_not_divisible_raises_naming_the_size(arch, size, multiple):
    model = build_model(arch, K, width=18).eval()
    assert model.size_multiple == multiple
    height, width = size
    with pytest.raises(ValueError, match=f"{height}x{width}.*divisible by {multiple}"):
        model(_image(1, height, width))


def test_direct_constructors_validate_too():
    with pytest.raises(ValueError, match="stride"):
        UNet(K, stride=3)
    with pytest.raises(ValueError, match="width"):
        HRNet(K, width=64)


def test_resnet18_simplebaseline_is_one_file_and_trains_a_step():
    """An architecture added as one file of models/architectures: ResNet-18 as published (11 176 512
    weights without its classifier, for RGB input), deconvolutions to stride 4, the config accepts it."""
    from ceph_doctor.config import load_config
    from ceph_doctor.models.architectures import names
    from ceph_doctor.models.architectures.resnet import ResNetBackbone

    assert "resnet" in names()
    rgb = ResNetBackbone(in_channels=3)
    assert sum(p.numel() for module in (rgb.stem, rgb.layers) for p in module.parameters()) == 11_176_512
    model = build_model("resnet", K)
    assert (model.stride, model.backbone.out_channels) == (4, 256)
    heatmaps = model(_image(2, 64, 96))
    assert heatmaps.shape == (2, K, 16, 24)
    heatmaps.mean().backward()
    assert model.backbone.stem[0].weight.grad is not None
    with pytest.raises(ValueError, match="not divisible by 32"):
        model.check_input_size(70, 64)
    assert load_config(None, ["model.arch=resnet"])["model"]["arch"] == "resnet"


@pytest.mark.parametrize("depth, published", [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032)])
def test_resnet_depths_have_the_published_size(depth, published):
    """torchvision's published parameter counts, less the ImageNet classifier (512 or 2048 → 1000)."""
    from ceph_doctor.models.architectures.resnet import ResNetBackbone

    classifier = (2048 if depth == 50 else 512) * 1000 + 1000
    rgb = ResNetBackbone(in_channels=3, depth=depth)
    assert sum(p.numel() for module in (rgb.stem, rgb.layers) for p in module.parameters()) == published - classifier


def torchvision_resnet18_state(seed: int = 0) -> dict:
    """A state dict laid out as torchvision's resnet18 (conv1, bn1, layer1-4 of two basic blocks, a
    downsample on the first block of layers 2-4, fc), with random values: written from that layout."""
    generator = torch.Generator().manual_seed(seed)
    state = {}

    def conv(name, out, inp, k):
        state[f"{name}.weight"] = torch.randn(out, inp, k, k, generator=generator)

    def bn(name, channels):
        state.update({f"{name}.weight": torch.rand(channels, generator=generator),
                      f"{name}.bias": torch.randn(channels, generator=generator),
                      f"{name}.running_mean": torch.randn(channels, generator=generator),
                      f"{name}.running_var": torch.rand(channels, generator=generator) + 0.5,
                      f"{name}.num_batches_tracked": torch.tensor(7)})

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    channels = 64
    for layer, width in enumerate((64, 128, 256, 512), 1):
        for block in range(2):
            prefix, inp = f"layer{layer}.{block}", channels if block == 0 else width
            conv(f"{prefix}.conv1", width, inp, 3), bn(f"{prefix}.bn1", width)
            conv(f"{prefix}.conv2", width, width, 3), bn(f"{prefix}.bn2", width)
            if block == 0 and layer > 1:
                conv(f"{prefix}.downsample.0", width, inp, 1), bn(f"{prefix}.downsample.1", width)
        channels = width
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512, generator=generator), torch.zeros(1000)
    return state


def test_an_imagenet_resnet_in_torchvisions_layout_starts_the_backbone(tmp_path):
    from ceph_doctor.config import load_config
    from ceph_doctor.errors import ConfigError
    from ceph_doctor.pipeline import Pipeline

    state = torchvision_resnet18_state()
    torch.save(state, tmp_path / "resnet18-imagenet.pth")
    config = load_config(None, ["model.arch=resnet", "data.input_size=[64, 64]",
                                f"model.pretrained={tmp_path / 'resnet18-imagenet.pth'}"])
    torch.manual_seed(0)
    fresh = Pipeline.from_config(load_config(None, ["model.arch=resnet", "data.input_size=[64, 64]"]), K).model
    torch.manual_seed(0)
    model = Pipeline.from_config(config, K).model
    backbone = model.backbone
    assert torch.equal(backbone.layers[2][0].downsample[0].weight, state["layer3.0.downsample.0.weight"])
    assert torch.equal(backbone.layers[3][1].bn2.running_var, state["layer4.1.bn2.running_var"])
    assert torch.equal(backbone.stem[1].bias, state["bn1.bias"])
    # One grey channel: the RGB kernels summed, so a grey image replicated to RGB responds the same.
    assert torch.allclose(backbone.stem[0].weight, state["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(backbone.deconvs[0].weight, fresh.backbone.deconvs[0].weight)  # not in ImageNet: fresh
    deeper = load_config(None, ["model.arch=resnet", "model.resnet.depth=34", "data.input_size=[64, 64]",
                                f"model.pretrained={tmp_path / 'resnet18-imagenet.pth'}"])
    with pytest.raises(ConfigError, match="model.pretrained: .* does not fit this model's backbone"):
        Pipeline.from_config(deeper, K)
