// dynoguard for Node.js bots: what a whatsapp-web.js or Baileys bot needs to
// be guarded well by `supervisor start -- node bot.js` (docs/node-bots.md).
// Dependency-free, CommonJS, Node >= 18.
//
//   const dynoguard = require('dynoguard');
//   dynoguard.listen(server);                       // fd 3 from the supervisor, else PORT
//   dynoguard.onStop(() => saveSession());          // SIGTERM: back up, then exit 0
//
// and optionally `dynoguard.track(cache)` / `dynoguard.onCleanup(fn)` for the
// cleanup signals. What each function does, and the environment it reads:
//
//   listen(server | app, [callback])
//     LISTEN_FDS=1 with LISTEN_PID equal to this process's pid (the systemd
//     socket-activation protocol the supervisor speaks with LISTEN_SOCKET=pass):
//     serves on the inherited listening socket, fd 3, so no connection is
//     refused while the bot restarts. Otherwise binds PORT (default 8080) on
//     HOST (default 0.0.0.0) itself. LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES
//     are removed from process.env once read, so programs the bot starts
//     (Chromium) do not take them for theirs. Returns the http.Server.
//   track(cache)
//     A Map, a Set, an object with clear(), or one with trim(level) (called
//     with the level; it may return a promise). The standard cleanup drops
//     the older half of a Map's or Set's entries (insertion order) and clears
//     an object with clear(); the emergency cleanup clears everything.
//   onCleanup(fn)
//     fn(level) runs on every cleanup, level 'standard' or 'emergency', after
//     the tracked caches; it may return a promise. Then global.gc() runs when
//     Node was started with --expose-gc.
//   onStop(fn)
//     fn(signal) runs once on the first stop signal (SIGTERM, SIGINT and
//     STOP_SIGNAL) after the servers stopped accepting; it may return a
//     promise (the session backup). The process then exits 0 once the
//     handlers are done and the requests in progress are answered, or 1 when a
//     handler threw or the stop timeout passed (the timeout: 1 s less than
//     WORKER_STOP_TIMEOUT_S, default 20 s, so the supervisor never needs
//     SIGKILL). A repeated signal while stopping (Heroku sends SIGTERM to every
//     process, and may repeat it) is ignored.
//   configure({stopTimeoutMs, log})
//     Overrides the stop timeout and the logger (default: one line per event
//     on stderr, `dynoguard: event key=value…`).
//
// Cleanup signals: CLEANUP_SIGNALS as the supervisor reads it — the standard
// and the emergency signal, default SIGUSR1,SIGUSR2; `none` installs nothing.
// A listener on SIGUSR1 replaces Node's default (opening the inspector on
// port 9229), and one on SIGUSR2 its default (exit): tested in
// tests/integration/node_module_test.cc.
'use strict';

const net = require('net');

const kDefaultSignals = ['SIGUSR1', 'SIGUSR2'];
const kLevels = ['standard', 'emergency'];
const kIdleGraceMs = 100;

const state = {
  installed: false,
  stopping: false,
  servers: [],
  caches: [],
  cleanupHandlers: [],
  stopHandlers: [],
  stopTimeoutMs: null,
  log: (event, fields) => {
    process.stderr.write(`dynoguard: ${formatLine(event, fields)}\n`);
  },
};

function formatLine(event, fields) {
  const parts = [event];
  for (const [key, value] of Object.entries(fields || {})) {
    const text = String(value);
    parts.push(`${key}=${/[\s"]/.test(text) ? JSON.stringify(text) : text}`);
  }
  return parts.join(' ');
}

function log(event, fields) {
  try {
    state.log(event, Object.assign({}, fields, {pid: process.pid}));
  } catch (_) {
    // A broken logger must not break the guard.
  }
}

