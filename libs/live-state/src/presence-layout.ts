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
  redis.call('SADD', tunnelSetPrefix .. tunnelId, member)
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
