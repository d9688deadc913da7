BEGIN TRANSACTION;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

GO

-- Running upgrade  -> 0001

CREATE TABLE worlds (
    id BIGINT NOT NULL IDENTITY, 
    slug NVARCHAR(64) NOT NULL, 
    name NVARCHAR(200) NOT NULL, 
    description NVARCHAR(4000) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_worlds PRIMARY KEY (id), 
    CONSTRAINT uq_worlds_slug UNIQUE (slug)
);

GO

CREATE TABLE campaigns (
    id BIGINT NOT NULL IDENTITY, 
    world_id BIGINT NOT NULL, 
    name NVARCHAR(200) NOT NULL, 
    description NVARCHAR(4000) NOT NULL, 
    current_session_id BIGINT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_campaigns PRIMARY KEY (id), 
    CONSTRAINT fk_campaigns_world_id_worlds FOREIGN KEY(world_id) REFERENCES worlds (id)
);

GO

CREATE INDEX ix_campaigns_world_id ON campaigns (world_id);

GO

CREATE INDEX ix_campaigns_current_session_id ON campaigns (current_session_id);

GO

CREATE TABLE sessions (
    id BIGINT NOT NULL IDENTITY, 
    campaign_id BIGINT NOT NULL, 
    number INTEGER NOT NULL, 
    title NVARCHAR(200) NOT NULL, 
    started_at DATETIME2(7) NOT NULL, 
    ended_at DATETIME2(7) NULL, 
    CONSTRAINT pk_sessions PRIMARY KEY (id), 
    CONSTRAINT uq_sessions_campaign_id_number UNIQUE (campaign_id, number), 
    CONSTRAINT fk_sessions_campaign_id_campaigns FOREIGN KEY(campaign_id) REFERENCES campaigns (id)
);

GO

CREATE INDEX ix_sessions_campaign_id ON sessions (campaign_id);

GO

ALTER TABLE campaigns ADD CONSTRAINT fk_campaigns_current_session_id_sessions FOREIGN KEY(current_session_id) REFERENCES sessions (id);

GO

CREATE TABLE characters (
    id BIGINT NOT NULL IDENTITY, 
    campaign_id BIGINT NOT NULL, 
    name NVARCHAR(200) NOT NULL, 
    is_npc BIT NOT NULL, 
    ancestry NVARCHAR(100) NOT NULL, 
    character_class NVARCHAR(100) NOT NULL, 
    level INTEGER NOT NULL, 
    description NVARCHAR(4000) NOT NULL, 
    secrets NVARCHAR(max) NOT NULL, 
    stat_block NVARCHAR(max) NULL, 
    tags NVARCHAR(max) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_characters PRIMARY KEY (id), 
    CONSTRAINT ck_characters_secrets_is_json CHECK (ISJSON(secrets) = 1), 
    CONSTRAINT ck_characters_stat_block_is_json CHECK (ISJSON(stat_block) = 1), 
    CONSTRAINT ck_characters_tags_is_json CHECK (ISJSON(tags) = 1), 
    CONSTRAINT fk_characters_campaign_id_campaigns FOREIGN KEY(campaign_id) REFERENCES campaigns (id)
);

GO

CREATE INDEX ix_characters_campaign_id ON characters (campaign_id);

GO

CREATE INDEX ix_characters_name ON characters (name);

GO

CREATE INDEX ix_characters_campaign_id_is_npc ON characters (campaign_id, is_npc);

GO

CREATE TABLE locations (
    id BIGINT NOT NULL IDENTITY, 
    world_id BIGINT NOT NULL, 
    parent_id BIGINT NULL, 
    name NVARCHAR(200) NOT NULL, 
    kind NVARCHAR(50) NOT NULL, 
    description NVARCHAR(4000) NOT NULL, 
    terrains NVARCHAR(max) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_locations PRIMARY KEY (id), 
    CONSTRAINT ck_locations_terrains_is_json CHECK (ISJSON(terrains) = 1), 
    CONSTRAINT fk_locations_world_id_worlds FOREIGN KEY(world_id) REFERENCES worlds (id), 
    CONSTRAINT fk_locations_parent_id_locations FOREIGN KEY(parent_id) REFERENCES locations (id)
);