// The signal names of CLEANUP_SIGNALS ([] for none), or the defaults.
function cleanupSignals(env) {
  const value = (env.CLEANUP_SIGNALS || '').trim();
  if (value === '') return kDefaultSignals;
  if (value === 'none') return [];
  const names = value.split(',').map((s) => s.trim());
  const known = new Set(Object.keys(require('os').constants.signals));
  const bad = names.find((n) => !known.has(n));
  if (names.length !== 2 || bad !== undefined) {
    log('cleanup-signals-invalid', {value, used: kDefaultSignals.join(',')});
    return kDefaultSignals;
  }
  return names;
}

function stopSignals(env) {
  const names = new Set(['SIGTERM', 'SIGINT']);
  const extra = (env.STOP_SIGNAL || '').trim();
  if (extra !== '' && extra in require('os').constants.signals) names.add(extra);
  return [...names];
}

function defaultStopTimeoutMs(env) {
  const seconds = Number(env.WORKER_STOP_TIMEOUT_S);
  const budget = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 20000;
  return Math.max(500, budget - 1000);
}

// Where to listen, from the environment (read once; pure apart from `pid`).
// {fd: 3} under socket activation meant for this process, else {port, host};
// `warning` says why an inherited socket was not used.
function listenTarget(env = process.env, pid = process.pid) {
  const port = env.PORT === undefined || env.PORT === '' ? 8080 : Number(env.PORT);
  const host = env.HOST || '0.0.0.0';
  const fallback = {port, host};
  if (env.LISTEN_FDS === undefined) return fallback;
  const fds = Number(env.LISTEN_FDS);
  if (!Number.isInteger(fds) || fds < 1) {
    return Object.assign(fallback, {warning: `LISTEN_FDS=${env.LISTEN_FDS} is not a count of sockets`});
  }
  if (String(env.LISTEN_PID) !== String(pid)) {
    return Object.assign(fallback, {
      warning: `LISTEN_PID=${env.LISTEN_PID} is not this process (${pid}): ` +
          'start node with exec (not behind a shell that forks it) to get the socket',
    });
  }
  return {fd: 3};
}

function install() {
  if (state.installed) return;
  state.installed = true;
  const signals = cleanupSignals(process.env);
  signals.forEach((name, i) => {
    process.on(name, () => {
      runCleanup(kLevels[i], name);
    });
  });
  for (const name of stopSignals(process.env)) {
    process.on(name, () => stop(name));
  }
}

// Drops the older half of a Map or Set (standard) or everything (emergency).
function trimCache(cache, level) {
  if (typeof cache.trim === 'function') return cache.trim(level);
  if ((cache instanceof Map || cache instanceof Set) && level === 'standard') {
    let drop = Math.floor(cache.size / 2);
    for (const key of cache.keys()) {
      if (drop-- <= 0) break;
      cache.delete(key);
    }
    return undefined;
  }
  if (typeof cache.clear === 'function') return cache.clear();
  return undefined;
}

async function runCleanup(level, signal) {
  const started = Date.now();
  const before = process.memoryUsage().rss;
  let failed = 0;
  for (const cache of state.caches) {
    try {
      await trimCache(cache, level);
    } catch (err) {
      failed++;
      log('cleanup-cache-failed', {level, error: err && err.message});
    }
  }
  for (const fn of state.cleanupHandlers) {
    try {
      await fn(level);
    } catch (err) {
      failed++;
      log('cleanup-handler-failed', {level, error: err && err.message});
    }
  }
  const gc = typeof global.gc === 'function';
  if (gc) global.gc();
  const after = process.memoryUsage().rss;
  log('cleanup', {
    level,
    signal,
    caches: state.caches.length,
    handlers: state.cleanupHandlers.length,
    gc,
    freedMB: Math.max(0, Math.round((before - after) / 1048576)),
    rssMB: Math.round(after / 1048576),
    failed,
    ms: Date.now() - started,
  });
}

