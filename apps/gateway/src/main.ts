import { runServer } from '@st/control-plane';

// st-gateway: the OpenAI HTTP face alone; reaches the broker at ST_BROKER_ADDRESS.
void runServer('st-gateway', process.argv.slice(2), ['gateway']);
