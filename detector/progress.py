"""Progress on long runs: one live status line on stderr, only when a person is watching.

The pipeline reports what it is doing through a plain callable (``report("co-action:
share (2/7)")``) and knows nothing of terminals. The command line hands it the
status line below when stderr is a terminal and ``--quiet`` is off, and a no-op
otherwise, so logs, pipes and CI output stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Report = Callable[[str], None]


def silent(message: str) -> None:
    """The reporter for pipes, files and ``--quiet``: says nothing."""


@contextmanager
def status_line(enabled: bool | None = None, *, console=None) -> Iterator[Report]:
    """Yield a reporter that shows the latest stage on one live line (rich), or ``silent``.

    ``enabled=None`` means: only when stderr is a terminal.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield silent
        return
    from rich.console import Console

    console = console or Console(stderr=True)
    with console.status("starting") as status:
        yield lambda message: status.update(message)
