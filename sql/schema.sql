-- Butterfly's event store on PostgreSQL: the tables Marten creates and the daemon uses.
--
-- You do not need to run this: butterflyd creates (and upgrades) these objects itself when
-- it opens the store (Marten's auto-create), in the schema named by the destination
-- (default "butterfly"). This file is for a DBA: what the tables are, what each column
-- holds, and a way to create them ahead of time. Run it with psql:
--     psql "$DATABASE_URL" -v schema=butterfly -f sql/schema.sql
-- Marten adds on first open what is not here: its helper functions (mt_quick_append_events,
-- which every append calls; mt_archive_stream; mt_jsonb_*; mt_grams_*; mt_immutable_*;
-- mt_mark_event_progression; ...) and bookkeeping tables for features Butterfly does not
-- use (mt_event_progression, mt_event_projection_floors, mt_high_water_skips,
-- mt_doc_deadletterevent). The role butterflyd connects as therefore needs CREATE on the
-- schema, or a first start by a role that has it.
--
-- How Butterfly uses them: a host's whole switch configuration is ONE Marten stream, id
-- 'configuration/<host id>' (butterfly_hosts says which stream is whose, so many hosts can
-- share one database: a fleet). mt_events.version is the event's sequence number within its
-- stream (1, 2, 3, ... with no gaps: the unique index on (stream_id, version) and an
-- expected-version check on every append guarantee it), and one AppendAsync batch is one
-- transaction. All events share one CLR type, so mt_events.type is always
-- 'configuration_event'; Butterfly's own event type is in data->>'event_type'. sql/audit.sql
-- (one host) and sql/fleet.sql (every host) have ready-made queries.
--
-- A database written before host ids holds one stream, id 'configuration', that no host has
-- claimed; the first upgraded daemon that opens it adopts it (sql/README.md, "A fleet in one
-- database").

\set QUIET 1
\if :{?schema}
\else
\set schema butterfly
\endif

create schema if not exists :"schema";
set search_path to :"schema";

-- One row per stream: one per host, id 'configuration/<host id>' ('configuration' for a
-- stream written before host ids). version = the last sequence.
create table if not exists mt_streams (
    id                varchar     not null,                 -- 'configuration/<host id>'
    type              varchar,                              -- aggregate type (unused: null)
    version           bigint,                               -- sequence of the newest event
    "timestamp"       timestamptz not null default now(),   -- last append
    created           timestamptz not null default now(),   -- first append
    tenant_id         varchar default '*DEFAULT*',          -- Marten multi-tenancy (unused)
    compacted_version bigint not null default 0,            -- Marten stream compaction (unused)
    is_archived       boolean default false,                -- Marten archiving (unused)
    constraint pkey_mt_streams_id primary key (id)
);

-- Global sequence of mt_events.seq_id (Marten's cross-stream order; may have gaps).
-- Butterfly's gap-free sequence is mt_events.version, not seq_id.
create sequence if not exists mt_events_sequence;

-- The event log. One row per event, never updated or deleted by Butterfly.
create table if not exists mt_events (
    seq_id         bigint      not null,                  -- Marten's global position (mt_events_sequence)
    id             uuid        not null,                  -- Marten's event id
    stream_id      varchar,                               -- the host's stream, see butterfly_hosts
    version        bigint      not null,                  -- THE sequence: 1, 2, 3, ... no gaps, per stream
    data           jsonb       not null,                  -- the event, see below
    bdata          bytea,                                 -- Marten binary payloads (unused: null)
    type           varchar(500) not null,                 -- Marten type alias: 'configuration_event'
    -- One timestamp per batch, set by butterflyd (UTC, microseconds, never decreasing).
    -- Marten renders this default as the constant time of creation; it is never used
    -- because every append supplies the timestamp.
    "timestamp"    timestamptz not null default now(),
    tenant_id      varchar default '*DEFAULT*',           -- Marten multi-tenancy (unused)
    mt_dotnet_type varchar,                               -- CLR type name Marten wrote it with
    is_archived    boolean default false,                 -- Marten archiving (unused)
    constraint pkey_mt_events_seq_id primary key (seq_id),
    constraint fkey_mt_events_stream_id foreign key (stream_id) references mt_streams (id) on delete cascade
);
alter sequence mt_events_sequence owned by mt_events.seq_id;
-- Makes (stream, sequence) unique: two writers can never both append sequence n.
create unique index if not exists pk_mt_events_stream_and_version on mt_events (stream_id, version);

-- mt_events.data, a JSON object with these keys (snake_case):
--   event_type      Butterfly event type: NicAdded, NicIpsReplaced, NicSecurityGroupsReplaced,
--                   NicAntiSpoofChanged, NicPacketTraceChanged, NicRemoved, SecurityGroupCreated,
--                   SecurityGroupDefined, SecurityGroupDeleted, RuleAdded, RuleRemoved,
--                   MemberAdded, MemberRemoved
--   aggregate_kind  'nic' or 'sg'
--   aggregate_id    the NIC id or security group id
--   data_json       the event's own payload, as JSON TEXT (kept verbatim, byte for byte);
--                   cast it to reach inside: (data->>'data_json')::jsonb
--   origin          the connection as the server saw it: its endpoint and ZeroMQ routing id,
--                   e.g. 'tcp://0.0.0.0:9999 peer 00800041a7'
--   message_id      the request's message_id, or null when the client sent none
--   cause           the request that caused it: nic_add, sg_rule_del, ..., 'restore_to 42' (a
--                   restore, with the sequence it restored to); absent before protocol revision 11
--   peer_address    the client's TCP address (IP); absent before revision 11
--   client_key      the client's CURVE public key (Z85) when the API runs CURVE; absent otherwise

-- Snapshots: a host's serialised configuration after event "sequence" (inclusive) of its
-- stream, so a start replays only the events after it. butterflyd keeps the newest three per host.
create table if not exists mt_doc_snapshot (
    id               varchar     not null,                -- '<stream>/<sequence as 20 digits>' (the 20 digits alone in the old stream)
    data             jsonb       not null,                -- {"stream":..,"sequence":..,"timestamp":..,"data_json":"..."}
    mt_last_modified timestamptz default transaction_timestamp(),
    mt_version       uuid        not null default (md5(random()::text || clock_timestamp()::text))::uuid,
    mt_dotnet_type   varchar,
    sequence         bigint,                              -- copy of data->'sequence', indexed
    stream           varchar,                             -- copy of data->'stream', indexed; null: written before host ids (the old stream's)
    constraint pkey_mt_doc_snapshot_id primary key (id)
);
create index if not exists mt_doc_snapshot_idx_sequence on mt_doc_snapshot (sequence);
create index if not exists mt_doc_snapshot_idx_stream on mt_doc_snapshot (stream);

-- Butterfly's own table (not Marten's): which stream is whose. A daemon claims its host id's
-- row at its first start ('configuration/<host id>'), or adopts the stream 'configuration' of a
-- database written before host ids (sql/README.md). One daemon per host id writes at a time:
-- it holds the advisory lock pg_try_advisory_lock(('x' || substr(md5('<schema>/<host id>'), 1, 16))::bit(64)::bigint).
create table if not exists butterfly_hosts (
    host_id   varchar primary key,                       -- --host-id (default: the host name)
    stream_id varchar not null unique,                   -- its stream in mt_events / mt_streams
    claimed   timestamptz not null default now()         -- when the host first opened the store
);

-- Indexes for the audit queries (sql/audit.sql) and the daemon's event filters. These are
-- Butterfly's, not Marten's: butterflyd creates them on open ("if not exists") and tells
-- Marten to ignore them, so Marten's schema migration neither drops them nor reports drift.
-- On a large existing table, build them with "create index concurrently" before upgrading.
create index if not exists butterfly_events_aggregate
    on mt_events ((data->>'aggregate_kind'), (data->>'aggregate_id'), version);
create index if not exists butterfly_events_message_id on mt_events ((data->>'message_id'));
create index if not exists butterfly_events_timestamp on mt_events ("timestamp");
