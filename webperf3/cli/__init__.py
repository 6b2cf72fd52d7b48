"""The command line, as httpie lays it out: :func:`main` (``main(argv) -> int``)
in :mod:`.main`, the parser apart in :mod:`.options`, exit codes in
:mod:`.exitstatus`, and one module per subcommand that is more than a call:
``status``, ``service`` (``install-service``) and ``export``."""

from .main import main

__all__ = ["main"]
