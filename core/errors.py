"""The base error of every ami package, and the errors more than one package raises."""


class AmiError(Exception):
    """Base class: the CLI turns these into a one-line message and a non-zero exit."""


class ModelError(AmiError, RuntimeError):
    """A model or its weights cannot be loaded."""
