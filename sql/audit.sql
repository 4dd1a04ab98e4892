-- Audit queries over Butterfly's event log in PostgreSQL (see sql/README.md): one host's
-- history. For questions across the hosts of a fleet sharing the database, see sql/fleet.sql.
--
-- Run them all with psql, giving what you are looking for as variables:
--     psql "$DATABASE_URL" -v schema=butterfly -v host=hv-0042 -v nic_id=vm-42-eth0 -v sg_id=sg-web \
--          -v message_id=req-1234 -v since='2030-01-01 00:00+00' -v until='2030-01-02 00:00+00' \
--          -f sql/audit.sql
-- or copy one query into your own session after the "events" view below. A variable left
-- out matches nothing (ids) or everything (time range); without host, every host's events are
-- shown (the last column says whose). The queries only read.

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
\if :{?host}
\else
\set host ''
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
-- view: it lives for this session only and needs no privilege on the schema. The stream of a
-- database written before host ids ('configuration') is its adopting host's once a daemon
-- adopted it, and shows as '(unclaimed)' until then.
create temporary view events as
select e.version                     as sequence,     -- Butterfly's gap-free sequence, per host
       e."timestamp"                 as at,           -- one per batch, UTC
       e.data->>'event_type'         as event_type,
       e.data->>'aggregate_kind'     as aggregate_kind, -- 'nic' or 'sg'
       e.data->>'aggregate_id'       as aggregate_id,
       e.data->>'origin'             as origin,       -- the connection, as the server saw it
       e.data->>'message_id'         as message_id,
       (e.data->>'data_json')::jsonb as payload,
       e.data->>'cause'              as cause,        -- the request: nic_add, ..., 'restore_to 42'
       e.data->>'peer_address'       as peer_address, -- the client's IP
       e.data->>'client_key'         as client_key,   -- the client's CURVE key (Z85), when on
       coalesce(h.host_id, '(unclaimed)') as host
from mt_events e
left join butterfly_hosts h on h.stream_id = e.stream_id
where (e.stream_id = 'configuration' or e.stream_id like 'configuration/%')
  and (:'host' = '' or h.host_id = :'host');

\echo '== History of NIC' :'nic_id'
select sequence, at, event_type, origin, message_id, payload, cause, host
from events
where aggregate_kind = 'nic' and aggregate_id = :'nic_id'
order by host, sequence;

\echo '== History of security group' :'sg_id'
select sequence, at, event_type, origin, message_id, payload, cause, host
from events
where aggregate_kind = 'sg' and aggregate_id = :'sg_id'
order by host, sequence;

\echo '== NIC events that name security group' :'sg_id' '(membership changes)'
-- Any string equal to the group id anywhere in a NIC event's payload, whatever its field
-- name: NicAdded with the group in its list, NicSecurityGroupsReplaced, ...
select sequence, at, event_type, aggregate_id as nic_id, origin, message_id, host
from events
where aggregate_kind = 'nic'
  and jsonb_path_exists(payload, 'strict $.** ? (@ == $g)', jsonb_build_object('g', :'sg_id'::text))
order by host, sequence;

\echo '== Who changed what between' :'since' 'and' :'until'
select at, origin, message_id, event_type, aggregate_kind, aggregate_id, sequence, cause, peer_address, client_key, host
from events
where at >= :'since'::timestamptz and at <= :'until'::timestamptz
order by at, host, sequence;

\echo '== Events of request' :'message_id'
select sequence, at, origin, event_type, aggregate_kind, aggregate_id, payload, cause, host
from events
where message_id = :'message_id'
order by host, sequence;

\echo '== Restores between' :'since' 'and' :'until' '(the events a restore_to appended)'
select at, split_part(cause, ' ', 2)::bigint as restored_to, count(*) as events,
       string_agg(event_type || ' ' || aggregate_kind || '/' || aggregate_id, ', ' order by sequence) as changes,
       min(origin) as origin, min(peer_address) as peer_address, min(client_key) as client_key, host
from events
where cause like 'restore_to %' and at >= :'since'::timestamptz and at <= :'until'::timestamptz
group by host, at, cause
order by at, host;

\echo '== Configuration changes per client between' :'since' 'and' :'until'
-- The log holds configuration changes only (queries are never logged), so this counts
-- each client's changes and what they touched.
select origin,
       count(*)                                            as events,
       count(distinct message_id)                          as requests,
       count(distinct aggregate_kind || ':' || aggregate_id) as objects,
       min(at)                                             as first_change,
       max(at)                                             as last_change,
       string_agg(distinct event_type, ', ' order by event_type) as event_types,
       string_agg(distinct peer_address, ', ')             as peer_addresses,
       string_agg(distinct client_key, ', ')               as client_keys,
       string_agg(distinct host, ', ')                     as hosts
from events
where at >= :'since'::timestamptz and at <= :'until'::timestamptz
group by origin
order by events desc, origin;
