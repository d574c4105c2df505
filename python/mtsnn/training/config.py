"""What defines a training run (stored in every checkpoint), and its defaults.

One table of defaults: TrainConfig's own field defaults are what `mtsnn train --dataset mnist`
uses, and DATASET_DEFAULTS holds what the other datasets change. Each field is declared once,
with its help text and bounds (mtsnn.fields.option), which the command line reads too.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from mtsnn import functional
from mtsnn.data import DATASET_NAMES, ImageDataset
from mtsnn.fields import Bounds, check_bounds, option
from mtsnn.models import MODELS, SpikingClassifier, build_model
from mtsnn.options import NEURON_OPTION_NAMES, NeuronOptions
from mtsnn.training.errors import ConfigError

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")

# Batch size used for evaluation; fixed so that `mtsnn eval` reproduces training's figures.
EVAL_BATCH_SIZE = 500

_POSITIVE_INT = Bounds(int, 1)
_NON_NEGATIVE_INT = Bounds(int, 0)


@dataclass(frozen=True)
class TrainConfig(NeuronOptions):
    """Everything that determines a run's result (given the data and the machine): the neuron's
    options (inherited from NeuronOptions, so that each is declared once and stays a flat field
    of stored configs and of the command line) and the training recipe.

    ``batch_size`` is the global batch of one optimiser step, split over ranks and over the
    ``grad_accum`` micro-batches of each rank. The learning rate follows a per-epoch cosine
    schedule from ``lr`` (epoch 0) towards 0 (see cosine_lr).

    ``validation`` images are held out of the training set (the same images for every run on
    that training set, see mtsnn.training.splits.split_validation) and evaluated every epoch: the
    split to choose a recipe on, so that the test set is only ever reported. ``rotation``
    (degrees) and ``scaling`` (relative) bound the random rotation and zoom that augmentation
    adds on top of the dataset's crop/flip.

    The defaults are MNIST's, sized for a 2-core CPU (about 40 s per epoch); DATASET_DEFAULTS
    holds what the other datasets change.
    """

    dataset: str = option("mnist", "the dataset", choices=DATASET_NAMES, group="data and model")
    model: str = option("convnet", "the network", choices=tuple(MODELS), group="data and model")
    timesteps: int = option(
        2, "time steps T", bounds=_POSITIVE_INT, metavar="T", group="data and model"
    )
    ann: bool = option(False, "train the ReLU twin (T = 1)", group="data and model")
    optimizer: str = option("adam", "the optimizer", choices=OPTIMIZERS, group="optimisation")
    lr: float = option(
        1e-3,
        "initial learning rate",
        bounds=Bounds(float, 0.0, low_open=True),
        group="optimisation",
    )
    momentum: float = option(
        0.9, "SGD momentum", bounds=Bounds(float, 0.0, 1.0, high_open=True), group="optimisation"
    )
    weight_decay: float = option(
        0.0, "weight decay", bounds=Bounds(float, 0.0), group="optimisation"
    )
    epochs: int = option(20, "epochs", bounds=_POSITIVE_INT, group="optimisation")
    batch_size: int = option(
        128,
        "global batch per optimizer step, split over processes",
        bounds=_POSITIVE_INT,
        group="optimisation",
    )
    grad_accum: int = option(
        1,
        "accumulate gradients over N micro-batches per step",
        bounds=_POSITIVE_INT,
        metavar="N",
        group="optimisation",
    )
    augment: bool = option(
        True,
        "random crop, plus horizontal flip where the dataset allows",
        group="data and model",
    )
    seed: int = option(0, "random seed", bounds=_NON_NEGATIVE_INT, group="optimisation")
    limit_train: int | None = option(
        None,
        "train on N images (a fixed random subset)",
        bounds=_POSITIVE_INT,
        metavar="N",
        group="data and model",
    )
    limit_test: int | None = option(
        None,
        "test on N images (a fixed random subset)",
        bounds=_POSITIVE_INT,
        metavar="N",
        group="data and model",
    )
    sync_bn: bool = option(
        False, "synchronise BatchNorm statistics over processes (CUDA)", group="running"
    )
    deterministic: bool = option(
        False,
        "deterministic algorithms only (bitwise-reproducible on the CPU)",
        group="optimisation",
    )
    validation: int = option(
        0,
        "hold N training images out and evaluate them every epoch: choose recipes on these, "
        "not on the test set (the same N images for every run)",
        bounds=_NON_NEGATIVE_INT,
        metavar="N",
        group="data and model",
    )
    rotation: float = option(
        0.0,
        "with --augment, also rotate by a random angle within +-DEGREES",
        bounds=Bounds(float, 0.0, 180.0),
        metavar="DEGREES",
        group="data and model",
    )
    scaling: float = option(
        0.0,
        "with --augment, also zoom by a random factor within 1 +- S",
        bounds=Bounds(float, 0.0, 1.0, high_open=True),
        metavar="S",
        group="data and model",
    )

    def __post_init__(self) -> None:
        try:  # the operator's own validation first: it is the authority on the neuron
            functional.check_options(self.neuron_options())
        except ValueError as err:
            raise ConfigError(str(err)) from err
        problem = check_bounds(self)
        if problem is not None:
            raise ConfigError(problem)
        if self.limit_train is not None and self.validation >= self.limit_train:
            raise ConfigError(
                f"validation ({self.validation} images) must be smaller than limit_train "
                f"({self.limit_train})"
            )
        if (self.rotation or self.scaling) and not self.augment:
            raise ConfigError("rotation and scaling are augmentations: they need augment on")

    def neuron_options(self) -> NeuronOptions:
        """The neuron's options of the model."""
        return NeuronOptions(**{name: getattr(self, name) for name in NEURON_OPTION_NAMES})

    def build_model(self, dataset: ImageDataset) -> SpikingClassifier:
        """The configured model, sized for ``dataset``'s images and classes."""
        return self.model_for(tuple(dataset.images.shape[1:]), len(dataset.classes))

    def model_for(self, image_shape: tuple[int, ...], num_classes: int) -> SpikingClassifier:
        """The configured model for images of ``image_shape`` [C, H, W] and ``num_classes``."""
        return build_model(
            self.model,
            in_channels=image_shape[0],
            num_classes=num_classes,
            image_size=tuple(image_shape[1:]),
            timesteps=self.timesteps,
            ann=self.ann,
            **self.neuron_options().as_dict(),
        )

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from to_dict's output; unknown or missing keys are an error.

        Fields added after the first release may be missing (configs stored before them): they
        take their defaults, which reproduce what those runs did.
        """
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - names
        missing = names - set(values) - set(LATER_FIELDS)
        if unknown or missing:
            raise ConfigError(
                f"config keys do not match: unknown {sorted(unknown)}, missing {sorted(missing)}"
            )
        return cls(**values)


# What the datasets other than MNIST change in TrainConfig's defaults. Fashion-MNIST's model is
# wider (convnet underfits it: training accuracy ~ test accuracy); CIFAR-10's is the usual
# ResNet-19 recipe and expects a GPU. What augmentation means per dataset is
# mtsnn.data.AUGMENTATION.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": {},
    "fashion-mnist": {"model": "convnet3"},
    "cifar10": {
        "model": "resnet19",
        "epochs": 200,
        "optimizer": "sgd",
        "lr": 0.1,
        "weight_decay": 5e-4,
    },
}

# Fields added after the first release: configs stored before them lack them, and their defaults
# give the behaviour from before them.
LATER_FIELDS: tuple[str, ...] = ("validation", "rotation", "scaling", "detach_reset")


def dataset_default(dataset: str, name: str) -> Any:
    """The default of TrainConfig field ``name`` for ``dataset``."""
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    return DATASET_DEFAULTS[dataset].get(name, fields[name].default)


def make_config(
    options: dict[str, Any], stored: TrainConfig | None = None, changeable: tuple[str, ...] = ()
) -> TrainConfig:
    """Combine explicitly given options (None: not given) with the stored or default ones.

    Without ``stored`` (a new run), missing options take the dataset's defaults. With
    ``stored`` (a resumed run), missing options keep their stored values, and giving a different
    value is an error except for the names in ``changeable``.

    Raises:
        ConfigError: an invalid value, or a change of a stored option that may not change.
    """
    given = {name: value for name, value in options.items() if value is not None}
    if stored is None:
        dataset = given.get("dataset", TrainConfig.dataset)
        return TrainConfig(**{**DATASET_DEFAULTS.get(dataset, {}), **given})
    for name, value in given.items():
        if name not in changeable and value != getattr(stored, name):
            raise ConfigError(
                f"cannot change {name} when resuming: the checkpoint has "
                f"{getattr(stored, name)!r}, got {value!r}"
            )
    return dataclasses.replace(stored, **given)


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch`` (0-based) out of ``epochs``: base * (1 + cos(pi * e / E)) / 2.

    A function of the epoch alone, so a resumed run (even one extended with more epochs after
    finishing) needs no scheduler state; epoch 0 always runs at ``base_lr``.
    """
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
