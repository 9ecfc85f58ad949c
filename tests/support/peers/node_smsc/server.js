#!/usr/bin/env node
// An SMPP 3.4 SMSC on 127.0.0.1 built on the `smpp` package from the npm registry, so that
// senderid's SMPP provider is checked against a third-party implementation of the protocol.
//
//   node server.js [--port 0] [--delay 20] [--system-id senderid] [--password secret]
//                  [--auto-receipt] [--record 10000]
//
// It answers bind_transceiver (checking system_id and password), enquire_link and unbind,
// and answers each submit_sm after --delay milliseconds with a message_id, while it keeps
// reading (any number of submit_sm may be outstanding). With --auto-receipt it sends a
// DELIVRD delivery receipt (deliver_sm) after each submit_sm_resp.
//
// It prints one JSON line when listening: {"event":"listening","port":N}. It takes one JSON
// command per line on stdin and answers each with one JSON line on stdout:
//   {"cmd":"stats"}      -> {"event":"stats","binds":N,"submits":N,"outstanding":N,
//                            "max_outstanding":N,"max_outstanding_per_bind":N}
//   {"cmd":"submits"}    -> {"event":"submits","submits":[{message_id, bind, source_addr_ton,
//                            source_addr, destination_addr, data_coding, esm_class, text,
//                            concat:[reference,total,number]|null}, ...]} (the last --record)
//   {"cmd":"receipt","message_id":"...","stat":"DELIVRD"}
//                        -> {"event":"receipt","message_id":"...","status":<deliver_sm_resp
//                            command_status>} (sent on the bind that took the message)
//   {"cmd":"delay","ms":N} -> {"event":"delay","ms":N}
//   {"cmd":"reset"}      -> {"event":"reset"} (forgets counters and recorded submits)
// It exits when stdin closes.
'use strict';

const smpp = require('smpp');
const readline = require('readline');

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
};

let nextId = 0;
let submits = 0;
let outstanding = 0;
let maxOutstanding = 0;
let maxPerBind = 0;
let binds = 0;
let recorded = [];
const byMessageId = new Map(); // message_id -> {session, submit}
let lastBound = null;

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

const server = smpp.createServer({ debug: false }, (session) => {
  session.socket.setNoDelay(true); // each answer leaves at once, as a real SMSC's would
  let bound = false;
  let mine = 0;
  const index = binds;
  session.on('error', () => {});
  session.on('close', () => { if (lastBound === session) lastBound = null; });
  session.on('bind_transceiver', (pdu) => {
    let status = 0;
    if (bound) status = smpp.ESME_RALYBND;
    else if (pdu.system_id !== config.systemId) status = smpp.ESME_RINVSYSID;
    else if (pdu.password !== config.password) status = smpp.ESME_RINVPASWD;
    if (status === 0) {
      bound = true;
      binds += 1;
      session.bindIndex = binds - 1;
      lastBound = session;
    }
    session.send(pdu.response({ command_status: status, system_id: 'NODESMSC' }));
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  session.on('submit_sm', (pdu) => {
    if (!bound) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    submits += 1;
    outstanding += 1;
    mine += 1;
    maxOutstanding = Math.max(maxOutstanding, outstanding);
    maxPerBind = Math.max(maxPerBind, mine);
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
    recorded.push(submit);
    if (recorded.length > config.record) recorded = recorded.slice(-config.record);
    byMessageId.set(messageId, { session, submit });
    if (byMessageId.size > 100000) byMessageId.delete(byMessageId.keys().next().value);
    setTimeout(() => {
      outstanding -= 1;
      mine -= 1;
      session.send(pdu.response({ message_id: messageId }));
      if (config.autoReceipt && (pdu.registered_delivery & 0x01)) {
        sendReceipt(session, submit, 'DELIVRD');
      }
    }, config.delay);
  });
});

server.listen(config.port, '127.0.0.1', () => {
  out({ event: 'listening', port: server.address().port });
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let command;
  try {
    command = JSON.parse(line);
  } catch (e) {
    out({ event: 'error', error: 'not JSON' });
    return;
  }
  if (command.cmd === 'stats') {
    out({ event: 'stats', binds, submits, outstanding, max_outstanding: maxOutstanding,
          max_outstanding_per_bind: maxPerBind });
  } else if (command.cmd === 'submits') {
    out({ event: 'submits', submits: recorded });
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
    submits = 0; maxOutstanding = 0; maxPerBind = 0; recorded = [];
    out({ event: 'reset' });
  } else {
    out({ event: 'error', error: 'unknown command' });
  }
}).on('close', () => process.exit(0));
