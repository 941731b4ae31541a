"""The esctl command line (placeholder until the CLI lands)."""


def main() -> None:
    """Run the esctl command line."""
    raise SystemExit("esctl CLI not built yet")
