-- Applies one change to one session, atomically: message dedup, per-key last-writer-wins
-- merge, history append, publish to the session's shard channel, expiry refresh.
--
-- KEYS: 1 meta (hash: epoch, seq, updated_at), 2 state (hash: key -> JSON value),
--       3 versions (hash: key -> timestamp of its last write, deletes included),
--       4 history (stream of framed events, id 0-{seq}), 5 the message's dedup key.
-- ARGV: 1 channel, 2 session TTL (s), 3 history length, 4 dedup TTL (s, 0 = no dedup),
--       5 operation (update|delete), 6 timestamp (RFC 3339 UTC with microseconds: its
--       string order is its time order), 7 event JSON up to the metadata object's `{`,
--       8 event JSON from the metadata object's `}`, then per key:
--       key, value JSON ('' for a delete), the key's `"key":value` JSON fragment.
-- Returns {status, epoch, seq, mask}: status `dup` (a redelivered message), `none` (no key
-- won) or `applied`; mask has one character per key, `1` applied, `0` stale.

local meta, state, versions, history, dedup = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local channel, ttl, history_len, dedup_ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local operation, ts, prefix, suffix = ARGV[5], ARGV[6], ARGV[7], ARGV[8]

if dedup_ttl > 0 and not redis.call('SET', dedup, '1', 'NX', 'EX', dedup_ttl) then
  return {'dup', '', '', ''}
end

local mask, fragments = {}, {}
for i = 9, #ARGV, 3 do
  local key, value = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', versions, key)
  local newer = not current or ts > current
  if current and ts == current then
    -- Equal times: the larger written value wins (a delete writes ''), as in memory.
    newer = value > (redis.call('HGET', state, key) or '')
  end
  if newer then
    redis.call('HSET', versions, key, ts)
    if operation == 'update' then
      redis.call('HSET', state, key, value)
    else
      redis.call('HDEL', state, key)
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

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  -- A new history: its epoch is the server's time in milliseconds.
  local now = redis.call('TIME')
  epoch = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
  redis.call('HSET', meta, 'epoch', epoch)
end
local seq = redis.call('HINCRBY', meta, 'seq', 1)
local updated_at = redis.call('HGET', meta, 'updated_at')
if not updated_at or ts > updated_at then
  redis.call('HSET', meta, 'updated_at', ts)
end

local frame = 'id: ' .. epoch .. '-' .. seq .. '\nevent: metadata\ndata: '
  .. prefix .. table.concat(fragments, ',') .. suffix .. '\n\n'
redis.call('XADD', history, 'MAXLEN', history_len, '0-' .. seq, 'f', frame)
redis.call('SPUBLISH', channel, frame)
for _, key in ipairs({meta, state, versions, history}) do
  redis.call('EXPIRE', key, ttl)
end
return {'applied', epoch, tostring(seq), table.concat(mask)}
