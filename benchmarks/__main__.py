"""``python -m benchmarks``: the suite (see ``benchmarks.run``)."""

from benchmarks.run import main

main()
