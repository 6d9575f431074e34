import { runServer } from '@st/control-plane';

// st-broker: the broker role alone (agents' streams, RelayService for remote gateways).
void runServer('st-broker', process.argv.slice(2), ['broker']);