GO

CREATE INDEX ix_locations_world_id ON locations (world_id);

GO

CREATE INDEX ix_locations_parent_id ON locations (parent_id);

GO

CREATE INDEX ix_locations_name ON locations (name);

GO

CREATE TABLE character_states (
    id BIGINT IDENTITY(1,1) NOT NULL,
    character_id BIGINT NOT NULL,
    hit_points INTEGER NOT NULL,
    max_hit_points INTEGER NOT NULL,
    temporary_hit_points INTEGER NOT NULL,
    conditions NVARCHAR(max) NOT NULL,
    inventory NVARCHAR(max) NOT NULL,
    location_id BIGINT NULL,
    notes NVARCHAR(4000) NOT NULL,
    request_id NVARCHAR(128) NULL,
    valid_from DATETIME2(7) GENERATED ALWAYS AS ROW START NOT NULL,
    valid_to DATETIME2(7) GENERATED ALWAYS AS ROW END NOT NULL,
    PERIOD FOR SYSTEM_TIME (valid_from, valid_to),
    CONSTRAINT pk_character_states PRIMARY KEY (id),
    CONSTRAINT uq_character_states_character_id UNIQUE (character_id),
    CONSTRAINT fk_character_states_character_id_characters FOREIGN KEY (character_id) REFERENCES characters (id),
    CONSTRAINT fk_character_states_location_id_locations FOREIGN KEY (location_id) REFERENCES locations (id),
    CONSTRAINT ck_character_states_conditions_is_json CHECK (ISJSON(conditions) = 1),
    CONSTRAINT ck_character_states_inventory_is_json CHECK (ISJSON(inventory) = 1)
)
WITH (SYSTEM_VERSIONING = ON (HISTORY_TABLE = dbo.character_states_history));

GO

CREATE INDEX ix_character_states_location_id ON character_states (location_id);

GO

CREATE INDEX ix_character_states_request_id ON character_states (request_id);

GO

CREATE INDEX ix_character_states_history_character_id_valid_to_valid_from ON character_states_history (character_id, valid_to, valid_from);

GO

CREATE INDEX ix_character_states_history_request_id ON character_states_history (request_id);

GO

CREATE TABLE items (
    id BIGINT NOT NULL IDENTITY, 
    world_id BIGINT NULL, 
    campaign_id BIGINT NULL, 
    owner_character_id BIGINT NULL, 
    name NVARCHAR(200) NOT NULL, 
    item_type NVARCHAR(50) NOT NULL, 
    rarity NVARCHAR(50) NOT NULL, 
    description NVARCHAR(4000) NOT NULL, 
    properties NVARCHAR(max) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_items PRIMARY KEY (id), 
    CONSTRAINT ck_items_properties_is_json CHECK (ISJSON(properties) = 1), 
    CONSTRAINT fk_items_world_id_worlds FOREIGN KEY(world_id) REFERENCES worlds (id), 
    CONSTRAINT fk_items_campaign_id_campaigns FOREIGN KEY(campaign_id) REFERENCES campaigns (id), 
    CONSTRAINT fk_items_owner_character_id_characters FOREIGN KEY(owner_character_id) REFERENCES characters (id)
);

GO

CREATE INDEX ix_items_world_id ON items (world_id);

GO

CREATE INDEX ix_items_campaign_id ON items (campaign_id);

GO

CREATE INDEX ix_items_owner_character_id ON items (owner_character_id);

GO

CREATE INDEX ix_items_name ON items (name);

GO

