"""Typed settings for every service: one place for each address, port, path and limit.

Values come from (highest first) constructor arguments, ``DM_*`` environment variables, an optional YAML or
TOML file named by ``DM_CONFIG``, then the documented defaults below. Field names are flat so each environment
variable is simply ``DM_`` + the upper-cased field name (``DM_MEMORY_PORT``, ``DM_VLLM_URLS``...). ``SECTIONS``
groups the fields for the generated settings reference.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

#: Short service names, in port order (gateway 50050, memory 50051, ...; metrics 9100, 9101, ...).
SERVICES: tuple[str, ...] = ("gateway", "memory", "narrative", "encounter", "npc", "item", "visual")

CONFIG_ENV = "DM_CONFIG"


class GatewayApiKey(BaseModel):
    """One API key accepted by the gateway; only the SHA-256 of the key is stored (``python -m gateway.cli new-key``)."""

    model_config = {"extra": "forbid"}

    id: str = Field(description="Key id, logged and sent downstream as x-dm-key-id; never the key itself.")
    sha256: str = Field(description="Hex SHA-256 of the key.", pattern="^[0-9a-f]{64}$")
    role: Literal["dm", "player", "service"] = Field(description="What the key may do.")
    campaigns: list[str] = Field(
        default_factory=list, description='Campaign ids the key may touch; ["*"] = every campaign.'
    )
    rate_per_s: float | None = Field(None, gt=0, description="Calls per second; None = gateway_rate_per_s.")
    burst: int | None = Field(None, ge=1, description="Token bucket size; None = gateway_rate_burst.")


class Settings(BaseSettings):
    """All runtime configuration of the mesh (environment prefix ``DM_``)."""

    model_config = SettingsConfigDict(env_prefix="DM_", extra="forbid", validate_default=True)

    # --- network ---------------------------------------------------------------------------------------------
    config: str = Field(
        "",
        description="Path of an optional YAML (.yaml/.yml) or TOML (.toml) file with values for these fields "
        "(flat keys, same names as the fields); environment variables override it. Set as DM_CONFIG.",
    )
    host: str = Field("127.0.0.1", description="Interface every gRPC and metrics server binds to.")
    gateway_port: int = Field(50050, description="gRPC port of the gateway.", ge=0, le=65535)
    memory_port: int = Field(50051, description="gRPC port of the memory service.", ge=0, le=65535)
    narrative_port: int = Field(50052, description="gRPC port of the narrative service.", ge=0, le=65535)
    encounter_port: int = Field(50053, description="gRPC port of the encounter service.", ge=0, le=65535)
    npc_port: int = Field(50054, description="gRPC port of the NPC service.", ge=0, le=65535)
    item_port: int = Field(50055, description="gRPC port of the item service.", ge=0, le=65535)
    visual_port: int = Field(50056, description="gRPC port of the visual (image) service.", ge=0, le=65535)
    gateway_metrics_port: int = Field(
        9100, description="Prometheus port of the gateway; 0 disables.", ge=0, le=65535
    )
    memory_metrics_port: int = Field(
        9101, description="Prometheus port of memory; 0 disables.", ge=0, le=65535
    )
    narrative_metrics_port: int = Field(
        9102, description="Prometheus port of narrative; 0 disables.", ge=0, le=65535
    )
    encounter_metrics_port: int = Field(
        9103, description="Prometheus port of encounter; 0 disables.", ge=0, le=65535
    )
    npc_metrics_port: int = Field(
        9104, description="Prometheus port of the NPC service; 0 disables.", ge=0, le=65535
    )
    item_metrics_port: int = Field(
        9105, description="Prometheus port of the item service; 0 disables.", ge=0, le=65535
    )
    visual_metrics_port: int = Field(
        9106, description="Prometheus port of the visual service; 0 disables.", ge=0, le=65535
    )
    gateway_addr: str = Field(
        "", description="Address clients use for the gateway; empty = host:gateway_port."
    )
    memory_addr: str = Field(
        "", description="Address other services use for memory; empty = host:memory_port."
    )
    narrative_addr: str = Field(
        "", description="Address of the narrative service; empty = host:narrative_port."
    )
    encounter_addr: str = Field(
        "", description="Address of the encounter service; empty = host:encounter_port."
    )
    npc_addr: str = Field("", description="Address of the NPC service; empty = host:npc_port.")
    item_addr: str = Field("", description="Address of the item service; empty = host:item_port.")
    visual_addr: str = Field("", description="Address of the visual service; empty = host:visual_port.")

    # --- storage ---------------------------------------------------------------------------------------------
    data_dir: Path = Field(
        Path("./data"), description="Directory for the embedded SQLite file and Milvus Lite data."
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the source-of-truth database (e.g. mssql+pymssql://user:pw@host/db); "
        "empty = sqlite:///<data_dir>/dungeonmaster.db.",
    )
    milvus_uri: str = Field(
        "",
        description="Milvus URI: a local Milvus Lite path, http://host:19530 for a real Milvus, or "
        "embedded-server to start Milvus 2.3 standalone under <data_dir>/milvus-server (stopped on exit); "
        "empty = <data_dir>/milvus.db (Milvus Lite).",
    )
    embedding_model: str = Field(
        "", description="Local sentence-transformers model directory; empty = the packaged all-MiniLM-L6-v2."
    )
    srd_path: str = Field(
        "",
        description="SRD 5.1 SQLite file (or a folder holding dnd5e-2014-en-*.sqlite3) for the rules package; "
        "empty = rules/data/srd/ as fetched by `make setup`. rules.srd reads DM_SRD_PATH itself.",
    )

    # --- lore ------------------------------------------------------------------------------------------------
    worlds_dir: Path = Field(
        Path("./worlds"), description="Directory holding one sub-directory of lore per world."
    )
    default_world: str = Field("ashen-reach", description="World used when a request names none.")

    # --- memory ----------------------------------------------------------------------------------------------
    memory_embedding_dtype: Literal["bfloat16", "float32"] = Field(
        "bfloat16",
        description="Weights of the embedding model on CPU: bfloat16 is ~2x faster here with cosine >= 0.998 "
        "to float32 (measured); float32 for bit-exact reference vectors.",
    )
    memory_embedding_batch_size: int = Field(
        64, ge=1, le=1024, description="Texts per embedding model call (batched off the event loop)."
    )
    memory_outbox_batch_size: int = Field(
        256,
        ge=1,
        le=10000,
        description="Outbox rows the vector worker embeds and writes to Milvus per batch.",
    )
    memory_outbox_poll_s: float = Field(
        1.0, gt=0, description="Longest the vector worker sleeps before looking at the outbox again (s)."
    )
    memory_outbox_backoff_initial_s: float = Field(
        0.5, gt=0, description="First retry delay of an outbox batch that failed (s); doubles per attempt."
    )
    memory_outbox_backoff_max_s: float = Field(
        30.0, gt=0, description="Largest retry delay of a failing outbox batch (s)."
    )
    memory_vector_index: Literal["AUTOINDEX", "HNSW", "FLAT", "IVF_FLAT"] = Field(
        "AUTOINDEX",
        description="Milvus index type of the embedding field; Milvus Lite takes AUTOINDEX as FLAT (measured "
        "faster to search there than its HNSW, and nothing to build).",
    )
    memory_max_document_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest lore document accepted by ingest (bytes of UTF-8)."
    )
    memory_search_batch_window_s: float = Field(
        0.005,
        ge=0,
        le=1.0,
        description="Longest a dense search waits for concurrent searches of the same tenant and audience to "
        "join it in one Milvus search (s); a search with none of its kind in flight is sent at once. "
        "0 = every search alone.",
    )
    memory_search_batch_max: int = Field(
        64, ge=1, le=16384, description="Most query vectors in one batched Milvus search."
    )

    # --- text generation -------------------------------------------------------------------------------------
    vllm_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="OpenAI-compatible base URLs of vLLM servers (comma-separated or a JSON list); "
        "empty = the offline procedural text backend.",
    )
    vllm_model: str = Field(
        "", description="Model name served by vLLM; empty = the first model the server lists."
    )
    text_timeout_s: float = Field(
        60.0, gt=0, description="Total time allowed for one text-model request (s)."
    )
    text_connect_timeout_s: float = Field(
        5.0, gt=0, description="TCP connect timeout to a text-model server (s)."
    )
    text_context_window: int = Field(
        0,
        ge=0,
        description="Model context window in tokens; 0 = the max_model_len the server lists (8,192 for the "
        "procedural backend).",
    )
    text_max_attempts: int = Field(
        3, ge=1, le=10, description="Endpoints tried (first included) before a text request fails."
    )
    text_backoff_initial_s: float = Field(
        0.05, gt=0, description="Base of the jittered exponential backoff between text-model attempts (s)."
    )
    text_backoff_max_s: float = Field(
        1.0, gt=0, description="Largest backoff between text-model attempts (s)."
    )
    text_load_poll_s: float = Field(
        1.0,
        ge=0,
        description="How often each vLLM server's /metrics queue is scraped for least-busy choice (s); 0 = never.",
    )
    text_endpoint_cooldown_s: float = Field(
        5.0,
        gt=0,
        description="How long a failed vLLM endpoint is avoided; doubles per consecutive failure (s).",
    )
    text_max_resumes: int = Field(
        2, ge=0, le=10, description="Times a broken narration stream may be resumed on another endpoint."
    )
    narrative_context_budget: int = Field(
        1024, ge=0, le=32768, description="Tokens of memory context narrative_svc asks memory_svc for."
    )
    narrative_record_events: bool = Field(
        True, description="Whether Narrate records the player's action and the narration as campaign events."
    )
    narrative_continuity_guard: bool = Field(
        True,
        description="Whether narration is checked sentence by sentence against the campaign's recorded facts "
        "(the dead, the unconscious, item holders, rulers, deities, met NPCs) and contradictions repaired.",
    )
    narrative_continuity_judge: bool = Field(
        False,
        description="Whether a sentence the continuity rules passed is also judged by the model (a JSON verdict "
        "from the same model server; one extra model call per sentence).",
    )

    # --- moderation ------------------------------------------------------------------------------------------
    moderation_backend: Literal["rules", "llama-guard", "off"] = Field(
        "rules",
        description="Content moderation: rules = offline category lists; llama-guard = a Llama Guard 3/4 model "
        "served by vLLM; off = no screening.",
    )
    moderation_rules_path: str = Field(
        "",
        description="YAML file of blocked terms per category; empty = the packaged mesh/moderation/rules.yaml.",
    )
    llama_guard_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Base URLs of vLLM servers serving Llama Guard (comma-separated or a JSON list).",
    )
    llama_guard_model: str = Field("", description="Llama Guard model name; empty = the first model listed.")
    llama_guard_categories: str = Field(
        "",
        description="Comma-separated Llama Guard categories that block (e.g. S1,S4,S9); empty = all fourteen.",
    )

    # --- images ----------------------------------------------------------------------------------------------
    visual_model_path: str = Field(
        "",
        description="Local diffusers Stable Diffusion model directory; empty = no image model (NOT_SERVING).",
    )
    visual_max_size: int = Field(
        1024, ge=64, le=4096, description="Largest width or height of a generated image (px)."
    )
    visual_model_config: str = Field(
        "",
        description="Local diffusers-format folder (model_index.json and component configs) used when "
        "visual_model_path is a single .safetensors/.ckpt file; empty = let diffusers infer it (needs the "
        "Hugging Face cache, so offline hosts should set it).",
    )
    visual_model_name: str = Field(
        "",
        description="Model name reported with images and used in cache keys; empty = the folder or file name.",
    )
    visual_device: str = Field(
        "auto",
        description="Torch device for the image pipeline: auto (cuda when present), cpu, cuda or cuda:N.",
    )
    visual_dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        "auto",
        description="Weights dtype: auto = float16 on CUDA, bfloat16 on CPUs with native bf16 (AVX512-BF16/AMX), "
        "else float32.",
    )
    visual_channels_last: bool = Field(
        True, description="Use the channels_last memory format for the UNet and VAE on CUDA."
    )
    visual_compile: bool = Field(
        False,
        description="torch.compile the UNet on CUDA (compute capability 7.0+); compiled during start-up, "
        "which then takes a minute or more.",
    )
    visual_low_vram_gib: float = Field(
        12.0,
        ge=0,
        description="On a GPU with less memory than this (GiB), enable attention slicing and VAE slicing/tiling.",
    )
    visual_max_batch: int = Field(
        4, ge=1, le=16, description="Most compatible requests rendered in one pipeline call."
    )
    visual_batch_window_ms: float = Field(
        30.0,
        ge=0,
        description="How long the first queued request waits for compatible ones to batch with (ms).",
    )
    visual_pad_batches: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Pad every batch to visual_max_batch so an image never depends on what it was batched with "
        "(kernels pick per-batch-size algorithms); auto = on CUDA cards with tensor cores, where a batch of 4 "
        "costs about as much as 1.",
    )
    visual_max_queue: int = Field(
        64, ge=1, description="Requests waiting for the image worker before new ones get RESOURCE_EXHAUSTED."
    )
    visual_default_scheduler: Literal["dpmpp-2m-karras", "euler-a", "ddim", "pndm"] = Field(
        "dpmpp-2m-karras", description="Scheduler used when a request names none."
    )
    visual_cache_mb: int = Field(
        256,
        ge=0,
        description="Memory for cached PNGs, least recently used evicted first (MiB); 0 = no cache.",
    )
    visual_store_timeout_s: float = Field(
        5.0, gt=0, description="Longest wait for memory_svc to store a generated image as an asset (s)."
    )
    visual_warmup: bool = Field(
        False,
        description="Render one throw-away batch at start-up (health stays NOT_SERVING meanwhile); always done "
        "when visual_compile is on.",
    )

    # --- service identity (mutual TLS) ----------------------------------------------------------------------
    tls_mode: Literal["mutual", "off"] = Field(
        "mutual",
        description="mutual = every service port requires a client certificate signed by the mesh CA and every "
        "channel between services presents one; identity metadata is honoured only from allowed callers. off = "
        "plaintext with caller identity taken on trust: a debugging switch (grpcurl -plaintext), loopback only.",
    )
    tls_dir: str = Field(
        "", description="Directory of the mesh CA and per-service certificates; empty = <data_dir>/tls."
    )
    tls_ca_file: str = Field(
        "", description="PEM CA bundle that signs mesh certificates; empty = <tls_dir>/ca.pem."
    )
    tls_cert_file: str = Field(
        "", description="This process's PEM certificate; empty = <tls_dir>/<service>.pem."
    )
    tls_key_file: str = Field(
        "", description="This process's PEM private key; empty = <tls_dir>/<service>.key."
    )

    # --- gRPC runtime ----------------------------------------------------------------------------------------
    grace_period_s: float = Field(
        10.0,
        ge=0,
        description="On SIGTERM/SIGINT, how long in-flight calls may run before they are cancelled (s).",
    )
    max_message_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest gRPC message sent or received, both sides (bytes)."
    )
    keepalive_time_s: float = Field(
        30.0, gt=0, description="Interval of HTTP/2 keepalive pings sent by clients and servers (s)."
    )
    keepalive_timeout_s: float = Field(
        10.0,
        gt=0,
        description="How long a keepalive ping may go unanswered before the connection is closed (s).",
    )
    keepalive_min_ping_interval_s: float = Field(
        10.0,
        gt=0,
        description="Shortest ping interval a server accepts from clients (s); must not exceed keepalive_time_s "
        "or servers answer clients' pings with GOAWAY too_many_pings.",
    )
    default_deadline_s: float = Field(
        30.0,
        gt=0,
        description="Deadline of a service-to-service call when the incoming call has none (s); "
        "also the cap on a propagated deadline.",
    )
    max_concurrent_rpcs: int = Field(
        0,
        ge=0,
        description="Calls a server runs at once before refusing with RESOURCE_EXHAUSTED; 0 = no limit.",
    )
    retry_max_attempts: int = Field(
        4, ge=2, le=5, description="Attempts (first call included) for idempotent service-to-service calls."
    )
    retry_initial_backoff_s: float = Field(
        0.1, gt=0, description="First retry backoff of idempotent calls (s)."
    )
    retry_max_backoff_s: float = Field(
        2.0, gt=0, description="Largest retry backoff of idempotent calls (s)."
    )
    retry_backoff_multiplier: float = Field(2.0, ge=1, description="Backoff growth factor between retries.")
    health_poll_s: float = Field(
        2.0, gt=0, description="How often each server re-checks its dependencies for grpc.health.v1 (s)."
    )

    # --- gateway ---------------------------------------------------------------------------------------------
    gateway_api_keys: list[GatewayApiKey] = Field(
        default_factory=list,
        description="API keys the gateway accepts (JSON list of {id, sha256, role, campaigns, rate_per_s, burst}); "
        "keys are stored hashed. Empty = no keys (see gateway_dev_open).",
    )
    gateway_dev_open: bool = Field(
        True,
        description="With no API keys configured and the gateway bound to a loopback host, accept calls without "
        "a key as a dm with every campaign (local development only; ignored as soon as a key is configured).",
    )
    gateway_rate_per_s: float = Field(20.0, gt=0, description="Default calls per second per API key.")
    gateway_rate_burst: int = Field(40, ge=1, description="Default token bucket size per API key (burst).")
    gateway_max_request_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest request message the gateway accepts (bytes)."
    )
    gateway_auth_failure_rate_per_s: float = Field(
        5.0, gt=0, description="Failed authentications per second a peer address earns back (key guessing)."
    )
    gateway_auth_failure_burst: int = Field(
        50, ge=1, description="Failed authentications a peer address may make in a row before it must wait."
    )
    gateway_default_deadline_s: float = Field(
        30.0, gt=0, description="Deadline of a call that arrives at the gateway without one (s)."
    )
    gateway_max_deadline_s: float = Field(
        600.0,
        gt=0,
        description="Longest deadline the gateway passes on; longer client deadlines are cut (s).",
    )
    gateway_method_deadlines: dict[str, float] = Field(
        default_factory=lambda: {
            "PlayTurn": 120.0,
            "GenerateScene": 180.0,
            "GenerateImage": 300.0,
            "StreamImage": 300.0,
            "IngestLore": 600.0,
            "Reindex": 600.0,
        },
        description="Default deadline by method name (or Service/Method) when the caller sets none (s).",
    )
    gateway_required_services: list[str] = Field(
        default_factory=lambda: ["memory", "narrative"],
        description="Services a turn cannot be played without: the gateway is SERVING only when they are.",
    )
    gateway_optional_services: list[str] = Field(
        default_factory=lambda: ["encounter", "npc", "item", "visual"],
        description="Services whose failure degrades a turn (a warning event) instead of failing it.",
    )
    gateway_tls_cert_file: str = Field(
        "", description="PEM certificate chain of the gateway's public port; empty = plaintext."
    )
    gateway_tls_key_file: str = Field("", description="PEM private key of gateway_tls_cert_file.")
    gateway_tls_client_ca_file: str = Field(
        "", description="PEM CA bundle; when set, public clients must present a certificate it signed."
    )
    gateway_upstream_tls_ca_file: str = Field(
        "", description="PEM CA that signed the services' certificates; set = TLS from gateway to services."
    )
    gateway_upstream_tls_cert_file: str = Field(
        "", description="PEM client certificate the gateway presents to services (mutual TLS)."
    )
    gateway_upstream_tls_key_file: str = Field(
        "", description="PEM private key of the upstream client certificate."
    )
    gateway_upstream_tls_server_name: str = Field(
        "", description="Host name expected in the services' certificates; empty = the address's host."
    )
    gateway_reconnect_backoff_max_s: float = Field(
        1.0,
        gt=0,
        description="Longest pause between reconnect attempts to a service, so a restarted one is used within seconds.",
    )
    gateway_status_timeout_s: float = Field(
        1.0, gt=0, description="Timeout of each health probe behind readiness and GetStatus (s)."
    )
    gateway_turn_token_budget: int = Field(
        3072,
        ge=1,
        le=32768,
        description="Context token budget retrieved for a turn (pinned world facts come first, then character "
        "states, recent events and search hits; the narrator trims to its model's window).",
    )
    gateway_turn_recent_events: int = Field(
        8, ge=0, le=50, description="Recent campaign events included in a turn's context."
    )
    gateway_default_terrain: str = Field(
        "grassland", description="Terrain of a turn's encounter when the player's action names none."
    )

    # --- logging ---------------------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level logged; access log lines are INFO."
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one JSON object per line; text: human."
    )

    @field_validator("vllm_urls", "llama_guard_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        """Accept a comma-separated string (the usual environment form) as well as a JSON list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        """Fill derived defaults and reject keepalive settings that would make servers GOAWAY their clients."""
        for name in SERVICES:
            if not getattr(self, f"{name}_addr"):
                object.__setattr__(self, f"{name}_addr", f"{self.host}:{getattr(self, f'{name}_port')}")
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'dungeonmaster.db'}")
        if not self.milvus_uri:
            object.__setattr__(self, "milvus_uri", str(self.data_dir / "milvus.db"))
        if self.keepalive_min_ping_interval_s > self.keepalive_time_s:
            raise ValueError(
                "keepalive_min_ping_interval_s must be <= keepalive_time_s (servers would reject clients' pings)"
            )
        if self.retry_max_backoff_s < self.retry_initial_backoff_s:
            raise ValueError("retry_max_backoff_s must be >= retry_initial_backoff_s")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Put the DM_CONFIG file below the environment so an env var always wins over the file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get(CONFIG_ENV, "").strip()
        if path:
            sources.append(_file_source(settings_cls, Path(path)))
        return tuple(sources)

    def port_for(self, service: str) -> int:
        """gRPC port of a service by short name (``"memory"``)."""
        return int(getattr(self, f"{_known(service)}_port"))

    def metrics_port_for(self, service: str) -> int:
        """Prometheus port of a service by short name; 0 means metrics are disabled."""
        return int(getattr(self, f"{_known(service)}_metrics_port"))

    def addr_for(self, service: str) -> str:
        """``host:port`` other services dial to reach ``service``."""
        return str(getattr(self, f"{_known(service)}_addr"))


