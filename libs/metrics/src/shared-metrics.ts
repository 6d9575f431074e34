/**
 * The refusal counter of every role: the gateway's limits and the broker's, by limit name. In
 * st-server both roles ask the one registry for it and get the same counter.
 */
export const LIMIT_REFUSALS = {
  name: 'st_limit_refusals_total',
  help: 'Requests, connections and streams refused by a limit, by the limit (named after its setting)',
  labelNames: ['limit'],
} as const;
