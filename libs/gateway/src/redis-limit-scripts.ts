/**
 * Where the shared limit counters live in Redis (all under the prefix, ST_REDIS_PREFIX):
 *
 * - `<prefix>limit:bucket:<userId>`: a hash {tokens, at}, the user's rate bucket; expires once it
 *   would have refilled, so an idle user costs nothing.
 * - `<prefix>limit:open:user:<userId>` and `<prefix>limit:open:tunnel:<tunnelId>`: sorted sets of
 *   open slots, one member per admitted request (`<gatewayId>:<n>`), scored by the time its lease
 *   ends. The holding gateway renews its members while their requests are open; a killed
 *   gateway's members outlive it by one lease at most, then the next admission prunes them.
 *
 * Times are Redis's own clock (TIME), so gateways whose clocks disagree still agree on leases.
 */
export class LimitLayout {
  constructor(readonly prefix: string) {}

  bucketKey(userId: string): string {
    return `${this.prefix}limit:bucket:${userId}`;
  }

  userOpenKey(userId: string): string {
    return `${this.prefix}limit:open:user:${userId}`;
  }

  tunnelOpenKey(tunnelId: string): string {
    return `${this.prefix}limit:open:tunnel:${tunnelId}`;
  }
}

/**
 * One admission, atomically. KEYS: bucket, user's open slots, tunnel's open slots. ARGV: tunnel
 * concurrency, user concurrency, rate per second, bucket size (0 = no such limit), the slot's
 * member, lease in ms. Returns {1} when admitted (a slot taken in both sets and a token spent),
 * else {0, limit name, retry after ms}. Same order of checks as InMemoryLimitCounters.
 */
export const ADMIT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tunnelLimit = tonumber(ARGV[1])
local userLimit = tonumber(ARGV[2])
local rps = tonumber(ARGV[3])
local size = tonumber(ARGV[4])
local member = ARGV[5]
local lease = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if tunnelLimit > 0 and redis.call('ZCARD', KEYS[3]) >= tunnelLimit then
  return {0, 'tunnel_concurrency', 1000}
end
if userLimit > 0 and redis.call('ZCARD', KEYS[2]) >= userLimit then
  return {0, 'user_concurrency', 1000}
end
if rps > 0 then
  local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens = size
  if b[1] and b[2] then
    tokens = math.min(size, tonumber(b[1]) + (now - tonumber(b[2])) * rps / 1000)
  end
  local refill = math.ceil((size - tokens + 1) * 1000 / rps) + 1000
  if tokens < 1 then
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
    redis.call('PEXPIRE', KEYS[1], refill)
    return {0, 'user_rate', math.ceil((1 - tokens) * 1000 / rps)}
  end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', now)
  redis.call('PEXPIRE', KEYS[1], refill)
end
redis.call('ZADD', KEYS[3], now + lease, member)
redis.call('ZADD', KEYS[2], now + lease, member)
redis.call('PEXPIRE', KEYS[3], lease)
redis.call('PEXPIRE', KEYS[2], lease)
return {1}
`;

/**
 * Renews open slots. KEYS: the sets, ARGV[1]: lease in ms, ARGV[i + 1]: the member of KEYS[i].
 * A member already pruned (its renewal was late, Redis was away) is added again: its request is
 * still open, so the counts must show it.
 */
export const RENEW_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[i + 1])
  if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
end
return #KEYS
`;
