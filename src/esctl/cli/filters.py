"""The options of ``dump`` and ``append`` as Typer declares them, built from ``spec``.

``dump`` uses the event filters (``--tenant``, ``--type``, ``--since`` …); any command that
selects events can reuse them. ``selection.EventFilter`` turns their values into ``ReadOptions``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from esctl.cli.spec import APPEND, DUMP, GLOBAL, Opt


def typer_option(option: Opt, **extra: Any) -> Any:
    """Return the ``typer.Option`` for ``option``, as ``spec`` declares it (plus ``extra``)."""
    settings: dict[str, Any] = {"help": option.help}
    if option.metavar is not None and option.metavar != "INTEGER":
        settings["metavar"] = option.metavar
    if option.minimum is not None:
        settings["min"] = option.minimum
    if option.envvar is not None:
        settings["envvar"] = option.envvar
        settings["show_envvar"] = True
    first, *others = option.flags
    return typer.Option(first, *others, **settings, **extra)


TenantOption = Annotated[list[str] | None, typer_option(DUMP["tenant"])]
AggregateTypeOption = Annotated[str | None, typer_option(DUMP["aggregate_type"])]
AggregateIdOption = Annotated[str | None, typer_option(DUMP["aggregate_id"])]
EventTypeOption = Annotated[list[str] | None, typer_option(DUMP["types"])]
SinceOption = Annotated[str | None, typer_option(DUMP["since"])]
UntilOption = Annotated[str | None, typer_option(DUMP["until"])]
FromPositionOption = Annotated[int | None, typer_option(DUMP["from_position"])]
ToPositionOption = Annotated[int | None, typer_option(DUMP["to_position"])]
LimitOption = Annotated[int | None, typer_option(DUMP["limit"])]

__all__ = ["APPEND", "DUMP", "GLOBAL", "typer_option"]