#: Fields grouped for the settings reference; every field belongs to exactly one section (a test checks it).
SECTIONS: dict[str, tuple[str, ...]] = {
    "network": (
        "config",
        "host",
        *(f"{s}_port" for s in SERVICES),
        *(f"{s}_metrics_port" for s in SERVICES),
        *(f"{s}_addr" for s in SERVICES),
    ),
    "storage": ("data_dir", "database_url", "milvus_uri", "embedding_model", "srd_path"),
    "lore": ("worlds_dir", "default_world"),
    "memory": (
        "memory_embedding_dtype",
        "memory_embedding_batch_size",
        "memory_outbox_batch_size",
        "memory_outbox_poll_s",
        "memory_outbox_backoff_initial_s",
        "memory_outbox_backoff_max_s",
        "memory_vector_index",
        "memory_max_document_bytes",
        "memory_search_batch_window_s",
        "memory_search_batch_max",
    ),
    "text": (
        "vllm_urls",
        "vllm_model",
        "text_timeout_s",
        "text_connect_timeout_s",
        "text_context_window",
        "text_max_attempts",
        "text_backoff_initial_s",
        "text_backoff_max_s",
        "text_load_poll_s",
        "text_endpoint_cooldown_s",
        "text_max_resumes",
        "narrative_context_budget",
        "narrative_record_events",
        "narrative_continuity_guard",
        "narrative_continuity_judge",
    ),
    "moderation": (
        "moderation_backend",
        "moderation_rules_path",
        "llama_guard_urls",
        "llama_guard_model",
        "llama_guard_categories",
    ),
    "images": (
        "visual_model_path",
        "visual_max_size",
        "visual_model_config",
        "visual_model_name",
        "visual_device",
        "visual_dtype",
        "visual_channels_last",
        "visual_compile",
        "visual_low_vram_gib",
        "visual_max_batch",
        "visual_batch_window_ms",
        "visual_pad_batches",
        "visual_max_queue",
        "visual_default_scheduler",
        "visual_cache_mb",
        "visual_store_timeout_s",
        "visual_warmup",
    ),
    "identity": ("tls_mode", "tls_dir", "tls_ca_file", "tls_cert_file", "tls_key_file"),
    "grpc": (
        "grace_period_s",
        "max_message_bytes",
        "keepalive_time_s",
        "keepalive_timeout_s",
        "keepalive_min_ping_interval_s",
        "default_deadline_s",
        "max_concurrent_rpcs",
        "retry_max_attempts",
        "retry_initial_backoff_s",
        "retry_max_backoff_s",
        "retry_backoff_multiplier",
        "health_poll_s",
    ),
    "gateway": (
        "gateway_api_keys",
        "gateway_dev_open",
        "gateway_rate_per_s",
        "gateway_rate_burst",
        "gateway_max_request_bytes",
        "gateway_auth_failure_rate_per_s",
        "gateway_auth_failure_burst",
        "gateway_default_deadline_s",
        "gateway_max_deadline_s",
        "gateway_method_deadlines",
        "gateway_required_services",
        "gateway_optional_services",
        "gateway_tls_cert_file",
        "gateway_tls_key_file",
        "gateway_tls_client_ca_file",
        "gateway_upstream_tls_ca_file",
        "gateway_upstream_tls_cert_file",
        "gateway_upstream_tls_key_file",
        "gateway_upstream_tls_server_name",
        "gateway_reconnect_backoff_max_s",
        "gateway_status_timeout_s",
        "gateway_turn_token_budget",
        "gateway_turn_recent_events",
        "gateway_default_terrain",
    ),
    "logging": ("log_level", "log_format"),
}


def _known(service: str) -> str:
    if service not in SERVICES:
        raise KeyError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    return service


def _file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    """A YAML or TOML source for ``path``; a missing or unknown file type is an error, not a silent default."""
    if not path.is_file():
        raise FileNotFoundError(f"{CONFIG_ENV} names {path}, which is not a file")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return YamlConfigSettingsSource(settings_cls, yaml_file=path)
    if suffix == ".toml":
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    raise ValueError(f"{CONFIG_ENV} file must end in .yaml, .yml or .toml: {path}")


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once; tests call ``reset_settings()`` after changing the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings so the next ``get_settings()`` re-reads environment and file."""
    get_settings.cache_clear()