CREATE TABLE lore_texts (
    id BIGINT NOT NULL IDENTITY, 
    sha256 VARCHAR(64) NOT NULL, 
    content NVARCHAR(max) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_lore_texts PRIMARY KEY (id), 
    CONSTRAINT uq_lore_texts_sha256 UNIQUE (sha256)
);

GO

CREATE TABLE lore_entries (
    id BIGINT NOT NULL IDENTITY, 
    world_id BIGINT NOT NULL, 
    [key] NVARCHAR(300) NOT NULL, 
    version INTEGER NOT NULL, 
    text_id BIGINT NOT NULL, 
    category NVARCHAR(50) NOT NULL, 
    title NVARCHAR(400) NOT NULL, 
    metadata NVARCHAR(max) NOT NULL, 
    audience SMALLINT NOT NULL, 
    pinned BIT NOT NULL, 
    superseded BIT NOT NULL, 
    deleted BIT NOT NULL, 
    source_path NVARCHAR(400) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    superseded_at DATETIME2(7) NULL, 
    deleted_at DATETIME2(7) NULL, 
    CONSTRAINT pk_lore_entries PRIMARY KEY (id), 
    CONSTRAINT uq_lore_entries_world_id_key_version UNIQUE (world_id, [key], version), 
    CONSTRAINT ck_lore_entries_version_positive CHECK (version >= 1), 
    CONSTRAINT ck_lore_entries_audience_known CHECK (audience IN (1, 2)), 
    CONSTRAINT ck_lore_entries_metadata_is_json CHECK (ISJSON(metadata) = 1), 
    CONSTRAINT fk_lore_entries_world_id_worlds FOREIGN KEY(world_id) REFERENCES worlds (id), 
    CONSTRAINT fk_lore_entries_text_id_lore_texts FOREIGN KEY(text_id) REFERENCES lore_texts (id)
);

GO

CREATE INDEX ix_lore_entries_world_id ON lore_entries (world_id);

GO

CREATE INDEX ix_lore_entries_text_id ON lore_entries (text_id);

GO

CREATE INDEX ix_lore_entries_world_id_key_superseded ON lore_entries (world_id, [key], superseded);

GO

CREATE INDEX ix_lore_entries_world_id_category ON lore_entries (world_id, category);

GO

CREATE INDEX ix_lore_entries_world_id_pinned_superseded_deleted ON lore_entries (world_id, pinned, superseded, deleted);

GO

CREATE INDEX ix_lore_entries_world_id_source_path ON lore_entries (world_id, source_path);

GO

CREATE TABLE lore_keywords (
    id BIGINT NOT NULL IDENTITY, 
    entry_id BIGINT NOT NULL, 
    position SMALLINT NOT NULL, 
    keyword NVARCHAR(100) NOT NULL, 
    CONSTRAINT pk_lore_keywords PRIMARY KEY (id), 
    CONSTRAINT fk_lore_keywords_entry_id_lore_entries FOREIGN KEY(entry_id) REFERENCES lore_entries (id)
);

GO

CREATE INDEX ix_lore_keywords_entry_id ON lore_keywords (entry_id);

GO

CREATE INDEX ix_lore_keywords_keyword ON lore_keywords (keyword);

GO

CREATE TABLE events (
    id BIGINT NOT NULL IDENTITY, 
    campaign_id BIGINT NOT NULL, 
    session_id BIGINT NULL, 
    kind SMALLINT NOT NULL, 
    actor NVARCHAR(200) NOT NULL, 
    content NVARCHAR(max) NOT NULL, 
    content_sha256 VARCHAR(64) NOT NULL, 
    metadata NVARCHAR(max) NOT NULL, 
    audience SMALLINT NOT NULL, 
    occurred_at DATETIME2(7) NOT NULL, 
    recorded_at DATETIME2(7) NOT NULL, 
    request_id NVARCHAR(128) NOT NULL, 
    CONSTRAINT pk_events PRIMARY KEY (id), 
    CONSTRAINT uq_events_campaign_id_request_id UNIQUE (campaign_id, request_id), 
    CONSTRAINT ck_events_audience_known CHECK (audience IN (1, 2)), 
    CONSTRAINT ck_events_metadata_is_json CHECK (ISJSON(metadata) = 1), 
    CONSTRAINT fk_events_campaign_id_campaigns FOREIGN KEY(campaign_id) REFERENCES campaigns (id), 
    CONSTRAINT fk_events_session_id_sessions FOREIGN KEY(session_id) REFERENCES sessions (id)
);

