#!/usr/bin/env node
// conformance.js: checks docs/openapi.yaml against a running worker. Each case
// below sends one real request; the answer's status must be the expected one
// AND be listed explicitly for that operation in the spec, its Content-Type
// one the spec lists for that status, its documented headers present, and its
// JSON body valid against the documented schema (a small JSON Schema check:
// type, required, properties, additionalProperties, items, enum, const,
// oneOf/anyOf/allOf, min/max, lengths, pattern; $ref within the document).
// Every operation of the spec must be answered 2xx by at least one case.
//
// No dependencies: it reads the spec as JSON, bundled from the YAML by the
// pinned Redocly CLI of this folder (`redocly bundle --ext json`).
//
//   node conformance.js --spec openapi.json --base http://127.0.0.1:8080 \
//        --api-key KEY --app-secret SECRET --verify-token TOKEN
//
// The worker must run the sandbox transport with API_KEY, WHATSAPP_APP_SECRET
// and WHATSAPP_VERIFY_TOKEN set to those values. Exit 0 when every check
// passed, 1 otherwise (each failure is one line), 2 on bad arguments.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

// ------------------------------------------------------------ arguments

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) return null;
    out[key.slice(2)] = argv[i + 1];
  }
  for (const required of ['spec', 'base', 'api-key', 'app-secret', 'verify-token']) {
    if (!out[required]) return null;
  }
  return out;
}

// ------------------------------------------------------------ JSON Schema (the subset the spec uses)

function resolve(root, node) {
  let seen = 0;
  while (node && typeof node === 'object' && typeof node.$ref === 'string') {
    if (!node.$ref.startsWith('#/') || ++seen > 32) throw new Error(`unsupported $ref ${node.$ref}`);
    node = node.$ref.slice(2).split('/').reduce((n, part) => {
      const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
      if (n === undefined || !(key in n)) throw new Error(`unresolved $ref ${node.$ref}`);
      return n[key];
    }, root);
  }
  return node;
}

function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;  // string, boolean, object
}

function typeMatches(wanted, value) {
  const actual = typeOf(value);
  return actual === wanted || (wanted === 'number' && actual === 'integer');
}

