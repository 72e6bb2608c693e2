"""Learning: tasks, BPTT / truncated BPTT / e-prop / FORCE, one training loop with exact resume.

- ``TrainConfig``: every training option (``config``).
- ``ClassificationTask``, ``SequenceFitTask``: data format, loss, evaluation (``tasks``).
- ``train(model, task, train_data, val_data, cfg, ...) -> TrainResult`` and the one history
  writer ``write_history_csv`` (``training``).
- checkpoints that resume only the run that wrote them (``checkpoints``: ``run_hash``).
- e-prop gradients for the classifier and both activity networks (``eprop``).
- FORCE (recursive least squares) for rate networks fitted to a recording (``force``).
"""

from neurocircuit.learning.checkpoints import load_checkpoint, run_hash
from neurocircuit.learning.config import TrainConfig
from neurocircuit.learning.eprop import (
    eprop_classifier_gradients,
    eprop_rate_gradients,
    eprop_spiking_activity_gradients,
    random_feedback,
)
from neurocircuit.learning.force import RecursiveLeastSquares, force_pass, rls_update
from neurocircuit.learning.tasks import ClassificationTask, SequenceFitTask, detach_state
from neurocircuit.learning.training import (
    TrainResult,
    make_optimizer,
    make_scheduler,
    train,
    write_history_csv,
)

__all__ = [
    "ClassificationTask",
    "RecursiveLeastSquares",
    "SequenceFitTask",
    "TrainConfig",
    "TrainResult",
    "detach_state",
    "eprop_classifier_gradients",
    "eprop_rate_gradients",
    "eprop_spiking_activity_gradients",
    "force_pass",
    "load_checkpoint",
    "make_optimizer",
    "make_scheduler",
    "random_feedback",
    "rls_update",
    "run_hash",
    "train",
    "write_history_csv",
]
