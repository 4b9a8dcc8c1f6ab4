"""Errors the CLI turns into one line on stderr and exit code 2 (never a traceback)."""

from __future__ import annotations


class PortsideError(Exception):
    """Base for errors that carry a message a user can act on."""


class ConfigError(PortsideError):
    """The configuration file (or a value it references) is wrong."""


class ComposeError(PortsideError):
    """A compose file could not be read; the message names file and line."""


class StateError(PortsideError):
    """The state store could not be opened or migrated."""


class ApplyError(PortsideError):
    """A plan could not be applied; nothing was changed."""


class StaleFileError(ApplyError):
    """A file changed between the snapshot and the apply."""
