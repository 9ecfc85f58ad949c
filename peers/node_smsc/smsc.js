#!/usr/bin/env node
// An SMPP 3.4 SMSC on 127.0.0.1 built on the `smpp` package from the npm registry, so that
// senderid's SMPP provider is checked (tests) and measured (benchmarks) against a third-party
// implementation of the protocol; and a plain windowed ESME to compare it with.
//
//   node smsc.js [--port 0] [--delay 20] [--system-id senderid] [--password secret]
//                [--auto-receipt] [--record 10000] [--control-port N]
//   node smsc.js --client --port N [--window 10] [--seconds 5] [--system-id senderid --password secret]
//
// The SMSC answers bind_transceiver and bind_transmitter (checking system_id and password),
// enquire_link and unbind, and answers each submit_sm after --delay milliseconds with a
// message_id, while it keeps reading (any number of submit_sm may be outstanding: the
// client's window sets the limit, window / delay). With --auto-receipt it sends a DELIVRD
// delivery receipt (deliver_sm) after each submit_sm_resp that asked for one.
//
// Every accepted submit_sm is a hand-off, counted under its destination_addr with its
// arrival time (like the HTTP peers, peers/http.py).
//
// It prints one JSON line when listening: {"event":"listening","port":N,"control_port":N|null}.
// It takes one JSON command per line on stdin and answers each with one JSON line on stdout:
//   {"cmd":"stats"}      -> {"event":"stats","binds":N,"bound":N,"submits":N,"outstanding":N,
//                            "max_outstanding":N,"max_outstanding_per_bind":N,"handoffs":N,
//                            "distinct":N,"twice":N,"refused":N,"times":[...]}
//                           (binds: successful binds so far; bound: sessions bound now)
//   {"cmd":"submits"}    -> {"event":"submits","submits":[{message_id, bind, source_addr_ton,
//                            source_addr, destination_addr, data_coding, esm_class, text,
//                            concat:[reference,total,number]|null}, ...]} (the last --record)
//   {"cmd":"receipt","message_id":"...","stat":"DELIVRD"}
//                        -> {"event":"receipt","message_id":"...","status":<deliver_sm_resp
//                            command_status>} (sent on the bind that took the message)
//   {"cmd":"delay","ms":N} -> {"event":"delay","ms":N}
//   {"cmd":"reset"}      -> {"event":"reset"} (forgets the counters of traffic and the recorded
//                            submits; binds and what is outstanding stay)
// It exits when stdin closes. With --control-port it also answers HTTP on that port (0: any
// free one): GET /healthz, GET /_peer/stats (the stats above), GET /_peer/first?key=K
// ({"time","index"} of K's first hand-off) and POST /_peer/reset.
//
// The client binds once, keeps --window submit_sm outstanding for --seconds, then prints
// BENCH_JSON {"done":N,"failed":N,"seconds":S} and exits.
'use strict';

const http = require('http');
const readline = require('readline');
const smpp = require('smpp');

