import { runServer } from '@st/control-plane';

// st-server: every role in one process (the embedded default), or those named by --role.
void runServer('st-server', process.argv.slice(2));
