"""`python -m feedhub`: the same as the `feedhub` command."""

from feedhub.app.cli import main

main()
