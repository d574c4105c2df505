"""What defines a training run (stored in every checkpoint), and the defaults per dataset."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from mtsnn import functional
from mtsnn.data import DATASET_NAMES, ImageDataset
from mtsnn.models import MODELS, SpikingClassifier, build_model
from mtsnn.training.errors import ConfigError

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")

# Batch size used for evaluation; fixed so that `mtsnn eval` reproduces training's figures.
EVAL_BATCH_SIZE = 500

# Per-dataset defaults, applied where an option is not given. MNIST's and Fashion-MNIST's are
# sized for a 2-core CPU (about 40 s and 75 s per epoch); CIFAR-10's are the usual ResNet-19
# recipe and expect a GPU. What augmentation means per dataset is mtsnn.data.AUGMENTATION.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": dict(
        model="convnet",
        epochs=20,
        batch_size=128,
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.0,
        augment=True,
    ),
    "fashion-mnist": dict(
        model="convnet3",  # convnet underfits Fashion-MNIST (training accuracy ~ test accuracy)
        epochs=20,
        batch_size=128,
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.0,
        augment=True,
    ),
    "cifar10": dict(
        model="resnet19",
        epochs=200,
        batch_size=128,
        optimizer="sgd",
        lr=0.1,
        weight_decay=5e-4,
        augment=True,
    ),
}

# Fields added after the first release: configs stored before them lack them, and their defaults
# give the behaviour from before them.
LATER_FIELDS: tuple[str, ...] = ("validation", "rotation", "scaling")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run's result (given the data and the machine).

    ``batch_size`` is the global batch of one optimiser step, split over ranks and over the
    ``grad_accum`` micro-batches of each rank. The learning rate follows a per-epoch cosine
    schedule from ``lr`` (epoch 0) towards 0 (see cosine_lr).

    ``validation`` images are held out of the training set (the same images for every run on
    that training set, see mtsnn.training.data.split_validation) and evaluated every epoch: the
    split to choose a recipe on, so that the test set is only ever reported. ``rotation``
    (degrees) and ``scaling`` (relative) bound the random rotation and zoom that augmentation
    adds on top of the dataset's crop/flip.
    """

    dataset: str = "mnist"
    model: str = "convnet"
    timesteps: int = 2
    num_thresholds: int = 3
    threshold: float = 1.0
    decay: float = 0.5
    reset: str = "soft"
    surrogate: str = "rectangle"
    width: float = 1.0
    ann: bool = False
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 12
    batch_size: int = 128
    grad_accum: int = 1
    augment: bool = False
    seed: int = 0
    limit_train: int | None = None
    limit_test: int | None = None
    sync_bn: bool = False
    deterministic: bool = False
    validation: int = 0
    rotation: float = 0.0
    scaling: float = 0.0

    def __post_init__(self) -> None:
        choices = {"dataset": DATASET_NAMES, "model": tuple(MODELS), "optimizer": OPTIMIZERS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        try:
            functional.check_options(**self.neuron_options())
        except ValueError as err:
            raise ConfigError(str(err)) from err
        positive_ints = ("timesteps", "epochs", "batch_size", "grad_accum")
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("limit_train", "limit_test"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if self.validation < 0:
            raise ConfigError(f"validation must be >= 0, got {self.validation}")
        if self.limit_train is not None and self.validation >= self.limit_train:
            raise ConfigError(
                f"validation ({self.validation} images) must be smaller than limit_train "
                f"({self.limit_train})"
            )
        if not 0 <= self.rotation <= 180:
            raise ConfigError(f"rotation must be in [0, 180] degrees, got {self.rotation}")
        if not 0 <= self.scaling < 1:
            raise ConfigError(f"scaling must be in [0, 1), got {self.scaling}")
        if (self.rotation or self.scaling) and not self.augment:
            raise ConfigError("rotation and scaling are augmentations: they need augment on")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")

    def neuron_options(self) -> dict[str, Any]:
        """The MTLIF options of the model."""
        return dict(
            num_thresholds=self.num_thresholds,
            threshold=self.threshold,
            decay=self.decay,
            reset=self.reset,
            surrogate=self.surrogate,
            width=self.width,
        )

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
            **self.neuron_options(),
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


def make_config(
    options: dict[str, Any], stored: TrainConfig | None = None, changeable: tuple[str, ...] = ()
) -> TrainConfig:
    """Combine explicitly given options (None: not given) with the stored or default ones.

    Without ``stored`` (a new run), missing options take the dataset's defaults, then
    TrainConfig's. With ``stored`` (a resumed run), missing options keep their stored values, and
    giving a different value is an error except for the names in ``changeable``.

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
