"""Exceptions meant for people.

Every error rtsep raises on bad input is an :class:`RtsepError` whose message says
what was wrong, with which value, and what to do. The command line prints the
message on one line to stderr and exits with :data:`EXIT_USAGE`.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
"""An unexpected internal error (a bug): traceback printed."""
EXIT_USAGE = 2
"""Bad input: missing/corrupt file, missing model, wrong shapes, no JACK server."""


class RtsepError(Exception):
    """Base class of every error caused by input, configuration or environment."""


class AudioError(RtsepError):
    """An audio file is missing, unreadable, empty, or has an unusable format."""


class ModelError(RtsepError):
    """A model artifact is missing, corrupt, truncated or does not match its config."""


class ConfigError(RtsepError):
    """A configuration value or file is invalid."""


class DatasetError(RtsepError):
    """A dataset folder is missing, empty, or not in the MUSDB18-HQ layout."""


class JackError(RtsepError):
    """No JACK server, or the server went away."""
