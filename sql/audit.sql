-- Audit queries over Butterfly's event log in PostgreSQL (see sql/README.md).
--
-- Run them all with psql, giving what you are looking for as variables:
--     psql "$DATABASE_URL" -v schema=butterfly -v nic_id=vm-42-eth0 -v sg_id=sg-web \
--          -v message_id=req-1234 -v since='2030-01-01 00:00+00' -v until='2030-01-02 00:00+00' \
--          -f sql/audit.sql
-- or copy one query into your own session after the "events" view below. A variable left
-- out matches nothing (ids) or everything (time range). The queries only read.

\set QUIET 1
\if :{?schema}
\else
\set schema butterfly
\endif
\if :{?nic_id}
\else
\set nic_id ''
\endif
\if :{?sg_id}
\else
\set sg_id ''
\endif
\if :{?message_id}
\else
\set message_id ''
\endif
\if :{?since}
\else
\set since '-infinity'
\endif
\if :{?until}
\else
\set until 'infinity'
\endif

set search_path to :"schema";

-- One row per Butterfly event, with Marten's storage details taken away. A temporary
-- view: it lives for this session only and needs no privilege on the schema.
create temporary view events as
select e.version                     as sequence,     -- Butterfly's gap-free sequence
       e."timestamp"                 as at,           -- one per batch, UTC
       e.data->>'event_type'         as event_type,
       e.data->>'aggregate_kind'     as aggregate_kind, -- 'nic' or 'sg'
       e.data->>'aggregate_id'       as aggregate_id,
       e.data->>'origin'             as origin,       -- the client, as the server saw it
       e.data->>'message_id'         as message_id,
       (e.data->>'data_json')::jsonb as payload
from mt_events e
where e.stream_id = 'configuration';

\echo '== History of NIC' :'nic_id'
select sequence, at, event_type, origin, message_id, payload
from events
where aggregate_kind = 'nic' and aggregate_id = :'nic_id'
order by sequence;

\echo '== History of security group' :'sg_id'
select sequence, at, event_type, origin, message_id, payload
from events
where aggregate_kind = 'sg' and aggregate_id = :'sg_id'
order by sequence;

\echo '== NIC events that name security group' :'sg_id' '(membership changes)'
-- Any string equal to the group id anywhere in a NIC event's payload, whatever its field
-- name: NicAdded with the group in its list, NicSecurityGroupsReplaced, ...
select sequence, at, event_type, aggregate_id as nic_id, origin, message_id
from events
where aggregate_kind = 'nic'
  and jsonb_path_exists(payload, 'strict $.** ? (@ == $g)', jsonb_build_object('g', :'sg_id'::text))
order by sequence;

\echo '== Who changed what between' :'since' 'and' :'until'
select at, origin, message_id, event_type, aggregate_kind, aggregate_id, sequence
from events
where at >= :'since'::timestamptz and at <= :'until'::timestamptz
order by sequence;

\echo '== Events of request' :'message_id'
select sequence, at, origin, event_type, aggregate_kind, aggregate_id, payload
from events
where message_id = :'message_id'
order by sequence;

\echo '== Configuration changes per client between' :'since' 'and' :'until'
-- The log holds configuration changes only (queries are never logged), so this counts
-- each client's changes and what they touched.
select origin,
       count(*)                                            as events,
       count(distinct message_id)                          as requests,
       count(distinct aggregate_kind || ':' || aggregate_id) as objects,
       min(at)                                             as first_change,
       max(at)                                             as last_change,
       string_agg(distinct event_type, ', ' order by event_type) as event_types
from events
where at >= :'since'::timestamptz and at <= :'until'::timestamptz
group by origin
order by events desc, origin;
