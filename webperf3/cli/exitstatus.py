"""Named exit codes, in a module of their own (as httpie keeps them) so that
every subcommand can return them without importing the CLI back."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1  # something failed while running
    USAGE = 2  # bad options or environment: nothing was started
