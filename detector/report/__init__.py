"""``DIR/report.html``: one self-contained page an analyst can act on.

Written by ``coordetect score`` and, for an existing folder, by ``coordetect
report DIR``. The page needs nothing outside itself (inline CSS, SVG and a few
lines of script; a Content-Security-Policy forbids every request), and every
string from the input is escaped: Jinja2 escapes all template values by
default (``autoescape``), and the SVG pictures escape their own text
(``detector.report.svg``). Jinja2 is used rather than hand-built strings
because escaping by default is the safe way round for attacker-controlled
handles and texts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import resources
from pathlib import Path

import jinja2
import polars as pl
from markupsafe import Markup

from detector.config import Config, build_config
from detector.errors import InputError, UsageError
from detector.io import atomic_path, is_remote, read_dataset, read_output_table
from detector.report.build import Card, Scored, gather

REPORT_NAME = "report.html"
_PICTURES = ("timeline", "burst", "graph", "creation")


def render(content: dict) -> str:
    """The page for ``content`` (as ``build.gather`` returns it)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = env.from_string(resources.files("detector.report").joinpath("report.html.j2").read_text(encoding="utf-8"))
    cards = [_trusted_pictures(card) for card in content["cards"]]
    return template.render({**content, "cards": cards})


def _trusted_pictures(card: Card) -> Card:
    # The SVGs are markup built by detector.report.svg, which escapes every input string itself.
    return dataclasses.replace(card, **{name: Markup(getattr(card, name)) for name in _PICTURES if getattr(card, name) is not None})


def build_report(scored: Scored, events: pl.DataFrame, profiles: pl.DataFrame | None, config: Config) -> str:
    """The report page for a scored run and the events it scored."""
    return render(gather(scored, events, profiles, config))


def write_report(path: Path, page: str) -> None:
    """Write the page atomically (a failed write leaves any previous report as it was)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(page, encoding="utf-8")


def read_scored(out_dir: Path) -> Scored:
    """The tables and run record of a folder written by ``coordetect score``."""
    out_dir = Path(out_dir)
    record_path = out_dir / "run.json"
    if not record_path.exists():
        raise InputError(f"{record_path}: not found; expected a folder written by coordetect score")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{record_path}: not a readable run record ({exc})") from None
    tables = {name: read_output_table(out_dir / f"{name}.parquet") for name in ("accounts", "clusters", "edges", "objects")}
    return Scored(record=record, **tables)


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _check_unchanged(files: list[dict], record_path: Path) -> None:
    """Refuse inputs that are gone or differ from what was scored: the report would show other data."""
    for entry in files:
        if is_remote(entry["path"]):
            raise InputError(f"{record_path}: input {entry['path']} is remote; pass --events (and --accounts) naming a local copy of the scored data")
        path = Path(entry["path"])
        if not path.exists():
            raise InputError(f"{record_path}: input {path} is gone; pass --events (and --accounts) to name where the scored data is now")
        if _sha256(path) != entry["sha256"]:
            raise InputError(f"{record_path}: input {path} has changed since the run (sha256 differs); score again, or pass --events to use it as it is")


def report_from_dir(out_dir: Path, *, events: str | Path | None = None, accounts: str | Path | None = None, format: str | None = None) -> Path:
    """``coordetect report DIR``: rebuild DIR/report.html from DIR and the inputs named in DIR/run.json (or given)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: not a folder; expected a folder written by coordetect score")
    if accounts is not None and events is None:
        raise UsageError("--accounts goes with --events: name the scored events too")
    scored = read_scored(out_dir)
    record_path = out_dir / "run.json"
    arguments = scored.record.get("arguments") or {}
    if events is None:
        if "events" not in arguments:
            raise InputError(f"{record_path}: does not name its inputs (written by an older coordetect); pass --events and --accounts")
        _check_unchanged(scored.record["input"]["files"] + scored.record.get("accounts_files", []), record_path)
        events, accounts, format = arguments["events"], arguments.get("accounts"), format or arguments.get("format", "canonical")
    dataset = read_dataset(events, format=format or "canonical", accounts_path=accounts)
    config = build_config(scored.record.get("config", {}))
    page = build_report(scored, dataset.events, dataset.accounts, config)
    target = out_dir / REPORT_NAME
    write_report(target, page)
    return target
