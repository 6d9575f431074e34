import { runCli } from '@st/cli';

// stctl: the Session Tunnels command line. Everything is in libs/cli; this only wires the process.
void (async () => {
  process.exitCode = await runCli(process.argv.slice(2));
})();
