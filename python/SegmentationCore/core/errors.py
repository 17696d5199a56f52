"""Exceptions raised by the engine.

Every error a user can cause derives from :class:`SegmentationError`, carries a
message that names the file / frame / setting at fault and says what to do,
and maps to a distinct exit code in the ``autoseg`` command.
"""


class SegmentationError(Exception):
    """Base class for errors caused by input, configuration or environment."""

    exit_code = 1


class ModelFolderError(SegmentationError):
    """A model folder is missing, unreadable, or does not match its manifest."""

    exit_code = 3


class PlateError(SegmentationError):
    """A plate frame is missing, unreadable or inconsistent with the shot."""

    exit_code = 4


class PromptError(SegmentationError):
    """A text prompt or interactive prompt is empty or cannot be parsed."""

    exit_code = 5


class OutputError(SegmentationError):
    """Writing results would clobber a plate or existing results, or failed."""

    exit_code = 6
