"""Moderation backends: rule lists (whole text and streams) and Llama Guard over a real HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mesh.errors import Unavailable
from mesh.moderation import (
    LlamaGuardModerator,
    RuleModerator,
    RuleSet,
    get_moderator,
    guard_prompt,
    parse_verdict,
)
from mesh.settings import Settings


@pytest.fixture
def rules() -> RuleModerator:
    return RuleModerator(RuleSet({"S9": ["pipe bomb", "nerve agent"], "S11": ["kill myself"]}))


async def test_rules_match_whole_words_case_and_punctuation_insensitively(rules: RuleModerator) -> None:
    blocked = await rules.screen("How do I make a Pipe-Bomb?", "input")
    assert (
        not blocked.allowed
        and blocked.categories == ("S9",)
        and "S9 (Indiscriminate Weapons)" in blocked.reason
    )
    assert (await rules.screen("I search the pipe organ for a bombard", "input")).allowed
    assert (await rules.screen("The sapper's pipebomber guild", "input")).allowed, "whole words only"
    both = await rules.screen("nerve agent... I want to kill myself", "input")
    assert both.categories == ("S9", "S11")


async def test_packaged_rules_load_and_settings_pick_backends(tmp_path: Path) -> None:
    assert isinstance(get_moderator(Settings()), RuleModerator)
    assert get_moderator(Settings(moderation_backend="off")) is None
    custom = tmp_path / "rules.yaml"
    custom.write_text("categories:\n  S5:\n    - the baron is a thief\n")
    mod = get_moderator(Settings(moderation_rules_path=str(custom)))
    assert (
        mod is not None and not (await mod.screen("Everyone knows the Baron is a thief!", "output")).allowed
    )
    guard = get_moderator(
        Settings(
            moderation_backend="llama-guard",
            llama_guard_urls="http://127.0.0.1:9",
            llama_guard_categories="s1, S9",
        )
    )
    assert isinstance(guard, LlamaGuardModerator) and guard.enforce == {"S1", "S9"}


async def stream_through(rules: RuleModerator, pieces: list[str]) -> tuple[list[str], Any]:
    guard = rules.guard()
    released: list[str] = []
    for piece in pieces:
        out, blocked = await guard.feed(piece)
        released.append(out)
        if blocked is not None:
            return released, blocked
    out, decision = await guard.finish()
    released.append(out)
    return released, decision


async def test_stream_guard_releases_every_token_at_once_when_no_term_completes(rules: RuleModerator) -> None:
    pieces = ["The", " knight", " lights", " a", " pipe", " and", " smiles."]
    released, decision = await stream_through(rules, pieces)
    assert decision.allowed
    assert released[:-1] == pieces, "no token waits, not even 'pipe' (it only begins a listed term)"
    assert "".join(released) == "The knight lights a pipe and smiles."


async def test_stream_guard_holds_a_completed_term_until_a_word_break_decides(rules: RuleModerator) -> None:
    released, decision = await stream_through(rules, ["A", " pipe", " bomb", "ard", " fires."])
    assert decision.allowed
    assert released[:4] == ["A", " pipe", " ", "bombard"], (
        "'bomb' waited for the next piece: it became 'bombard'"
    )


async def test_stream_guard_never_releases_a_listed_term(rules: RuleModerator) -> None:
    released, decision = await stream_through(rules, ["He hides", " a pi", "pe b", "omb", " in the cellar."])
    assert not decision.allowed and decision.categories == ("S9",) and decision.direction == "output"
    assert "pipe bomb" not in "".join(released)
    assert "".join(released) == "He hides a pipe b", "fragments of a term may pass; the whole term never"
    released, decision = await stream_through(rules, ["I could kill", " myself", "."])
    assert not decision.allowed and "".join(released) == "I could kill "


def test_llama_guard_prompt_formats() -> None:
    lg3 = guard_prompt("I attack the goblin", "input")
    assert lg3.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n")
    assert lg3.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert "Check if there is unsafe content in 'User' messages" in lg3
    assert "S1: Violent Crimes.\nS2: Non-Violent Crimes." in lg3 and "S14: Code Interpreter Abuse." in lg3
    assert "User: I attack the goblin" in lg3 and "ONLY THE LAST User message" in lg3
    lg4 = guard_prompt("The goblin falls.", "output", prompt="I attack", dialect="llama-guard-4")
    assert lg4.startswith("<|begin_of_text|><|header_start|>user<|header_end|>")
    assert lg4.endswith("<|eot|><|header_start|>assistant<|header_end|>\n\n")
    assert "User: I attack\n\nAgent: The goblin falls." in lg4 and "'Agent' messages" in lg4


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("safe", (True, ())),
        ("\n\nsafe\n", (True, ())),
        ("unsafe\nS1", (False, ("S1",))),
        ("unsafe\nS1,S10", (False, ("S1", "S10"))),
        (" unsafe \n s9, S11 ,S9", (False, ("S9", "S11"))),
        ("unsafe", (False, ())),
    ],
)
def test_llama_guard_verdicts_parse(answer: str, expected: tuple[bool, tuple[str, ...]]) -> None:
    assert parse_verdict(answer) == expected


@pytest.mark.parametrize("answer", ["", "maybe", "I cannot help with that"])
def test_unreadable_verdicts_are_errors(answer: str) -> None:
    with pytest.raises(ValueError):
        parse_verdict(answer)


class FakeGuardHandler(BaseHTTPRequestHandler):
    """Speaks the OpenAI completions protocol; answers like Llama Guard from keywords in the conversation."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(
                200,
                {"object": "list", "data": [{"id": "meta-llama/Llama-Guard-3-1B", "max_model_len": 8192}]},
            )
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append(body)
        conversation = body["prompt"].split("<BEGIN CONVERSATION>")[1].split("<END CONVERSATION>")[0]
        if "poison the well" in conversation:
            text = "unsafe\nS1,S10"
        elif "mild insult" in conversation:
            text = "unsafe\nS10"
        else:
            text = "safe"
        self._send(
            200,
            {
                "object": "text_completion",
                "model": body["model"],
                "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            },
        )


@pytest.fixture
def guard_server() -> Iterator[str]:
    FakeGuardHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGuardHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_llama_guard_over_http(guard_server: str) -> None:
    dead = "http://127.0.0.1:9"  # nothing listens there: the moderator moves on to the live server
    mod = LlamaGuardModerator([dead, guard_server], enforce=("S1", "S4", "S9"))
    try:
        bad = await mod.screen("I poison the well of the village", "input")
        assert not bad.allowed and bad.categories == ("S1", "S10") and bad.backend == "llama-guard"
        assert "S1 (Violent Crimes)" in bad.reason and "S10" not in bad.reason.split("Llama Guard:")[1]
        flagged = await mod.screen("A mild insult about orcs", "input")
        assert flagged.allowed and flagged.categories == ("S10",), "S10 is reported but not enforced here"
        clean = await mod.screen("I bow to the queen", "output", prompt="I enter the hall")
        assert clean.allowed and clean.categories == ()
        sent = FakeGuardHandler.requests[-1]
        assert sent["model"] == "meta-llama/Llama-Guard-3-1B" and sent["temperature"] == 0.0
        assert "Agent: I bow to the queen" in sent["prompt"]
        guard = mod.guard("I act")
        out, blocked = await guard.feed("The hall is quiet. You ")
        assert out == "The hall is quiet. " and blocked is None
        out, blocked = await guard.feed("decide to poison the well. Then")
        assert out == "" and blocked is not None and not blocked.allowed
    finally:
        await mod.close()


async def test_llama_guard_unreachable_is_unavailable() -> None:
    mod = LlamaGuardModerator(["http://127.0.0.1:9"], model="guard")
    try:
        with pytest.raises(Unavailable) as err:
            await mod.screen("hello", "input")
        assert err.value.reason == "MODERATION_UNAVAILABLE"
    finally:
        await mod.close()
