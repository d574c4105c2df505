"""mtsnn.models: shapes, direct encoding, the ANN twin, gradients, repr and the registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtsnn.models import MODELS, ConvNet, SpikingClassifier, build_model, count_parameters
from mtsnn.nn import MTLIF

# Small inputs keep the big CIFAR models fast; each model accepts any size above its stride.
INPUTS = {
    "convnet": (1, 28),
    "convnet3": (1, 28),
    "vgg11": (3, 16),
    "vgg16": (3, 16),
    "resnet19": (3, 8),
}


def make(name: str, **kwargs) -> tuple[SpikingClassifier, torch.Tensor]:
    """The model ``name`` with 10 classes, and a batch of 2 random images for it."""
    torch.manual_seed(0)
    channels, size = INPUTS[name]
    model = build_model(name, in_channels=channels, num_classes=10, image_size=size, **kwargs)
    return model, torch.randn(2, channels, size, size)


def test_every_model_has_test_inputs():
    assert set(INPUTS) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("timesteps", [1, 2])
def test_output_shape(name, timesteps):
    model, images = make(name, timesteps=timesteps)
    assert model.timesteps == timesteps
    assert model(images).shape == (2, 10)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_ann_twin_has_the_same_layers_with_relu_and_one_step(name):
    snn, images = make(name, timesteps=2)
    ann, _ = make(name, timesteps=4, ann=True)
    assert ann.timesteps == 1 and ann.ann
    assert ann(images).shape == (2, 10)
    assert not any(isinstance(m, MTLIF) for m in ann.modules())
    relus = sum(isinstance(m, nn.ReLU) for m in ann.modules())
    assert relus == sum(isinstance(m, MTLIF) for m in snn.modules()) > 0
    assert count_parameters(ann) == count_parameters(snn)
    shapes = [tuple(p.shape) for p in ann.parameters()]
    assert shapes == [tuple(p.shape) for p in snn.parameters()]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_first_conv_runs_once_and_is_broadcast_without_copy(name):
    model, images = make(name, timesteps=2)
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    calls, strides = [], []
    first_conv.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    model.body[0].register_forward_pre_hook(lambda module, args: strides.append(args[0].stride(0)))
    model(images)
    assert calls == [images.shape]  # once, on [B, C, H, W]: not T times, not on [T*B, ...]
    assert strides == [0]  # the encoder's output is expanded over T, not copied


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_reach_every_parameter(name):
    model, images = make(name, timesteps=2)
    loss = nn.functional.cross_entropy(model(images), torch.tensor([3, 7]))
    loss.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, param_name


def test_convnet_blocks_follow_channels():
    model = ConvNet(channels=(8, 16, 32), hidden=20)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32]
    assert sum(isinstance(m, MTLIF) for m in model.modules()) == 4  # one per conv, one hidden
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)  # 28 -> 14 -> 7 -> 3
    with pytest.raises(ValueError, match="at least 8"):
        ConvNet(channels=(8, 16, 32), image_size=7)
    with pytest.raises(ValueError, match="at least one conv block"):
        ConvNet(channels=())


def test_parameter_counts():
    counts = {name: count_parameters(make(name)[0]) for name in MODELS}
    assert 0.5e6 < counts["convnet"] < 1e6
    assert 0.6e6 < counts["convnet3"] < 0.7e6
    assert 9.0e6 < counts["vgg11"] < 9.5e6
    assert 14.5e6 < counts["vgg16"] < 15e6
    assert 12.5e6 < counts["resnet19"] < 12.9e6  # the published ResNet-19 has about 12.6 M


def test_neuron_options_reach_every_neuron():
    model, _ = make("resnet19", num_thresholds=5, surrogate="sigmoid", width=0.5, decay=0.25)
    neurons = [m for m in model.modules() if isinstance(m, MTLIF)]
    assert len(neurons) == 1 + 2 * 8 + 1  # stem, two per basic block, hidden linear
    for neuron in neurons:
        assert (neuron.num_thresholds, neuron.surrogate, neuron.width, neuron.decay) == (
            5,
            "sigmoid",
            0.5,
            0.25,
        )


def test_repr_is_readable():
    text = repr(ConvNet(timesteps=2, num_thresholds=4))
    assert text.startswith("ConvNet(\n  timesteps=2, ann=False\n")
    assert "MTLIF(num_thresholds=4" in text and "Linear(in_features=3136" in text
    ann_text = repr(ConvNet(ann=True))
    assert "timesteps=1, ann=True" in ann_text and "ReLU()" in ann_text
    assert "config='vgg11'" in repr(make("vgg11")[0])


def test_spikes_are_graded():
    model, images = make("convnet", timesteps=2, num_thresholds=3)
    outputs = []
    model.body[0].register_forward_hook(lambda module, args, out: outputs.append(out))
    model(images)
    values = outputs[0].unique()
    assert values.min() >= 0 and values.max() <= 3
    assert torch.equal(values, values.round())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(name="lenet"), "unknown model 'lenet'; choose one of convnet, convnet3, vgg11"),
        (dict(name="vgg11", image_size=8), "needs images of at least 16x16"),
        (dict(name="convnet", timesteps=0), "timesteps must be >= 1"),
        (dict(name="convnet", num_thresholds=0), "num_thresholds"),
        (dict(name="convnet", surrogate="gauss"), "surrogate"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    options = dict(in_channels=1, num_classes=10, image_size=28) | kwargs
    with pytest.raises(ValueError, match=message):
        build_model(options.pop("name"), **options)
