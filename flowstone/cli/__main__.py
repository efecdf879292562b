"""``python -m flowstone.cli``: the same as the ``flowstone`` command."""

from flowstone.cli.app import main

main()
