"""What an image request is, in the domain's terms, and the limits every request must respect.

Kept free of torch and diffusers so the servicer can validate a request (and the gateway can import the limits)
without loading a model.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mesh.errors import Violations

MAX_PROMPT_CHARS = 2000
MAX_NAME_CHARS = 200
MAX_TRAITS = 16
MAX_TRAIT_CHARS = 100
MIN_SIZE = 64
MIN_STEPS, MAX_STEPS = 1, 150
MAX_GUIDANCE = 30.0
DEFAULT_GUIDANCE = 7.0
#: Seeds are kept in the signed 63-bit range so they survive int64 fields and JSON everywhere.
MAX_SEED = 2**63 - 1
#: Scheduler names a request may use ("" = the configured default).
SCHEDULERS = ("dpmpp-2m-karras", "euler-a", "ddim", "pndm")
LORE_KINDS = ("region", "site", "item", "creature")


class ImageKind(enum.StrEnum):
    """What the image shows; decides the prompt template and the asset kind in memory."""

    PORTRAIT = "portrait"
    LOCATION = "location"
    ITEM = "item"
    SCENE = "scene"


@dataclass(frozen=True, slots=True)
class Subject:
    """A thing to depict: from the request, a memory record or a lore fact."""

    name: str = ""
    description: str = ""
    traits: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.name.strip() or self.description.strip() or any(t.strip() for t in self.traits))


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """Where the subject comes from: free text, a described entity, memory ids or a lore reference."""

    kind: ImageKind | None = None
    """None = inferred from the subject's source (character: portrait, location: location...), else scene."""
    text: str = ""
    entity: Subject = field(default_factory=Subject)
    character_id: str = ""
    location_id: str = ""
    lore_ref: str = ""
    world_id: str = ""

    def named(self) -> bool:
        """Whether anything names a subject at all (an empty request has nothing to draw)."""
        return bool(
            self.text.strip() or self.entity or self.character_id or self.location_id or self.lore_ref.strip()
        )


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """One image to make. Sizes of 0 mean the model's native size; seed 0 means pick one."""

    subject: SubjectRef
    negative_prompt: str = ""
    width: int = 0
    height: int = 0
    steps: int = 20
    guidance_scale: float = DEFAULT_GUIDANCE
    seed: int = 0
    scheduler: str = ""
    campaign_id: str = ""


@dataclass(frozen=True, slots=True)
class RenderParams:
    """The parameters requests must share to ride in one pipeline call."""

    width: int
    height: int
    steps: int
    guidance_scale: float
    scheduler: str


@dataclass(frozen=True, slots=True)
class BuiltPrompt:
    """The full prompt pair sent to the pipeline, and the world style it was dressed in."""

    prompt: str
    negative_prompt: str
    style: str


@dataclass(frozen=True, slots=True)
class Progress:
    """A render's progress: steps done of the total, or its place in the queue before it starts."""

    step: int
    total_steps: int
    queue_position: int = 0


@dataclass(frozen=True, slots=True)
class ImageResult:
    """A finished image: PNG bytes, their SHA-256 and everything needed to make it again."""

    png: bytes
    sha256: str
    width: int
    height: int
    prompt: str
    negative_prompt: str
    seed: int
    model: str
    style: str
    cached: bool
    render_ms: float
    stored: bool = False


def subject_violations(ref: SubjectRef, prefix: str = "") -> Violations:
    """Field violations of a subject reference (field paths under ``prefix``, e.g. ``"spec."``)."""
    v = Violations()
    prompt_field = f"{prefix}prompt"
    if not ref.named():
        v.add(
            prompt_field,
            "must not be empty (or name the subject by entity, character_id, location_id or lore_ref)",
        )
    v.check(len(ref.text) <= MAX_PROMPT_CHARS, prompt_field, f"must be at most {MAX_PROMPT_CHARS} characters")
    ent = ref.entity
    v.check(
        len(ent.name) <= MAX_NAME_CHARS,
        f"{prefix}entity.name",
        f"must be at most {MAX_NAME_CHARS} characters",
    )
    v.check(
        len(ent.description) <= MAX_PROMPT_CHARS,
        f"{prefix}entity.description",
        f"must be at most {MAX_PROMPT_CHARS} characters",
    )
    v.check(
        len(ent.traits) <= MAX_TRAITS, f"{prefix}entity.traits", f"must have at most {MAX_TRAITS} entries"
    )
    for i, trait in enumerate(ent.traits):
        v.check(
            len(trait) <= MAX_TRAIT_CHARS,
            f"{prefix}entity.traits[{i}]",
            f"must be at most {MAX_TRAIT_CHARS} characters",
        )
    if ref.lore_ref.strip():
        kind, sep, name = ref.lore_ref.partition(":")
        v.check(
            bool(sep) and kind.strip() in LORE_KINDS and bool(name.strip()),
            f"{prefix}lore_ref",
            f"must be <kind>:<id or name> with kind one of {', '.join(LORE_KINDS)}",
        )
    return v


def request_violations(req: ImageRequest, max_size: int, prefix: str = "") -> Violations:
    """Every field violation of an image request; sizes of 0 (native) are checked once the model is known."""
    v = subject_violations(req.subject, prefix)
    v.check(
        len(req.negative_prompt) <= MAX_PROMPT_CHARS,
        f"{prefix}negative_prompt",
        f"must be at most {MAX_PROMPT_CHARS} characters",
    )
    for name, value in (("width", req.width), ("height", req.height)):
        if value == 0:
            continue
        if value % 8:
            v.add(f"{prefix}{name}", f"must be a multiple of 8, got {value}")
        elif not MIN_SIZE <= value <= max_size:
            v.add(
                f"{prefix}{name}",
                f"must be between {MIN_SIZE} and {max_size} (the configured maximum), got {value}",
            )
    v.check(
        MIN_STEPS <= req.steps <= MAX_STEPS,
        f"{prefix}steps",
        f"must be between {MIN_STEPS} and {MAX_STEPS}, got {req.steps}",
    )
    v.check(
        0.0 <= req.guidance_scale <= MAX_GUIDANCE,
        f"{prefix}guidance_scale",
        f"must be between 0 and {MAX_GUIDANCE:g}, got {req.guidance_scale:g}",
    )
    v.check(0 <= req.seed <= MAX_SEED, f"{prefix}seed", "must be between 0 (pick one) and 2^63-1")
    v.check(
        req.scheduler in ("", *SCHEDULERS),
        f"{prefix}scheduler",
        f"unknown scheduler {req.scheduler!r}; valid: {', '.join(SCHEDULERS)}",
    )
    return v
