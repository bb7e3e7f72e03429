// guarded_bot.js: a small bot that uses clients/node (the dynoguard module) as
// a whatsapp-web.js or Baileys bot would, for tests/integration/node_module_test.cc.
// Every line it prints starts with "bot:"; the module's own lines with
// "dynoguard:" (both go to the supervisor's log).
//
//   GET /health      200 {"status":"ok","pid":N}  (WORKER_READY=http:/health)
//   GET /pid         "<pid>"
//   GET /grow?mb=N   N more MB in a tracked cache (a Map the cleanups trim)
//   GET /leak?mb=N   N more MB nobody frees (a leak only a restart cures)
//   GET /cache       "<entries in the cache>"
//
// Environment: BOT_BACKUP_MS (default 200): how long the "session backup"
// takes on SIGTERM; it then writes DATA_DIR/bot-backup-<pid>.json.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const dynoguard = require('../../clients/node');

const MB = 1024 * 1024;
const cache = dynoguard.track(new Map());
const leaked = [];
let next = 0;

function log(line) {
  process.stdout.write(`bot: ${line} pid=${process.pid}\n`);
}

dynoguard.onCleanup((level) => log(`cleanup level=${level} cache=${cache.size}`));
dynoguard.onStop(async (signal) => {
  log(`backing up signal=${signal}`);
  await new Promise((resolve) => setTimeout(resolve, Number(process.env.BOT_BACKUP_MS || '200')));
  const dir = process.env.DATA_DIR || '.';
  fs.writeFileSync(path.join(dir, `bot-backup-${process.pid}.json`),
                   JSON.stringify({pid: process.pid, cache: cache.size}));
  log('backed up');
});

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const mb = Number(url.searchParams.get('mb') || '1');
  let body = '';
  if (url.pathname === '/health') {
    res.setHeader('Content-Type', 'application/json');
    body = JSON.stringify({status: 'ok', pid: process.pid});
  } else if (url.pathname === '/pid') {
    body = String(process.pid);
  } else if (url.pathname === '/grow') {
    for (let i = 0; i < mb; ++i) cache.set(next++, Buffer.alloc(MB, 1));
    body = `ok ${cache.size}`;
  } else if (url.pathname === '/leak') {
    for (let i = 0; i < mb; ++i) leaked.push(Buffer.alloc(MB, 1));
    body = `ok ${leaked.length}`;
  } else if (url.pathname === '/cache') {
    body = String(cache.size);
  } else {
    res.statusCode = 404;
    body = 'not found';
  }
  res.end(body + '\n');
});

log('starting');
dynoguard.listen(server);
