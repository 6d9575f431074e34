/** The agent's release, stamped into Register and printed by --version. */
export const AGENT_VERSION = '0.1.0';