// Stops accepting (the listening socket stays open in the supervisor, so new
// connections wait in its backlog for the next bot), answers what is in
// progress with Connection: close, then backs up and exits.
function stop(signal) {
  if (state.stopping) {
    log('stop-signal-repeated', {signal});
    return;
  }
  state.stopping = true;
  const timeoutMs = state.stopTimeoutMs ?? defaultStopTimeoutMs(process.env);
  log('stopping', {signal, timeoutMs});
  const timer = setTimeout(() => {
    log('stop-timeout', {ms: timeoutMs});
    process.exit(1);
  }, timeoutMs);
  timer.unref();

  // net.Server's close, not http.Server's: the latter also closes the idle
  // connections at once, among them one just accepted whose request has not
  // been read yet. They get kIdleGraceMs first.
  const drained = state.servers.map((server) => new Promise((resolve) => {
    if (!server.listening) return resolve();
    net.Server.prototype.close.call(server, () => resolve());
    setTimeout(() => {
      if (typeof server.closeIdleConnections === 'function') server.closeIdleConnections();
    }, kIdleGraceMs).unref();
  }));

  (async () => {
    let ok = true;
    for (const fn of state.stopHandlers) {
      try {
        await fn(signal);
      } catch (err) {
        ok = false;
        log('stop-handler-failed', {error: err && err.message});
      }
    }
    await Promise.all(drained);
    log('stopped', {ok});
    process.exit(ok ? 0 : 1);
  })();
}

function listen(target, callback) {
  install();
  const where = listenTarget();
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDNAMES;
  if (where.warning) log('listen-socket-not-used', {reason: where.warning});
  const options = where.fd !== undefined ? {fd: where.fd} : {port: where.port, host: where.host};
  const onListening = function onListening() {
    if (where.fd !== undefined) {
      log('listening', {fd: where.fd});
    } else {
      const address = server.address();
      log('listening', {host: where.host, port: address && address.port});
    }
    if (typeof callback === 'function') callback.call(this);
  };
  let server;
  if (typeof target.address === 'function') {
    server = target;
    server.listen(options, onListening);
  } else if (typeof target.listen === 'function') {
    server = target.listen(options, onListening);  // an express/koa app
  } else {
    throw new TypeError('dynoguard.listen: give an http.Server or an app with listen()');
  }
  // While stopping, every answer closes its connection.
  server.prependListener('request', (req, res) => {
    if (state.stopping) res.setHeader('Connection', 'close');
  });
  state.servers.push(server);
  return server;
}

function track(cache) {
  install();
  if (cache === null || typeof cache !== 'object' ||
      (typeof cache.clear !== 'function' && typeof cache.trim !== 'function')) {
    throw new TypeError('dynoguard.track: give a Map, a Set or an object with clear() or trim(level)');
  }
  state.caches.push(cache);
  return cache;
}

function onCleanup(fn) {
  install();
  if (typeof fn !== 'function') throw new TypeError('dynoguard.onCleanup: give a function');
  state.cleanupHandlers.push(fn);
}

function onStop(fn) {
  install();
  if (typeof fn !== 'function') throw new TypeError('dynoguard.onStop: give a function');
  state.stopHandlers.push(fn);
}

function configure(options = {}) {
  if (options.stopTimeoutMs !== undefined) {
    const ms = Number(options.stopTimeoutMs);
    if (!Number.isFinite(ms) || ms <= 0) {
      throw new RangeError('dynoguard.configure: stopTimeoutMs must be a positive number');
    }
    state.stopTimeoutMs = ms;
  }
  if (options.log !== undefined) {
    if (typeof options.log !== 'function') {
      throw new TypeError('dynoguard.configure: log must be a function(event, fields)');
    }
    state.log = options.log;
  }
}

// True once a stop signal arrived (e.g. to refuse new work).
function stopping() {
  return state.stopping;
}

module.exports = {listen, track, onCleanup, onStop, configure, stopping, listenTarget};
