/**
 * Exit codes of st-agent for failures that retrying cannot mend. The systemd unit lists them in
 * RestartPreventExitStatus so that systemd does not restart into the same failure forever.
 * Everything else is retried inside the agent and never exits.
 */
export const EXIT_OK = 0;
/** The configuration is invalid (the message names the setting and the fix). */
export const EXIT_CONFIG = 2;
/** The broker refused the token: the tunnel was deleted or its token replaced. */
export const EXIT_TOKEN_REFUSED = 3;
