"""Prompt assembly: templates from files, context trimmed to the window by priority, overflow names the field."""

from __future__ import annotations

import pytest

from mesh.errors import InvalidArgument
from mesh.text import ContextItem, build_prompt
from mesh.text.procedural import ProceduralBackend
from mesh.text.templates import PROMPTS_DIR, PromptLibrary

VARS = {"action": "I open the gate", "actor": "Aria", "tone": "grim", "audience": "player"}


def test_templates_live_in_files_and_render_strictly() -> None:
    library = PromptLibrary()
    assert {"narrate", "plot_twist", "summarize"} <= set(library.tasks())
    assert (PROMPTS_DIR / "narrate.system.j2").is_file()
    system, user = library.messages("narrate", VARS)
    assert "grim" in system.content and "I open the gate" in user.content
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        library.messages("narrate", {"action": "x"})


def test_context_is_trimmed_to_the_window_by_priority() -> None:
    model = ProceduralBackend(context_window=400)
    items = [
        ContextItem(
            f"Lore fact number {i}. " + "word " * 60,
            title=f"hit {i}",
            source="lore",
            priority=2,
            score=float(i),
        )
        for i in range(10)
    ]
    items.append(
        ContextItem("The pinned fact about the Gull Tower.", title="pinned", source="pinned", priority=0)
    )
    prompt, max_tokens = build_prompt(model, "narrate", VARS, items, 100)
    assert max_tokens == 100
    total = model.count_messages(prompt.messages)
    assert total + max_tokens <= 400
    kept = [c.title for c in prompt.context]
    assert kept[0] == "pinned", "pinned facts survive first"
    assert kept[1:3] == ["hit 9", "hit 8"], "then the best-scored hits"
    assert len(kept) < len(items)


def test_max_tokens_shrinks_to_fit_and_overflow_names_the_field() -> None:
    model = ProceduralBackend(context_window=300)
    prompt, max_tokens = build_prompt(model, "narrate", VARS, (), 4000)
    assert model.count_messages(prompt.messages) + max_tokens <= 300
    with pytest.raises(InvalidArgument) as err:
        build_prompt(model, "narrate", {**VARS, "action": "run " * 400}, (), 100, overflow_field="action")
    assert err.value.violations[0][0] == "action"
    assert "300 tokens" in err.value.violations[0][1]