// Appends "path: problem" lines to `errors`.
function validate(root, schemaIn, value, path, errors) {
  const schema = resolve(root, schemaIn);
  if (schema === true || schema === undefined) return;
  if (schema === false) {
    errors.push(`${path}: not allowed`);
    return;
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(t, value))) {
      errors.push(`${path}: ${JSON.stringify(value)?.slice(0, 80)} is ${typeOf(value)}, not ${types.join('|')}`);
      return;
    }
  }
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) {
    errors.push(`${path}: must be ${JSON.stringify(schema.const)}`);
  }
  if (schema.enum !== undefined && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    errors.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && length > schema.maxLength) errors.push(`${path}: longer than ${schema.maxLength}`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      errors.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) {
      errors.push(`${path}: ${JSON.stringify(value)} is not a date-time`);
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${path}: more than ${schema.maxItems} items`);
    if (schema.items !== undefined) {
      value.forEach((item, i) => validate(root, schema.items, item, `${path}[${i}]`, errors));
    }
  }
  if (typeOf(value) === 'object') {
    for (const key of schema.required || []) {
      if (!(key in value)) errors.push(`${path}: required member ${key} missing`);
    }
    const properties = schema.properties || {};
    for (const [key, member] of Object.entries(value)) {
      if (key in properties) {
        validate(root, properties[key], member, `${path}.${key}`, errors);
      } else if (schema.additionalProperties === false) {
        errors.push(`${path}: member ${key} is not documented`);
      } else if (typeof schema.additionalProperties === 'object') {
        validate(root, schema.additionalProperties, member, `${path}.${key}`, errors);
      }
    }
  }
  for (const sub of schema.allOf || []) validate(root, sub, value, path, errors);
  for (const [keyword, wanted] of [['oneOf', (n) => n === 1], ['anyOf', (n) => n >= 1]]) {
    if (schema[keyword] === undefined) continue;
    const passing = schema[keyword].filter((sub) => {
      const sink = [];
      validate(root, sub, value, path, sink);
      return sink.length === 0;
    }).length;
    if (!wanted(passing)) errors.push(`${path}: matches ${passing} of the ${keyword} alternatives`);
  }
}

// ------------------------------------------------------------ HTTP

// One request on a fresh connection. `body` a string or Buffer.
function request(base, {method, path, headers = {}, body}) {
  const url = new URL(path, base);
  return new Promise((resolveAnswer, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method,
      path: url.pathname + url.search,
      headers: Object.assign({Connection: 'close'}, headers,
                             body !== undefined ? {'Content-Length': Buffer.byteLength(body)} : {}),
      agent: false,
      timeout: 15000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolveAnswer({status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks)}));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function multipart(fields, file) {
  const boundary = `----dynoguard${crypto.randomBytes(8).toString('hex')}`;
  const parts = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  if (file) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\n` +
                           `Content-Type: ${file.type}\r\n\r\n`));
    parts.push(file.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return {body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}`};
}

// ------------------------------------------------------------ the spec side

// The operation for `method` and a concrete `path`: {key, op, pathItem}.
function findOperation(spec, method, path) {
  const pathname = path.split('?')[0];
  for (const [template, item] of Object.entries(spec.paths)) {
    const pattern = new RegExp('^' + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
        .replace(/\{[^}]+\}/g, '[^/]+') + '$');
    if (pattern.test(pathname)) {
      return {key: `${method.toUpperCase()} ${template}`, op: item[method.toLowerCase()], pathItem: item};
    }
  }
  return null;
}

function mediaTypeMatches(documented, actual) {
  if (documented === '*/*') return true;
  if (documented.endsWith('/*')) return actual.startsWith(documented.slice(0, -1));
  return documented === actual;
}

// Checks one answer against the spec; returns a list of problems.
function checkAnswer(spec, c, answer) {
  const problems = [];
  if (answer.status !== c.status) problems.push(`status ${answer.status}, expected ${c.status}`);
  const found = findOperation(spec, c.specMethod || c.method, c.path);
  let response;
  if (found === null || found.op === undefined) {
    // Not an operation (an unknown path, another method): the shared Error.
    if (found === null && c.status !== 404) problems.push(`no path of the spec matches ${c.path}`);
    if (found !== null) {
      const any = Object.values(found.pathItem).find((op) => op && op.responses && op.responses[String(answer.status)]);
      if (!any) problems.push(`status ${answer.status} is not documented for any operation of ${c.path}`);
      response = any && resolve(spec, any.responses[String(answer.status)]);
    } else {
      response = resolve(spec, spec.components.responses.Error);
    }
  } else {
    // Server-wide answers (431, 408, …) are documented by each operation's
    // `default` response; everything else must be listed by its status.
    const documented = found.op.responses[String(answer.status)] ??
        (c.viaDefault ? found.op.responses.default : undefined);
    if (documented === undefined) {
      problems.push(`status ${answer.status} is not listed for ${found.key}`);
      return problems;
    }
    response = resolve(spec, documented);
  }
  if (!response) return problems;
  for (const name of Object.keys(response.headers || {})) {
    if (answer.headers[name.toLowerCase()] === undefined) problems.push(`header ${name} missing`);
  }
  const contentType = (answer.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  const content = response.content || {};
  const mediaKey = Object.keys(content).find((k) => mediaTypeMatches(k, contentType));
  if (Object.keys(content).length > 0 && mediaKey === undefined) {
    problems.push(`Content-Type ${contentType || '(none)'} is not one of ${Object.keys(content).join(', ')}`);
    return problems;
  }
  if (mediaKey === 'application/json') {
    let json;
    try {
      json = JSON.parse(answer.body.toString('utf8'));
    } catch (err) {
      problems.push(`body is not JSON: ${err.message}`);
      return problems;
    }
    const errors = [];
    validate(spec, content[mediaKey].schema, json, 'body', errors);
    problems.push(...errors);
    if (c.code !== undefined && json?.error?.code !== c.code) {
      problems.push(`error code ${json?.error?.code}, expected ${c.code}`);
    }
    answer.json = json;
  }
  return problems;
}

// ------------------------------------------------------------ the cases

const kContact = '15551234567';
const kStranger = '15557654321';

function jsonCase(method, path, body, status, extra = {}) {
  return Object.assign({
    method, path, status,
    headers: {'Content-Type': 'application/json'},
    body: typeof body === 'string' ? body : JSON.stringify(body),
  }, extra);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args === null) {
    process.stderr.write('usage: conformance.js --spec FILE.json --base URL --api-key KEY ' +
                         '--app-secret SECRET --verify-token TOKEN\n');
    process.exit(2);
  }
  const spec = JSON.parse(fs.readFileSync(args.spec, 'utf8'));
  const base = args.base;
  const key = {'X-Api-Key': args['api-key']};
  const bearer = {Authorization: `Bearer ${args['api-key']}`};
  const failures = [];
  const covered = new Set();
  const skipped = [];
  const state = {};

  async function run(c) {
    const headers = Object.assign({}, c.auth === false ? {} : key, c.headers || {});
    let answer;
    try {
      answer = await request(base, {method: c.method, path: c.path, headers, body: c.body});
    } catch (err) {
      failures.push(`${c.method} ${c.path}: ${err.message}`);
      process.stdout.write(`FAIL ${c.method} ${c.path}: ${err.message}\n`);
      return null;
    }
    if (c.optional && answer.status === 404 && answer.body.toString().includes('no such route')) {
      skipped.push(`${c.method} ${c.path}`);
      process.stdout.write(`skip ${c.method} ${c.path}: not served by this worker (${c.optional})\n`);
      return answer;
    }
    const problems = checkAnswer(spec, c, answer);
    const label = `${c.method} ${c.path.slice(0, 70)} ${answer.status}`;
    if (problems.length === 0) {
      process.stdout.write(`ok   ${label}\n`);
      const found = findOperation(spec, c.method, c.path);
      if (found && found.op && answer.status >= 200 && answer.status < 300) covered.add(found.key);
    } else {
      for (const p of problems) failures.push(`${label}: ${p}`);
      process.stdout.write(`FAIL ${label}: ${problems.join('; ')}\n` +
                           `     body: ${answer.body.toString('utf8').slice(0, 300)}\n`);
    }
    return answer;
  }

  // Public state.
  await run({method: 'GET', path: '/health', status: 200, auth: false});
  await run({method: 'GET', path: '/session-status', status: 200, auth: false});
  await run({method: 'GET', path: '/metrics', status: 200, auth: false});
  await run({method: 'GET', path: '/dashboard', status: 200, auth: false, optional: 'being added'});
  await run({method: 'POST', path: '/health', status: 405, code: 'method_not_allowed', auth: false});
  await run({method: 'GET', path: '/no-such-route', status: 404, code: 'not_found', auth: false});

  // Authentication.
  await run({method: 'GET', path: '/api/queue', status: 401, code: 'unauthorized', auth: false});
  await run({method: 'GET', path: '/api/queue', status: 401, code: 'unauthorized', auth: false,
             headers: {Authorization: 'Bearer wrong'}});
  await run({method: 'GET', path: '/api/queue', status: 200, auth: false, headers: bearer});
  await run({method: 'GET', path: '/api/queue', status: 200});

  // Cleanups.
  await run({method: 'GET', path: '/cleanup', status: 200});
  await run({method: 'POST', path: '/cleanup?level=emergency', status: 200});
  await run({method: 'POST', path: '/cleanup?level=hard', status: 400, code: 'invalid_field'});

  // A simulated contact writes, which opens its window.
  const inbound = await run(jsonCase('POST', '/api/sandbox/inbound', {from: kContact, text: 'hi'}, 202));
  state.inboundId = inbound?.json?.id;
  await run(jsonCase('POST', '/api/sandbox/inbound', {from: 'nope', text: 'hi'}, 400, {code: 'invalid_field'}));
  await run(jsonCase('POST', '/api/sandbox/inbound', '{"from":', 400, {code: 'invalid_json'}));
  await run({method: 'POST', path: '/api/sandbox/inbound', status: 415, code: 'invalid_field',
             headers: {'Content-Type': 'text/plain'}, body: 'hi'});
  for (let i = 0; i < 250; ++i) {  // processed a few ms after the 202
    const chat = await request(base, {method: 'GET', path: `/api/chats/${kContact}/messages`, headers: key});
    if (chat.status === 200 && JSON.parse(chat.body).windowOpenUntil !== null) break;
    await sleep(20);
  }
  await run({method: 'GET', path: `/api/chats/${kContact}/messages`, status: 200});
  await run({method: 'GET', path: `/api/chats/${kContact}/messages?limit=1`, status: 200});
  await run({method: 'GET', path: '/api/chats/abc/messages', status: 400, code: 'invalid_field'});
  await run({method: 'GET', path: `/api/chats/${kContact}/messages?limit=0`, status: 400, code: 'invalid_field'});

  // Sending.
  const sent = await run(jsonCase('POST', '/api/messages', {to: kContact, text: 'hello'}, 202));
  state.messageId = sent?.json?.id;
  await run(jsonCase('POST', '/api/messages', {to: kContact, template: {name: 'hello_world', language: {code: 'en_US'}}}, 202));
  await run(jsonCase('POST', '/api/messages',
                     {to: kContact, type: 'location', location: {latitude: 52.52, longitude: 13.405, name: 'Office'}}, 202));
  await run(jsonCase('POST', '/api/messages', {
    to: kContact, type: 'interactive', interactive: {type: 'button', body: {text: 'Solved?'},
      action: {buttons: [{type: 'reply', reply: {id: 'yes', title: 'Yes'}}, {type: 'reply', reply: {id: 'no', title: 'No'}}]}},
  }, 202));
  const idem = {to: kContact, text: 'once', idempotencyKey: `conformance-${Date.now()}`};
  await run(jsonCase('POST', '/api/messages', idem, 202));
  await run(jsonCase('POST', '/api/messages', idem, 200));
  await run(jsonCase('POST', '/api/messages', Object.assign({}, idem, {text: 'another'}), 422, {code: 'conflict'}));
  await run(jsonCase('POST', '/api/messages', {to: kStranger, text: 'hello?'}, 400, {code: 'invalid_field'}));
  await run(jsonCase('POST', '/api/messages', {to: '12', text: 'x'}, 400, {code: 'invalid_field'}));
  await run(jsonCase('POST', '/api/messages', '[1,2', 400, {code: 'invalid_json'}));
  await run(jsonCase('POST', '/api/messages', {to: kContact, text: 'x'.repeat(70000)}, 413, {code: 'payload_too_large'}));
  await run({method: 'POST', path: '/api/messages', status: 415, code: 'invalid_field',
             body: JSON.stringify({to: kContact, text: 'x'})});
  await run({method: 'PUT', path: '/api/messages', specMethod: 'PUT', status: 405, code: 'method_not_allowed',
             headers: {'Content-Type': 'application/json'}, body: '{}'});
  if (state.messageId) await run({method: 'GET', path: `/api/messages/${state.messageId}`, status: 200});
  await run({method: 'GET', path: '/api/messages/msg_000000000000000000000000', status: 404, code: 'not_found'});
  await run({method: 'GET', path: '/api/queue', status: 200});

  // Read receipts.
  if (state.inboundId) await run(jsonCase('POST', '/api/read', {messageId: state.inboundId, typing: true}, 200));
  await run(jsonCase('POST', '/api/read', {}, 400, {code: 'invalid_field'}));

  // Media.
  const upload = multipart({}, {name: 'note.txt', type: 'text/plain', data: Buffer.from('a small file\n')});
  const uploaded = await run({method: 'POST', path: '/api/media', status: 200,
                              headers: {'Content-Type': upload.type}, body: upload.body});
  state.mediaId = uploaded?.json?.id;
  const noFile = multipart({type: 'text/plain'}, null);
  await run({method: 'POST', path: '/api/media', status: 400, code: 'invalid_field',
             headers: {'Content-Type': noFile.type}, body: noFile.body});
  if (state.mediaId) await run({method: 'GET', path: `/api/media/${state.mediaId}`, status: 200});
  await run({method: 'GET', path: '/api/media/unknown-media-0', status: 404, code: 'not_found'});

  // The sandbox's own routes.
  await run(jsonCase('POST', '/api/sandbox/fail', {count: 1, code: 131000}, 200));
  await run(jsonCase('POST', '/api/sandbox/fail', {count: 0, code: 131000}, 400, {code: 'invalid_field'}));
  for (let i = 0; i < 250; ++i) {  // the first send goes out within SEND_DELAY_MS
    const outbox = await request(base, {method: 'GET', path: '/api/sandbox/outbox', headers: key});
    if (outbox.status === 200 && JSON.parse(outbox.body).messages.length > 0) break;
    await sleep(20);
  }
  const outbox = await run({method: 'GET', path: '/api/sandbox/outbox', status: 200});
  if (outbox?.json && outbox.json.messages.length === 0) failures.push('GET /api/sandbox/outbox: no send went out');

  // The Cloud API webhook (public; its own secrets).
  const verify = (token) => `/webhook?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=1158201444`;
  const verified = await run({method: 'GET', path: verify(args['verify-token']), status: 200, auth: false});
  if (verified && verified.body.toString() !== '1158201444') failures.push('GET /webhook: the challenge was not echoed');
  await run({method: 'GET', path: verify('wrong'), status: 403, code: 'forbidden', auth: false});
  const event = JSON.stringify({object: 'whatsapp_business_account', entry: [{id: '102290129340398', changes: [{field: 'messages', value: {
    messaging_product: 'whatsapp', metadata: {display_phone_number: '15550783881', phone_number_id: '106540352242922'},
    contacts: [{profile: {name: 'Ada'}, wa_id: kContact}],
    messages: [{from: kContact, id: `wamid.CONFORMANCE${Date.now()}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: {body: 'hi'}}],
  }}]}]});
  const signature = 'sha256=' + crypto.createHmac('sha256', args['app-secret']).update(event).digest('hex');
  await run(jsonCase('POST', '/webhook', event, 200, {auth: false, headers: {'Content-Type': 'application/json', 'X-Hub-Signature-256': signature}}));
  await run(jsonCase('POST', '/webhook', event, 401, {auth: false, code: 'unauthorized'}));
  await run(jsonCase('POST', '/webhook', event, 403, {auth: false, code: 'forbidden',
    headers: {'Content-Type': 'application/json', 'X-Hub-Signature-256': 'sha256=' + '0'.repeat(64)}}));

  // Server-wide limits, answered by the worker's own I/O.
  await run({method: 'GET', path: '/health', status: 431, code: 'headers_too_large', auth: false,
             headers: {'X-Filler': 'x'.repeat(17 * 1024)}, viaDefault: true});

  for (const [template, item] of Object.entries(spec.paths)) {
    for (const method of Object.keys(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const k = `${method.toUpperCase()} ${template}`;
      if (!covered.has(k) && !skipped.some((s) => s.startsWith(`${method.toUpperCase()} ${template}`))) {
        failures.push(`${k}: no case answered it 2xx`);
      }
    }
  }
  process.stdout.write(`${failures.length === 0 ? 'conformance: ok' : 'conformance: FAILED'} ` +
                       `operations=${covered.size} skipped=${skipped.length} failures=${failures.length}\n`);
  for (const f of failures) process.stdout.write(`  ${f}\n`);
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`conformance: ${err.stack || err}\n`);
  process.exit(1);
});
