"""The ``flowstone`` command line (click + rich): the only code that prints or exits."""

from flowstone.cli.app import cli, main

__all__ = ["cli", "main"]
