"""Training toolkit: the training loop, checkpoints, run logs, distributed training, summary.

The `mtsnn` command (mtsnn.cli) is a thin layer over ``train``, ``evaluate_checkpoint`` and
``plot_run``.
"""

from mtsnn.training.checkpoint import (
    CHECKPOINT_JSON,
    Checkpoint,
    load_checkpoint,
    restore_model,
    restore_optimizer,
    save_checkpoint,
)
from mtsnn.training.config import (
    DATASET_DEFAULTS,
    EVAL_BATCH_SIZE,
    OPTIMIZERS,
    TrainConfig,
    cosine_lr,
    make_config,
)
from mtsnn.training.distributed import DistContext
from mtsnn.training.errors import CheckpointError, ConfigError, OutputDirError
from mtsnn.training.evaluation import EVAL_SPLITS, evaluate, evaluate_checkpoint
from mtsnn.training.learner import Learner
from mtsnn.training.plot import plot_run
from mtsnn.training.runlog import LOG_FILE, RunLog, read_log
from mtsnn.training.summary import SUMMARY_FILE
from mtsnn.training.trainer import RunOptions, default_run_name, train

__all__ = [
    "CHECKPOINT_JSON",
    "DATASET_DEFAULTS",
    "EVAL_BATCH_SIZE",
    "EVAL_SPLITS",
    "LOG_FILE",
    "OPTIMIZERS",
    "SUMMARY_FILE",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "DistContext",
    "Learner",
    "OutputDirError",
    "RunLog",
    "RunOptions",
    "TrainConfig",
    "cosine_lr",
    "default_run_name",
    "evaluate",
    "evaluate_checkpoint",
    "load_checkpoint",
    "make_config",
    "plot_run",
    "read_log",
    "restore_model",
    "restore_optimizer",
    "save_checkpoint",
    "train",
]