function option(name, fallback) {
  const at = process.argv.indexOf('--' + name);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const config = {
  port: Number(option('port', '0')),
  delay: Number(option('delay', '20')),
  systemId: option('system-id', 'senderid'),
  password: option('password', 'secret'),
  autoReceipt: process.argv.includes('--auto-receipt'),
  record: Number(option('record', '10000')),
  controlPort: option('control-port', null),
};

if (process.argv.includes('--client')) {
  runClient();
} else {
  runServer();
}

function out(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function stamp() {
  const d = new Date();
  const two = (n) => String(n).padStart(2, '0');
  return two(d.getUTCFullYear() % 100) + two(d.getUTCMonth() + 1) + two(d.getUTCDate()) +
    two(d.getUTCHours()) + two(d.getUTCMinutes());
}

const STATES = { DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8, ENROUTE: 1 };

function sendReceipt(session, submit, stat, done) {
  const state = STATES[stat] || 7;
  const text = 'id:' + submit.message_id + ' sub:001 dlvrd:' + (state === 2 ? '001' : '000') +
    ' submit date:' + stamp() + ' done date:' + stamp() + ' stat:' + stat + ' err:000 text:';
  session.deliver_sm({
    esm_class: 0x04,
    source_addr_ton: 1, source_addr_npi: 1, source_addr: submit.destination_addr,
    dest_addr_ton: submit.source_addr_ton, dest_addr_npi: submit.source_addr_npi,
    destination_addr: submit.source_addr,
    short_message: Buffer.from(text, 'ascii'),
    receipted_message_id: submit.message_id,
    message_state: state,
  }, (resp) => done && done(resp.command_status));
}

function runServer() {
  let nextId = 0;
  let binds = 0;
  let bound = 0;
  let outstanding = 0;
  let traffic;
  const reset = () => {
    traffic = { submits: 0, maxOutstanding: 0, maxPerBind: 0, recorded: [], times: [], first: new Map(),
                seen: new Map(), twice: 0, refused: 0 };
  };
  reset();
  const byMessageId = new Map(); // message_id -> {session, submit}
  let lastBound = null;

  const stats = () => ({
    binds, bound, submits: traffic.submits, outstanding, max_outstanding: traffic.maxOutstanding,
    max_outstanding_per_bind: traffic.maxPerBind, handoffs: traffic.times.length, distinct: traffic.seen.size,
    twice: traffic.twice, refused: traffic.refused, times: traffic.times,
  });

  const server = smpp.createServer({ debug: false }, (session) => {
    session.socket.setNoDelay(true); // each answer leaves at once, as a real SMSC's would
    let isBound = false;
    let mine = 0;
    session.on('error', () => {});
    session.on('close', () => {
      session.closed = true;
      if (isBound) bound -= 1;
      if (lastBound === session) lastBound = null;
    });
    const bind = (pdu) => {
      let status = 0;
      if (isBound) status = smpp.ESME_RALYBND;
      else if (pdu.system_id !== config.systemId) status = smpp.ESME_RINVSYSID;
      else if (pdu.password !== config.password) status = smpp.ESME_RINVPASWD;
      if (status === 0) {
        isBound = true;
        binds += 1;
        bound += 1;
        session.bindIndex = binds - 1;
        lastBound = session;
      }
      session.send(pdu.response({ command_status: status, system_id: 'NODESMSC' }));
    };
    session.on('bind_transceiver', bind);
    session.on('bind_transmitter', bind);
    session.on('enquire_link', (pdu) => session.send(pdu.response()));
    session.on('unbind', (pdu) => {
      session.send(pdu.response());
      session.close();
    });
    session.on('submit_sm', (pdu) => {
      if (!isBound) {
        traffic.refused += 1;
        session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
        return;
      }
      const arrived = Date.now() / 1000;
      const t = traffic;
      t.submits += 1;
      outstanding += 1;
      mine += 1;
      t.maxOutstanding = Math.max(t.maxOutstanding, outstanding);
      t.maxPerBind = Math.max(t.maxPerBind, mine);
      nextId += 1;
      const messageId = nextId.toString(16).toUpperCase().padStart(10, '0');
      const message = pdu.short_message || {};
      let concat = null;
      for (const udh of message.udh || []) {
        if (udh[0] === 0x00 && udh[1] === 3) concat = [udh[2], udh[3], udh[4]];
      }
      const submit = {
        message_id: messageId, bind: session.bindIndex,
        source_addr_ton: pdu.source_addr_ton, source_addr_npi: pdu.source_addr_npi,
        source_addr: pdu.source_addr, destination_addr: pdu.destination_addr,
        data_coding: pdu.data_coding, esm_class: pdu.esm_class,
        registered_delivery: pdu.registered_delivery,
        text: typeof message.message === 'string' ? message.message : '', concat,
      };
      t.recorded.push(submit);
      if (t.recorded.length > config.record) t.recorded = t.recorded.slice(-config.record);
      const key = String(pdu.destination_addr);
      t.times.push(arrived);
      const count = (t.seen.get(key) || 0) + 1;
      t.seen.set(key, count);
      if (count === 1) t.first.set(key, [arrived, t.times.length - 1]);
      else if (count === 2) t.twice += 1;
      byMessageId.set(messageId, { session, submit });
      if (byMessageId.size > 100000) byMessageId.delete(byMessageId.keys().next().value);
      setTimeout(() => {
        outstanding -= 1;
        mine -= 1;
        if (session.closed) return;
        session.send(pdu.response({ message_id: messageId }));
        if (config.autoReceipt && (pdu.registered_delivery & 0x01)) {
          sendReceipt(session, submit, 'DELIVRD');
        }
      }, config.delay);
    });
  });

  let waiting = config.controlPort === null ? 1 : 2;
  let control = null;
  const listening = () => {
    waiting -= 1;
    if (waiting === 0) {
      out({ event: 'listening', port: server.address().port, control_port: control ? control.address().port : null });
    }
  };
  server.listen(config.port, '127.0.0.1', listening);

  if (config.controlPort !== null) {
    const json = (res, status, body) => {
      const data = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
      res.end(data);
    };
    control = http.createServer((req, res) => {
      const url = new URL(req.url, 'http://localhost');
      if (url.pathname === '/healthz') {
        json(res, 200, { status: 'ok', peer: 'smsc' });
      } else if (url.pathname === '/_peer/stats') {
        json(res, 200, stats());
      } else if (url.pathname === '/_peer/first') {
        const found = traffic.first.get(url.searchParams.get('key') || '');
        json(res, 200, { time: found ? found[0] : null, index: found ? found[1] : null });
      } else if (url.pathname === '/_peer/reset' && req.method === 'POST') {
        reset();
        json(res, 200, { reset: true });
      } else {
        json(res, 404, { error: 'not found' });
      }
    });
    control.listen(Number(config.controlPort), '127.0.0.1', listening);
  }

  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    let command;
    try {
      command = JSON.parse(line);
    } catch (e) {
      out({ event: 'error', error: 'not JSON' });
      return;
    }
    if (command.cmd === 'stats') {
      out({ event: 'stats', ...stats() });
    } else if (command.cmd === 'submits') {
      out({ event: 'submits', submits: traffic.recorded });
    } else if (command.cmd === 'receipt') {
      const found = byMessageId.get(command.message_id);
      const session = found ? found.session : lastBound;
      if (!found || !session) {
        out({ event: 'receipt', message_id: command.message_id, status: null });
        return;
      }
      sendReceipt(session, found.submit, command.stat || 'DELIVRD', (status) =>
        out({ event: 'receipt', message_id: command.message_id, status }));
    } else if (command.cmd === 'delay') {
      config.delay = Number(command.ms);
      out({ event: 'delay', ms: config.delay });
    } else if (command.cmd === 'reset') {
      reset();
      out({ event: 'reset' });
    } else {
      out({ event: 'error', error: 'unknown command' });
    }
  }).on('close', () => process.exit(0));
}

