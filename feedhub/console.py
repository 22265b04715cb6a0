"""The `feedhub` console script's entry point, kept free of imports.

Parsing workers are spawned, and a spawned process imports the script that started
its parent (as `__mp_main__`). The script pip writes imports its entry point's module
at the top: were that `feedhub.app.cli`, every worker would load the whole hub (SQLAlchemy,
pydantic, requests, feedgen), about 45 MiB and 0.25 s of CPU each, to parse feeds.
"""


def main() -> None:
    """Run the command line (`feedhub.app.cli.main`)."""
    from feedhub.app.cli import main as run_command_line

    run_command_line()
