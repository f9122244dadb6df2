"""`python -m crispml.cli`: the same as the `crispml` console script."""

from crispml.cli.app import main

main()
