import { runServer } from '@st/control-plane';

// st-gateway: the OpenAI HTTP face alone; finds brokers through presence (ST_REDIS_URL), else
// reaches the one broker at ST_BROKER_ADDRESS.
void runServer('st-gateway', process.argv.slice(2), ['gateway']);
