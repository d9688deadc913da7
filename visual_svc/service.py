"""The VisualService servicer: protos <-> domain objects and field validation; the studio does the work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from dungeonmaster.v1 import visual_pb2, visual_pb2_grpc
from mesh.errors import InvalidArgument
from mesh.health import Readiness
from mesh.moderation import Moderator, get_moderator
from mesh.server import ServiceSpec
from mesh.settings import Settings
from visual_svc.loader import settings_loader
from visual_svc.memory_client import GrpcMemory
from visual_svc.ports import MemoryPort
from visual_svc.spec import (
    DEFAULT_GUIDANCE,
    ImageKind,
    ImageRequest,
    ImageResult,
    Progress,
    Subject,
    SubjectRef,
    request_violations,
    subject_violations,
)
from visual_svc.studio import RendererLoader, Studio
from visual_svc.styles import StyleBook

SERVICE_NAME = visual_pb2.DESCRIPTOR.services_by_name["VisualService"].full_name

_KINDS: dict[int, ImageKind | None] = {
    visual_pb2.IMAGE_KIND_UNSPECIFIED: None,
    visual_pb2.IMAGE_KIND_PORTRAIT: ImageKind.PORTRAIT,
    visual_pb2.IMAGE_KIND_LOCATION: ImageKind.LOCATION,
    visual_pb2.IMAGE_KIND_ITEM: ImageKind.ITEM,
    visual_pb2.IMAGE_KIND_SCENE: ImageKind.SCENE,
}


def _subject(entity: visual_pb2.ImageSubject) -> Subject:
    return Subject(entity.name, entity.description, tuple(entity.traits))


def _ref(
    kind: int,
    text: str,
    entity: visual_pb2.ImageSubject,
    character_id: str,
    location_id: str,
    lore_ref: str,
    world: str,
) -> SubjectRef:
    return SubjectRef(
        kind=_KINDS.get(kind),
        text=text,
        entity=_subject(entity),
        character_id=character_id.strip(),
        location_id=location_id.strip(),
        lore_ref=lore_ref.strip(),
        world_id=world.strip(),
    )


def image_request(spec: visual_pb2.ImageSpec, max_size: int) -> ImageRequest:
    """The domain request for a proto spec; raises InvalidArgument naming every bad ``spec.*`` field."""
    ref = _ref(
        spec.kind, spec.prompt, spec.entity, spec.character_id, spec.location_id, spec.lore_ref, spec.world_id
    )
    req = ImageRequest(
        subject=ref,
        negative_prompt=spec.negative_prompt,
        width=spec.width,
        height=spec.height,
        steps=spec.steps,
        guidance_scale=spec.guidance_scale if spec.guidance_scale else DEFAULT_GUIDANCE,
        seed=spec.seed,
        scheduler=spec.scheduler.strip(),
        campaign_id=spec.campaign_id.strip(),
    )
    v = request_violations(req, max_size, "spec.")
    if spec.kind not in _KINDS:
        v.add("spec.kind", f"unknown image kind {spec.kind}")
    v.raise_if_any()
    return req


def image_pb(r: ImageResult) -> visual_pb2.Image:
    return visual_pb2.Image(
        png=r.png,
        sha256=r.sha256,
        width=r.width,
        height=r.height,
        prompt=r.prompt,
        negative_prompt=r.negative_prompt,
        seed=r.seed,
        model=r.model,
        cached=r.cached,
        render_ms=r.render_ms,
        style=r.style,
        stored=r.stored,
    )


class VisualServicer(visual_pb2_grpc.VisualServiceServicer):
    """gRPC face of the studio."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    async def GenerateImage(
        self, request: visual_pb2.GenerateImageRequest, context: Any
    ) -> visual_pb2.GenerateImageResponse:
        req = image_request(request.spec, self.studio.settings.visual_max_size)
        result = await self.studio.generate(req, prefix="spec.")
        return visual_pb2.GenerateImageResponse(image=image_pb(result))

    async def StreamImage(
        self, request: visual_pb2.StreamImageRequest, context: Any
    ) -> AsyncIterator[visual_pb2.StreamImageResponse]:
        req = image_request(request.spec, self.studio.settings.visual_max_size)
        events = self.studio.stream(req, prefix="spec.")
        try:
            async for event in events:
                if isinstance(event, Progress):
                    progress = visual_pb2.ImageProgress(
                        step=event.step, total_steps=event.total_steps, queue_position=event.queue_position
                    )
                    yield visual_pb2.StreamImageResponse(progress=progress)
                else:
                    yield visual_pb2.StreamImageResponse(image=image_pb(event))
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    async def BuildImagePrompt(
        self, request: visual_pb2.BuildImagePromptRequest, context: Any
    ) -> visual_pb2.BuildImagePromptResponse:
        ref = _ref(
            request.kind,
            request.subject,
            request.entity,
            request.character_id,
            request.location_id,
            request.lore_ref,
            request.world_id,
        )
        v = subject_violations(ref)
        if v:  # this request calls its free text "subject", not "prompt"
            raise InvalidArgument([("subject" if f == "prompt" else f, d) for f, d in v.items])
        _, built = await self.studio.build_prompt(ref)
        return visual_pb2.BuildImagePromptResponse(
            prompt=built.prompt, negative_prompt=built.negative_prompt, style=built.style
        )


def build_studio(
    settings: Settings,
    *,
    memory: MemoryPort | None = None,
    moderator: Moderator | None = None,
    loader: RendererLoader | None = None,
) -> Studio:
    """The studio for ``settings``: the configured model, lore styles from disk, memory over gRPC."""
    return Studio(
        settings,
        styles=StyleBook(settings.worlds_dir, settings.default_world),
        memory=memory or GrpcMemory(settings),
        moderator=moderator if moderator is not None else get_moderator(settings),
        loader=loader if loader is not None else settings_loader(settings),
    )


def build_spec(settings: Settings, *, studio: Studio | None = None) -> ServiceSpec:
    """The visual service; NOT_SERVING (with the reason) until the image model has loaded."""
    studio = studio or build_studio(settings)
    servicer = VisualServicer(studio)

    def register(server: grpc.aio.Server) -> None:
        visual_pb2_grpc.add_VisualServiceServicer_to_server(servicer, server)

    async def readiness() -> Readiness:
        return studio.readiness()

    async def shutdown() -> None:
        await studio.close()
        if studio.memory is not None:
            await studio.memory.close()
        if studio.moderator is not None:
            await studio.moderator.close()

    return ServiceSpec(
        name="visual",
        service_names=[SERVICE_NAME],
        register=register,
        readiness=readiness,
        startup=studio.start,
        shutdown=shutdown,
    )
