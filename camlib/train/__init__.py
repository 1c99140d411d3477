"""Training: ``loop`` (fit, evaluate, atomic checkpoints, fit_or_load) and ``finetune`` (VGG16-GAP
fine-tuning, torchrun-ready). ``from camlib.train import fit_or_load`` works as before the package existed."""

from camlib.train.loop import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    CheckpointMismatchError,
    CheckpointUnreadableError,
    History,
    TrainingDivergedError,
    atomic_save,
    evaluate,
    fit,
    fit_or_load,
    load_checkpoint,
    save_checkpoint,
)

__all__ = ["CHECKPOINT_FORMAT", "Checkpoint", "CheckpointMismatchError", "CheckpointUnreadableError", "History",
           "TrainingDivergedError", "atomic_save", "evaluate", "fit", "fit_or_load", "load_checkpoint",
           "save_checkpoint"]