GO

CREATE INDEX ix_events_campaign_id ON events (campaign_id);

GO

CREATE INDEX ix_events_session_id ON events (session_id);

GO

CREATE INDEX ix_events_campaign_id_occurred_at_id ON events (campaign_id, occurred_at, id);

GO

CREATE INDEX ix_events_campaign_id_kind ON events (campaign_id, kind);

GO

CREATE TABLE relationships (
    id BIGINT NOT NULL IDENTITY, 
    campaign_id BIGINT NOT NULL, 
    source NVARCHAR(200) NOT NULL, 
    target NVARCHAR(200) NOT NULL, 
    kind NVARCHAR(50) NOT NULL, 
    description NVARCHAR(4000) NOT NULL, 
    strength INTEGER NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_relationships PRIMARY KEY (id), 
    CONSTRAINT ck_relationships_strength_range CHECK (strength BETWEEN -100 AND 100), 
    CONSTRAINT fk_relationships_campaign_id_campaigns FOREIGN KEY(campaign_id) REFERENCES campaigns (id)
);

GO

CREATE INDEX ix_relationships_campaign_id ON relationships (campaign_id);

GO

CREATE INDEX ix_relationships_campaign_id_source ON relationships (campaign_id, source);

GO

CREATE INDEX ix_relationships_campaign_id_target ON relationships (campaign_id, target);

GO

CREATE TABLE assets (
    id BIGINT NOT NULL IDENTITY, 
    sha256 VARCHAR(64) NOT NULL, 
    campaign_id BIGINT NULL, 
    kind NVARCHAR(50) NOT NULL, 
    mime_type NVARCHAR(100) NOT NULL, 
    data VARBINARY(max) NOT NULL, 
    width INTEGER NOT NULL, 
    height INTEGER NOT NULL, 
    metadata NVARCHAR(max) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_assets PRIMARY KEY (id), 
    CONSTRAINT uq_assets_sha256 UNIQUE (sha256), 
    CONSTRAINT ck_assets_metadata_is_json CHECK (ISJSON(metadata) = 1), 
    CONSTRAINT fk_assets_campaign_id_campaigns FOREIGN KEY(campaign_id) REFERENCES campaigns (id)
);

GO

CREATE INDEX ix_assets_campaign_id ON assets (campaign_id);

GO

CREATE TABLE moderation_log (
    id BIGINT NOT NULL IDENTITY, 
    campaign_id BIGINT NULL, 
    direction NVARCHAR(16) NOT NULL, 
    allowed BIT NOT NULL, 
    categories NVARCHAR(max) NOT NULL, 
    backend NVARCHAR(50) NOT NULL, 
    reason NVARCHAR(1000) NOT NULL, 
    text_sha256 VARCHAR(64) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_moderation_log PRIMARY KEY (id), 
    CONSTRAINT ck_moderation_log_categories_is_json CHECK (ISJSON(categories) = 1), 
    CONSTRAINT fk_moderation_log_campaign_id_campaigns FOREIGN KEY(campaign_id) REFERENCES campaigns (id)
);

GO

CREATE INDEX ix_moderation_log_campaign_id_created_at ON moderation_log (campaign_id, created_at);

GO

CREATE INDEX ix_moderation_log_created_at ON moderation_log (created_at);

GO