// A plain ESME: one bind keeping `window` submit_sm outstanding for `seconds`.
function runClient() {
  const window = Number(option('window', '10'));
  const seconds = Number(option('seconds', '5'));
  const session = smpp.connect({ url: `smpp://127.0.0.1:${config.port}` });
  session.socket.setNoDelay(true); // no Nagle: the window's submits leave at once
  let done = 0;
  let failed = 0;
  let serial = 0;
  let stopping = false;
  const submit = () => {
    if (stopping) return;
    serial += 1;
    const to = '614' + String(serial % 100000000).padStart(8, '0');
    session.submit_sm({ source_addr: 'bench', destination_addr: to, short_message: 'Benchmark message' },
      (pdu) => {
        if (pdu.command_status === 0) done += 1; else failed += 1;
        submit();
      });
  };
  session.on('error', (error) => {
    console.error(String(error));
    process.exit(1);
  });
  session.bind_transceiver({ system_id: config.systemId, password: config.password }, (pdu) => {
    if (pdu.command_status !== 0) {
      console.error('bind failed: ' + pdu.command_status);
      process.exit(1);
    }
    const started = Date.now();
    for (let i = 0; i < window; i += 1) submit();
    setTimeout(() => {
      stopping = true;
      const elapsed = (Date.now() - started) / 1000;
      console.log('BENCH_JSON ' + JSON.stringify({ done, failed, seconds: elapsed }));
      session.close();
      process.exit(0);
    }, seconds * 1000);
  });
}
