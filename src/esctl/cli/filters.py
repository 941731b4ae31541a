"""The event filter options (``--tenant``, ``--type``, ``--since`` …) as Typer declares them.

``dump`` uses them; any command that selects events can reuse them. ``selection.EventFilter``
turns their values into ``ReadOptions``.
"""

from __future__ import annotations

from typing import Annotated

import typer

TenantOption = Annotated[
    list[str] | None,
    typer.Option("--tenant", "-t", metavar="UUID", help="Only this tenant's events; repeat for several."),
]
AggregateTypeOption = Annotated[
    str | None, typer.Option("--aggregate-type", metavar="TYPE", help="Only streams of this aggregate type.")
]
AggregateIdOption = Annotated[
    str | None, typer.Option("--aggregate-id", metavar="UUID", help="Only this aggregate's events.")
]
EventTypeOption = Annotated[
    list[str] | None,
    typer.Option("--type", metavar="EVENT_TYPE", help="Only events of this type; repeat for several."),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="WHEN",
        help="Only events that occurred at or after WHEN: ISO 8601 with offset "
        "(2026-11-01T08:00:00Z) or a duration ago (90m, 24h, 7d).",
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", metavar="WHEN", help="Only events that occurred before WHEN (same forms as --since)."),
]
FromPositionOption = Annotated[
    int | None, typer.Option("--from-position", min=1, help="First global position (inclusive).")
]
ToPositionOption = Annotated[int | None, typer.Option("--to-position", min=1, help="Last global position (inclusive).")]
LimitOption = Annotated[int | None, typer.Option("--limit", "-n", min=0, help="At most this many events.")]