CREATE TABLE vector_outbox (
    id BIGINT NOT NULL IDENTITY, 
    scope VARCHAR(16) NOT NULL, 
    scope_id BIGINT NOT NULL, 
    row_id BIGINT NOT NULL, 
    op VARCHAR(16) NOT NULL, 
    attempts INTEGER NOT NULL, 
    available_at DATETIME2(7) NOT NULL, 
    last_error NVARCHAR(1000) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_vector_outbox PRIMARY KEY (id)
);

GO

CREATE INDEX ix_vector_outbox_available_at_id ON vector_outbox (available_at, id);

GO

CREATE TABLE embeddings (
    model NVARCHAR(200) NOT NULL, 
    sha256 VARCHAR(64) NOT NULL, 
    dim INTEGER NOT NULL, 
    vector VARBINARY(max) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_embeddings PRIMARY KEY (model, sha256)
);

GO

COMMIT;

GO

CREATE FULLTEXT CATALOG dm_fulltext;

GO

CREATE FULLTEXT INDEX ON lore_texts (content LANGUAGE 1033) KEY INDEX pk_lore_texts ON dm_fulltext WITH (CHANGE_TRACKING = AUTO, STOPLIST = SYSTEM);

GO

CREATE FULLTEXT INDEX ON events (content LANGUAGE 1033) KEY INDEX pk_events ON dm_fulltext WITH (CHANGE_TRACKING = AUTO, STOPLIST = SYSTEM);

GO

BEGIN TRANSACTION;

INSERT INTO alembic_version (version_num) OUTPUT inserted.version_num VALUES ('0001');

GO

COMMIT;

GO

BEGIN TRANSACTION;

-- Running upgrade 0001 -> 0002

ALTER TABLE characters ADD sheet_json NVARCHAR(max) NULL CONSTRAINT ck_characters_sheet_json_is_json CHECK (ISJSON(sheet_json) = 1);

GO

ALTER TABLE character_states ADD live NVARCHAR(max) NULL CONSTRAINT ck_character_states_live_is_json CHECK (ISJSON(live) = 1);

GO

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

GO

COMMIT;

GO

BEGIN TRANSACTION;

-- Running upgrade 0002 -> 0003

ALTER TABLE campaigns ADD last_sequence BIGINT NOT NULL DEFAULT '0';

GO

ALTER TABLE characters ADD owner NVARCHAR(128) NULL;

GO

CREATE INDEX ix_characters_owner ON characters (owner);

GO

ALTER TABLE events ADD sequence BIGINT NOT NULL DEFAULT '0';

GO

ALTER TABLE events ADD recipients NVARCHAR(2200) NULL;

GO

UPDATE events SET sequence = (SELECT COUNT(*) FROM events AS e2 WHERE e2.campaign_id = events.campaign_id AND e2.id <= events.id);

GO

UPDATE campaigns SET last_sequence = COALESCE((SELECT MAX(e.sequence) FROM events AS e WHERE e.campaign_id = campaigns.id), 0);

GO

CREATE UNIQUE INDEX ix_events_campaign_id_sequence ON events (campaign_id, sequence);

GO

CREATE TABLE turn_tickets (
    id BIGINT NOT NULL IDENTITY, 
    campaign_id BIGINT NOT NULL, 
    turn_id NVARCHAR(128) NOT NULL, 
    holder NVARCHAR(200) NOT NULL, 
    granted BIT NOT NULL, 
    expires_at DATETIME2(7) NOT NULL, 
    created_at DATETIME2(7) NOT NULL, 
    CONSTRAINT pk_turn_tickets PRIMARY KEY (id), 
    CONSTRAINT uq_turn_tickets_campaign_id_turn_id UNIQUE (campaign_id, turn_id), 
    CONSTRAINT fk_turn_tickets_campaign_id_campaigns FOREIGN KEY(campaign_id) REFERENCES campaigns (id)
);

GO

CREATE INDEX ix_turn_tickets_campaign_id ON turn_tickets (campaign_id);

GO

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

GO

COMMIT;

GO

