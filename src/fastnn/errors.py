"""The exceptions fastnn raises besides ValueError and TypeError."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite.

    The network is left at its state at the start of the diverging epoch (its
    last finite state). ``history`` holds the epochs run, the last one
    non-finite.
    """

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


class ModelFormatError(ValueError):
    """A model file is not a valid fastnn model (the cause is chained)."""
