/**
 * Where presence lives in Redis (all under the prefix, ST_REDIS_PREFIX, default `st:`):
 *
 * - `<prefix>presence:stream:<tunnelId>:<member>`: a string, the entry's JSON, with a PX lease.
 *   Redis itself expires it, so a killed broker's streams vanish without anyone's clock.
 * - `<prefix>presence:tunnel:<tunnelId>`: a set of members, the index `streamsOf` reads. A member
 *   whose stream key has expired is removed by the next `streamsOf` (an empty set disappears).
 * - `<prefix>presence:broker:<brokerId>`: a set of `<tunnelId>\n<member>`, what `clearBroker`
 *   deletes; leased like the streams, so a broker that never returns leaves nothing behind.
 *
 * `<member>` is `<brokerId>/<streamId>` (both URI-encoded): stream ids are unique per broker only.
 * Every operation is one script, so one round trip and atomic. The scripts build stream keys
 * from the prefix instead of receiving them all as KEYS: fine on one Redis (the issue's
 * deployment), not on Redis Cluster.
 */
export class PresenceLayout {
  constructor(readonly prefix: string) {}

  member(brokerId: string, streamId: string): string {
    return `${encodeURIComponent(brokerId)}/${encodeURIComponent(streamId)}`;
  }

  streamKey(tunnelId: string, member: string): string {
    return `${this.prefix}presence:stream:${tunnelId}:${member}`;
  }

  tunnelKey(tunnelId: string): string {
    return `${this.prefix}presence:tunnel:${tunnelId}`;
  }

  brokerKey(brokerId: string): string {
    return `${this.prefix}presence:broker:${brokerId}`;
  }

  /** The broker heartbeat (ANNOUNCE_BROKER_SCRIPT). */
  get brokersKey(): string {
    return `${this.prefix}presence:brokers`;
  }

  get brokerAddressesKey(): string {
    return `${this.prefix}presence:broker-addresses`;
  }

  /** Prefix of stream keys, handed to the scripts. */
  get streamKeyPrefix(): string {
    return `${this.prefix}presence:stream:`;
  }
}

/**
 * KEYS: broker set. ARGV: stream-key prefix, lease ms, tunnel-set prefix, then
 * (tunnelId, member, json) triples. Writes (or re-writes) each entry with a fresh lease: refresh is a re-put, so entries
 * come back by themselves after Redis lost them (restart, or an outage longer than the lease).
 * Each triple names its own tunnel set via ARGV, so one call refreshes a broker's every stream.
 */
export const PUT_SCRIPT = `
local prefix = ARGV[1]
local lease = tonumber(ARGV[2])
local tunnelSetPrefix = ARGV[3]
for i = 4, #ARGV, 3 do
  local tunnelId, member, json = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('SET', prefix .. tunnelId .. ':' .. member, json, 'PX', lease)
  local tunnelSet = tunnelSetPrefix .. tunnelId
  redis.call('SADD', tunnelSet, member)
  -- The index lives as long as its newest lease, so a tunnel nobody reads again leaves nothing.
  if redis.call('PTTL', tunnelSet) < lease then redis.call('PEXPIRE', tunnelSet, lease) end
  redis.call('SADD', KEYS[1], tunnelId .. '\\n' .. member)
end
redis.call('PEXPIRE', KEYS[1], lease)
return 1
`;

/** KEYS: tunnel set, broker set. ARGV: stream key, member, broker-set member. */
export const REMOVE_SCRIPT = `
redis.call('DEL', ARGV[1])
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
return 1
`;

/** KEYS: broker set. ARGV: stream-key prefix, tunnel-set prefix. Returns how many were removed. */
export const CLEAR_BROKER_SCRIPT = `
local items = redis.call('SMEMBERS', KEYS[1])
for _, item in ipairs(items) do
  local nl = string.find(item, '\\n', 1, true)
  local tunnelId, member = string.sub(item, 1, nl - 1), string.sub(item, nl + 1)
  redis.call('DEL', ARGV[1] .. tunnelId .. ':' .. member)
  redis.call('SREM', ARGV[2] .. tunnelId, member)
end
redis.call('DEL', KEYS[1])
return #items
`;

/** KEYS: tunnel set. ARGV: stream-key prefix, tunnelId. Returns the live entries' JSON. */
export const STREAMS_OF_SCRIPT = `
local members = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, member in ipairs(members) do
  local json = redis.call('GET', ARGV[1] .. ARGV[2] .. ':' .. member)
  if json then
    table.insert(out, json)
  else
    redis.call('SREM', KEYS[1], member)
  end
end
return out
`;

/**
 * The broker heartbeat, `<prefix>presence:brokers`: a sorted set of broker ids scored by when
 * their heartbeat expires (Redis's own clock, so brokers' clocks need not agree), and
 * `<prefix>presence:broker-addresses`, a hash of their advertised addresses.
 * KEYS: brokers set, addresses hash. ARGV: broker id, address, lease ms. Drops the expired,
 * (re)announces this broker, and returns how many brokers are live, this one included.
 */
export const ANNOUNCE_BROKER_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
`;

/** KEYS: brokers set, addresses hash. Returns id, address pairs of the brokers whose heartbeat is live. */
export const LIVE_BROKERS_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for _, id in ipairs(ids) do
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[2], id) or '')
end
return out
`;

/** KEYS: brokers set, addresses hash. ARGV: broker id. */
export const WITHDRAW_BROKER_SCRIPT = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;
