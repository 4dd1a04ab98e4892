-- Audit queries across the hosts of a fleet whose daemons share one PostgreSQL database
-- (see sql/README.md, "A fleet in one database"). Each host writes its own stream
-- ('configuration/<host id>'); butterfly_hosts says which stream is whose.
--
-- Run them all with psql, giving what you are looking for as variables:
--     psql "$DATABASE_URL" -v schema=butterfly -v nic_id=vm-42-eth0 -v at='2030-01-01 12:00+00' \
--          -v since='2030-01-01 11:00+00' -f sql/fleet.sql
-- at defaults to now, since to an hour ago. The queries only read.

\set QUIET 1
\if :{?schema}
\else
\set schema butterfly
\endif
\if :{?nic_id}
\else
\set nic_id ''
\endif
\if :{?at}
\else
\set at 'now'
\endif
\if :{?since}
\set since_sql :'since' '::timestamptz'
\set since_title :since
\else
\set since_sql 'now() - interval ''1 hour'''
\set since_title 'an hour ago'
\endif

set search_path to :"schema";

-- Every Butterfly event of every host. A temporary view: it lives for this session only.
create temporary view fleet_events as
select coalesce(h.host_id, '(unclaimed)') as host,  -- a stream written before host ids that no daemon adopted yet
       e.version                     as sequence,     -- per host
       e."timestamp"                 as at,
       e.data->>'event_type'         as event_type,
       e.data->>'aggregate_kind'     as aggregate_kind,
       e.data->>'aggregate_id'       as aggregate_id,
       e.data->>'origin'             as origin,
       e.data->>'message_id'         as message_id,
       e.data->>'cause'              as cause,
       e.data->>'peer_address'       as peer_address,
       e.data->>'client_key'         as client_key,
       (e.data->>'data_json')::jsonb as payload
from mt_events e
left join butterfly_hosts h on h.stream_id = e.stream_id
where e.stream_id = 'configuration' or e.stream_id like 'configuration/%';

\echo '== Hosts'
select h.host_id, h.stream_id, h.claimed, coalesce(s.version, 0) as events, s."timestamp" as last_change
from butterfly_hosts h
left join mt_streams s on s.id = h.stream_id
order by h.host_id;

\echo '== Which host had NIC' :'nic_id' 'at' :'at'
-- A host had the NIC when the NIC's last event there, at or before that time, is not its
-- removal (its nic_add, a restore re-adding it, or any change to it since).
select host, at as last_event_at, sequence, event_type, cause, origin
from (
    select distinct on (host) host, at, sequence, event_type, cause, origin
    from fleet_events
    where aggregate_kind = 'nic' and aggregate_id = :'nic_id' and at <= :'at'::timestamptz
    order by host, sequence desc
) last_event
where event_type <> 'NicRemoved'
order by host;

\echo '== Rule changes in the fleet since' :since_title
-- Every change to a group's rules: a rule added or removed, a group (re)defined with its rules
-- (sg_add), a group deleted.
select at, host, sequence, event_type, aggregate_id as sg_id, payload->'rule' as rule,
       cause, origin, peer_address, client_key
from fleet_events
where aggregate_kind = 'sg'
  and event_type in ('RuleAdded', 'RuleRemoved', 'SecurityGroupDefined', 'SecurityGroupDeleted')
  and at >= :since_sql
order by at, host, sequence;
