-- Reads what a subscriber needs, atomically: the events after its position if the
-- history still holds all of them, else a snapshot of the merged state.
--
-- KEYS: 1 meta, 2 state, 3 history (as in apply.lua).
-- ARGV: 1 resume epoch, 2 resume seq ('' and '' for none). `0-0` is the position of a
--       subscriber that joined before the session's first write.
-- Returns {'replay', epoch, seq, frame...} or
--         {'snapshot', epoch, seq, updated_at, key, value, key, value...} with '' for
--         what a session never written does not have.

local epoch, seq, updated_at = unpack(redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'updated_at'))
if epoch and ARGV[1] ~= '' then
  local after = tonumber(ARGV[2])
  local current = tonumber(seq)
  local same_history = ARGV[1] == epoch or (ARGV[1] == '0' and after == 0)
  if same_history and after <= current then
    local out = {'replay', epoch, seq}
    if after == current then
      return out
    end
    local entries = redis.call('XRANGE', KEYS[3], '0-' .. (after + 1), '+')
    if #entries > 0 and entries[1][1] == '0-' .. (after + 1) then
      for _, entry in ipairs(entries) do
        out[#out + 1] = entry[2][2]
      end
      return out
    end
  end
end
local out = {'snapshot', epoch or '', seq or '', updated_at or ''}
for _, field in ipairs(redis.call('HGETALL', KEYS[2])) do
  out[#out + 1] = field
end
return out
