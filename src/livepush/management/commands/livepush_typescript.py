"""``manage.py livepush_typescript``: write TypeScript types for the registered message types."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from livepush._typescript import COMMAND, generate
from livepush.exceptions import LivePushConfigurationError


class Command(BaseCommand):
    help = (
        "Write websockets.ts (the message-type enum), websocket-interfaces.ts (payload "
        "interfaces from the TypedDict schemas) and websocket-messages.ts (type name -> payload, "
        "for LivePush<WebSocketMessages>) from the message-type registry."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            "-o",
            default=".",
            metavar="DIR",
            help="Directory to write the files to (created if missing). Default: the current one.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help=(
                "Write nothing; fail when a file is missing or differs from what would be "
                "written (for CI)."
            ),
        )

    def handle(self, *args: Any, output: str, check: bool, **options: Any) -> None:
        directory = Path(output)
        try:
            files = generate()
        except LivePushConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        if check:
            self._check(directory, output, files)
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for name, content in files.items():
                path = directory / name
                if _read(path) == content:
                    self.stdout.write(f"Unchanged {path}")
                    continue
                # newline="\n": the same bytes on every platform, so --check agrees everywhere.
                with path.open("w", encoding="utf-8", newline="\n") as f:
                    f.write(content)
                self.stdout.write(self.style.SUCCESS(f"Wrote {path}"))
        except OSError as exc:
            raise CommandError(f"Cannot write the TypeScript files to {output!r}: {exc}") from exc

    def _check(self, directory: Path, output: str, files: dict[str, str]) -> None:
        problems = []
        for name, content in files.items():
            found = _read(directory / name)
            if found is None:
                problems.append(f"{directory / name} (missing)")
            elif found != content:
                problems.append(f"{directory / name} (out of date)")
        if problems:
            regenerate = COMMAND if output == "." else f"{COMMAND} --output {shlex.quote(output)}"
            raise CommandError(
                "The generated TypeScript does not match the message-type registry: "
                f"{', '.join(problems)}. Regenerate it with: {regenerate}"
            )
        self.stdout.write(f"{len(files)} TypeScript files in {directory} are up to date.")


def _read(path: Path) -> str | None:
    """Return the file's text as stored (no newline translation), or ``None`` if unreadable."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None
