"""MT-LIF spiking models (and their ReLU twins) for MNIST, Fashion-MNIST and CIFAR-10.

Every model uses direct encoding (the first conv + BN runs once on the static image, broadcast
over T) and reads out the mean over T of its last layer's logits; see SpikingClassifier.
"""

from mtsnn.models.base import GlobalAvgPool, SpikingClassifier, conv_bn
from mtsnn.models.convnet import ConvNet
from mtsnn.models.registry import MODELS, build_model, count_parameters
from mtsnn.models.resnet import RESNET19_STAGES, ResNet19, SpikingBasicBlock
from mtsnn.models.vgg import VGG, VGG_CONFIGS

__all__ = [
    "MODELS",
    "RESNET19_STAGES",
    "VGG",
    "VGG_CONFIGS",
    "ConvNet",
    "GlobalAvgPool",
    "ResNet19",
    "SpikingBasicBlock",
    "SpikingClassifier",
    "build_model",
    "conv_bn",
    "count_parameters",
]
