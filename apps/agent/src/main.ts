import { runAgent } from '@st/agent';

// st-agent: dials out to the broker and serves the tunnel's requests from the local model server.
void runAgent(process.argv.slice(2));
