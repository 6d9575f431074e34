import { runServer } from '@st/control-plane';

// st-discovery: ProviderDiscoveryService and the management API (what stctl's ST_SERVER points at)
// on the gRPC port, discovery's Connect face for browsers on the HTTP port. Needs ST_REDIS_URL.
void runServer('st-discovery', process.argv.slice(2), ['discovery']);
