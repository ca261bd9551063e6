// Runs one peer (bench/peers/NAME/server.js) as one process, or as a Node cluster of WORKERS
// processes sharing the port (node's cluster module, the primary hands connections round
// robin), for bench/peers.sh:
//     node run.js PEER_DIR WORKERS READY_FILE LIMIT_S
// Once every process listens, writes the pids (the primary's first) to READY_FILE. Every
// process exits by itself after LIMIT_S seconds; SIGTERM to the primary stops the workers too.
'use strict';
const cluster = require('cluster');
const fs = require('fs');
const path = require('path');

const [dir, workersArg, readyArg, limitArg] = process.argv.slice(2);
const readyFile = readyArg && path.resolve(readyArg);
const workers = Number(workersArg);
const limitMs = Number(limitArg) * 1000;
if (!dir || !(workers >= 0) || !readyFile || !(limitMs > 0)) {
  console.error('usage: node run.js PEER_DIR WORKERS READY_FILE LIMIT_S');
  process.exit(2);
}
setTimeout(() => process.exit(0), limitMs).unref();

function startPeer(onListening) {
  process.chdir(path.resolve(dir));
  process.once('peer-listening', onListening);
  require(path.resolve('server.js'));
}

if (workers <= 1 && cluster.isPrimary) {
  startPeer(() => fs.writeFileSync(readyFile, `${process.pid}\n`));
} else if (cluster.isPrimary) {
  const pids = [];
  let listening = 0;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    pids.push(w.process.pid);
    w.on('message', (m) => {
      if (m === 'listening' && ++listening === workers) {
        fs.writeFileSync(readyFile, [process.pid, ...pids].join('\n') + '\n');
      }
    });
  }
  cluster.on('exit', (w, code, signal) => {
    console.error(`worker ${w.process.pid} exited (${signal || code})`);
  });
  const stop = () => {
    for (const id in cluster.workers) cluster.workers[id].process.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  startPeer(() => process.send('listening'));
}
