"""Prompt templates kept in files (``mesh/text/prompts/<task>.system.j2`` and ``<task>.user.j2``).

Templates are Jinja2 with StrictUndefined, so a template that names a variable the caller did not pass fails
loudly in tests instead of sending "None" to a model.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jinja2

from mesh.text.types import ContextItem, Message, Prompt

PROMPTS_DIR = Path(__file__).with_name("prompts")

#: Longest rejected answer quoted back to the model in a repair prompt (chars).
MAX_QUOTED_ANSWER = 1500


class PromptLibrary:
    """Renders chat prompts for named tasks from a directory of templates."""

    def __init__(self, directory: Path = PROMPTS_DIR) -> None:
        self.directory = directory
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def tasks(self) -> list[str]:
        """Tasks that have both a system and a user template."""
        names = {p.name.split(".")[0] for p in self.directory.glob("*.system.j2")}
        return sorted(n for n in names if (self.directory / f"{n}.user.j2").exists())

    def messages(
        self, task: str, variables: dict[str, Any], context: tuple[ContextItem, ...] = ()
    ) -> tuple[Message, ...]:
        """The system and user messages of ``task`` rendered with ``variables`` and ``context``."""
        values = {**variables, "context": context}
        system = self._env.get_template(f"{task}.system.j2").render(values).strip()
        user = self._env.get_template(f"{task}.user.j2").render(values).strip()
        return (Message("system", system), Message("user", user))

    def prompt(self, task: str, variables: dict[str, Any], context: tuple[ContextItem, ...] = ()) -> Prompt:
        """A full ``Prompt`` for ``task``."""
        return Prompt(task, self.messages(task, variables, context), dict(variables), context)

    def repair(
        self, prompt: Prompt, answer: str, problems: list[str], schema: dict[str, Any] | None
    ) -> Prompt:
        """The original chat, the rejected answer, and a request to fix exactly the listed problems.

        ``schema`` is quoted when given; leave it out when the window is tight and the server enforces it.
        """
        quoted = answer if len(answer) <= MAX_QUOTED_ANSWER else answer[:MAX_QUOTED_ANSWER] + "…"
        user = self._env.get_template("repair.user.j2").render(
            problems=problems, schema=json.dumps(schema, separators=(",", ":")) if schema else ""
        )
        messages = (*prompt.messages, Message("assistant", quoted), Message("user", user.strip()))
        return Prompt(prompt.task, messages, prompt.variables, prompt.context)


@functools.cache
def default_library() -> PromptLibrary:
    """The packaged templates."""
    return PromptLibrary()
