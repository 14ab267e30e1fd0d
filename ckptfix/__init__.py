"""ckptfix: inspect and repair LR-scheduler state in training checkpoints."""

__version__ = "0.1.0"
