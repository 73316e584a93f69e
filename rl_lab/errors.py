"""Errors that reach the user as one clear paragraph instead of a traceback."""


class RLLabError(Exception):
    """Base class: the message says what is wrong and what to do about it."""


class ConfigError(RLLabError):
    """The composed configuration is invalid (unknown name, wrong type, out of range)."""


class CheckpointError(RLLabError):
    """A checkpoint is missing, truncated, corrupt or of the wrong kind."""


class TrainingDivergedError(RLLabError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class InterruptedRunError(RLLabError):
    """The run received SIGINT/SIGTERM; a checkpoint was written and it can be resumed."""


class DatasetError(RLLabError):
    """A dataset is missing, truncated, corrupt, or cannot be downloaded here."""


class RunDirError(ConfigError):
    """The run directory cannot be used: another process owns it, it holds a finished run, or
    it cannot be written."""


class RunPrunedError(RLLabError):
    """A search's pruner stopped the run at a periodic evaluation: its results so far were
    unpromising. The run records ``status: pruned``; it is not an error of the run itself."""
