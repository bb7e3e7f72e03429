// leaky_bot.js: an ordinary Node.js bot for the supervisor's integration
// tests. It binds PORT itself (like any bot on Heroku), answers HTTP, and leaks
// memory on request. Every line it prints starts with "bot:" so the tests find
// them in the supervisor's log (the bot's stdout/stderr are the supervisor's).
//
//   GET /grow?mb=N   keep N more MB alive (touched pages: real RSS) → "ok <MB>"
//   GET /free        drop everything held                            → "ok 0"
//   GET /pid         → "<pid>"
//   anything else    → 404 (still an answer: WORKER_READY=http:/ counts it)
//
// Environment: PORT, HOST (default 127.0.0.1); BOT_HANDLE_SIGNALS=1 installs
// SIGUSR1/SIGUSR2 handlers that log and free memory (without them Node's
// defaults apply: SIGUSR1 opens the inspector on 9229, SIGUSR2 kills);
// BOT_LISTEN_DELAY_MS=N binds that late; SIGTERM and SIGINT are logged and end
// the bot, after BOT_STOP_DELAY_MS (default 0: a session backup that takes
// its time).
'use strict';

const http = require('http');

const held = [];
const MB = 1024 * 1024;

function log(line) {
  process.stdout.write(`bot: ${line} pid=${process.pid}\n`);
}

function heldMegabytes() {
  return held.length;
}

if (process.env.BOT_HANDLE_SIGNALS === '1') {
  process.on('SIGUSR1', () => log('signal SIGUSR1'));
  process.on('SIGUSR2', () => log('signal SIGUSR2'));
}
const stopDelay = Number(process.env.BOT_STOP_DELAY_MS || '0');
for (const name of ['SIGTERM', 'SIGINT']) {
  process.on(name, () => {
    log(`signal ${name}, exiting`);
    setTimeout(() => {
      log('backed up');
      process.exit(0);
    }, stopDelay);
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  let status = 200;
  let body;
  if (url.pathname === '/grow') {
    const mb = Number(url.searchParams.get('mb') || '10');
    for (let i = 0; i < mb; ++i) held.push(Buffer.alloc(MB, 1));
    body = `ok ${heldMegabytes()}`;
  } else if (url.pathname === '/free') {
    held.length = 0;
    body = 'ok 0';
  } else if (url.pathname === '/pid') {
    body = String(process.pid);
  } else {
    status = 404;
    body = 'not found';
  }
  res.writeHead(status, {'Content-Type': 'text/plain', 'Connection': 'close'});
  res.end(body + '\n');
});

const port = Number(process.env.PORT || '8080');
const host = process.env.HOST || '127.0.0.1';
const delay = Number(process.env.BOT_LISTEN_DELAY_MS || '0');
log(`starting listen_delay=${delay}ms`);
setTimeout(() => {
  server.on('error', (err) => {
    log(`listen failed: ${err.code}`);
    process.exit(1);
  });
  server.listen(port, host, () => log(`listening port=${port}`));
}, delay);
