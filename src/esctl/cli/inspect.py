"""Placeholder: commands are being written."""

from esctl.cli.app import app  # noqa: F401
