"""`python -m feedhub`: the same as the `feedhub` command."""

from feedhub.cli import main

main()
