// Preloaded (node --require) into every process the e2e harness starts. A test runner that dies
// without cleaning up (killed by a signal, crashed, a spec without afterAll) would otherwise leave
// servers listening forever: Linux has no parent-death signal that Node can ask for, so poll.
'use strict';
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
}, 500).unref();
