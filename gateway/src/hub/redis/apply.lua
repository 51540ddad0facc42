-- Applies one change to one session, atomically: message dedup, tombstone collection,
-- per-key last-writer-wins merge within the session bounds, history append, publish to
-- the session's shard channel, expiry refresh. The steps, and the bounds, are those of
-- `MergedState::merge` (hub/state.rs, hub/bounds.rs), in the same order.
--
-- KEYS: 1 meta (hash: epoch, seq, updated_at, bytes), 2 state (hash: key -> JSON value),
--       3 versions (hash: key -> timestamp of its last write, deletes included),
--       4 history (stream of framed events, id 0-{seq}), 5 the message's dedup key,
--       6 tombstones (sorted set: deleted key, scored by its delete's arrival in µs).
-- ARGV: 1 channel, 2 session TTL (s), 3 history length, 4 dedup TTL (s, 0 = no dedup),
--       5 operation (update|delete), 6 timestamp (RFC 3339 UTC with microseconds: its
--       string order is its time order), 7 event JSON up to the metadata object's `{`,
--       8 event JSON from the metadata object's `}`, 9 most keys (and tombstones),
--       10 most snapshot bytes, 11 now (Unix µs, the gateway's clock), 12 tombstone
--       cutoff (Unix µs: tombstones that arrived before it are collected), then per key:
--       key, value JSON ('' for a delete), the key's `"key":value` JSON fragment.
-- Returns {status, epoch, seq, mask}: status `dup` (a redelivered message), `none` (no key
-- won) or `applied`, mask one character per key, `1` applied, `0` stale; or
-- {`session_full` | `snapshot_too_large`, size after the change, '', ''}: refused whole.

local meta, state, versions, history, dedup, tombs =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local channel, ttl, history_len, dedup_ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local operation, ts, prefix, suffix = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local max_keys, max_bytes, now, cutoff = tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11], ARGV[12]

if dedup_ttl > 0 and not redis.call('SET', dedup, '1', 'NX', 'EX', dedup_ttl) then
  return {'dup', '', '', ''}
end

-- Tombstones past the horizon: forget the versions they kept.
local expired = redis.call('ZRANGEBYSCORE', tombs, '-inf', '(' .. cutoff)
for _, key in ipairs(expired) do
  redis.call('HDEL', versions, key)
end
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', tombs, '-inf', '(' .. cutoff)
end

-- The snapshot's size: each key's length plus its value's (kept in meta; counted once
-- for a session written before it was kept).
local keys_before = redis.call('HLEN', state)
local bytes_before = tonumber(redis.call('HGET', meta, 'bytes') or '')
if not bytes_before then
  bytes_before = 0
  local all = redis.call('HGETALL', state)
  for i = 1, #all, 2 do
    bytes_before = bytes_before + #all[i] + #all[i + 1]
  end
end

-- Which keys win, and the size if they are applied.
local wins, keys_after, bytes_after = {}, keys_before, bytes_before
for i = 13, #ARGV, 3 do
  local key, value = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', versions, key)
  local old = redis.call('HGET', state, key)
  local newer = not current or ts > current
  if current and ts == current then
    -- Equal times: the larger written value wins (a delete writes ''), as in memory.
    newer = value > (old or '')
  end
  wins[#wins + 1] = newer
  if newer then
    if old then
      keys_after = keys_after - 1
      bytes_after = bytes_after - #key - #old
    end
    if operation == 'update' then
      keys_after = keys_after + 1
      bytes_after = bytes_after + #key + #value
    end
  end
end

-- The growth rule (SessionBounds::check_growth): refused whole, and not marked as seen.
local refused
if keys_after > max_keys and keys_after > keys_before then
  refused = {'session_full', tostring(keys_after), '', ''}
elseif bytes_after > max_bytes and bytes_after > bytes_before then
  refused = {'snapshot_too_large', tostring(bytes_after), '', ''}
end
if refused then
  if dedup_ttl > 0 then
    redis.call('DEL', dedup)
  end
  return refused
end

local mask, fragments = {}, {}
for n, newer in ipairs(wins) do
  local i = 13 + (n - 1) * 3
  local key, value = ARGV[i], ARGV[i + 1]
  if newer then
    redis.call('HSET', versions, key, ts)
    if operation == 'update' then
      redis.call('HSET', state, key, value)
      redis.call('ZREM', tombs, key)
    else
      redis.call('HDEL', state, key)
      redis.call('ZADD', tombs, now, key)
    end
    mask[#mask + 1] = '1'
    fragments[#fragments + 1] = ARGV[i + 2]
  else
    mask[#mask + 1] = '0'
  end
end
if #fragments == 0 then
  return {'none', '', '', table.concat(mask)}
end

-- At most max_keys tombstones: the oldest arrivals (then the smallest keys) go first.
local excess = redis.call('ZCARD', tombs) - max_keys
if excess > 0 then
  local popped = redis.call('ZPOPMIN', tombs, excess)
  for i = 1, #popped, 2 do
    redis.call('HDEL', versions, popped[i])
  end
end

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  -- A new history: its epoch is the server's time in milliseconds.
  local now_ms = redis.call('TIME')
  epoch = string.format('%d', tonumber(now_ms[1]) * 1000 + math.floor(tonumber(now_ms[2]) / 1000))
  redis.call('HSET', meta, 'epoch', epoch)
end
local seq = redis.call('HINCRBY', meta, 'seq', 1)
redis.call('HSET', meta, 'bytes', bytes_after)
local updated_at = redis.call('HGET', meta, 'updated_at')
if not updated_at or ts > updated_at then
  redis.call('HSET', meta, 'updated_at', ts)
end

local frame = 'id: ' .. epoch .. '-' .. seq .. '\nevent: metadata\ndata: '
  .. prefix .. table.concat(fragments, ',') .. suffix .. '\n\n'
redis.call('XADD', history, 'MAXLEN', history_len, '0-' .. seq, 'f', frame)
redis.call('SPUBLISH', channel, frame)
for _, key in ipairs({meta, state, versions, history, tombs}) do
  redis.call('EXPIRE', key, ttl)
end
return {'applied', epoch, tostring(seq), table.concat(mask)}
