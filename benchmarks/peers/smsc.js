// The benchmarks' SMSC: SMPP 3.4 over the `smpp` npm package (node-smpp), answering every
// submit_sm after a fixed latency, however many are outstanding (the client's window
// sets the limit: window / latency).
//
//   node smsc.js --port 2775 --control-port 8080 --latency-ms 20 [--system-id bench --password bench]
//   node smsc.js --client --port 2775 --window 10 --seconds 5      (the plain client)
//
// Every submit_sm is a hand-off, recorded under its destination_addr with its arrival
// time; the control port answers GET /healthz, GET /_peer/stats ({"handoffs", "distinct",
// "twice", "refused", "times", "max_outstanding", "binds"}), GET /_peer/first?key=K and
// POST /_peer/reset, like benchmarks/peers/http.py.
'use strict';

const http = require('http');
const smpp = require('smpp');

function option(name, fallback) {
  const at = process.argv.indexOf('--' + name);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

const port = Number(option('port', '2775'));
const systemId = option('system-id', 'bench');
const password = option('password', 'bench');

if (process.argv.includes('--client')) {
  runClient();
} else {
  runServer();
}

function runServer() {
  const latency = Number(option('latency-ms', '20'));
  const controlPort = Number(option('control-port', '0'));
  let state;
  const reset = () => {
    state = { times: [], first: new Map(), seen: new Map(), twice: 0, refused: 0, serial: 0,
              outstanding: 0, maxOutstanding: 0, binds: 0 };
  };
  reset();

  const server = smpp.createServer((session) => {
    session.socket.setNoDelay(true); // each answer leaves at once, as a real SMSC's would
    let bound = false;
    const bind = (pdu) => {
      if (pdu.system_id !== systemId || pdu.password !== password) {
        session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
        session.close();
        return;
      }
      bound = true;
      state.binds += 1;
      session.send(pdu.response({ system_id: 'bench-smsc' }));
    };
    session.on('bind_transceiver', bind);
    session.on('bind_transmitter', bind);
    session.on('submit_sm', (pdu) => {
      if (!bound) {
        state.refused += 1;
        session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
        return;
      }
      const arrived = Date.now() / 1000;
      const key = String(pdu.destination_addr);
      state.serial += 1;
      const messageId = state.serial.toString(16).padStart(16, '0');
      state.times.push(arrived);
      const count = (state.seen.get(key) || 0) + 1;
      state.seen.set(key, count);
      if (count === 1) state.first.set(key, [arrived, state.times.length - 1]);
      else if (count === 2) state.twice += 1;
      state.outstanding += 1;
      if (state.outstanding > state.maxOutstanding) state.maxOutstanding = state.outstanding;
      const mine = state;
      setTimeout(() => {
        mine.outstanding -= 1;
        if (!session.closed) session.send(pdu.response({ message_id: messageId }));
      }, latency);
    });
    session.on('enquire_link', (pdu) => session.send(pdu.response()));
    session.on('unbind', (pdu) => {
      session.send(pdu.response());
      session.close();
    });
    session.on('error', () => {});
    session.on('close', () => { session.closed = true; });
  });
  server.listen(port, '127.0.0.1');

  const json = (res, status, body) => {
    const data = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
    res.end(data);
  };
  http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/healthz') {
      json(res, 200, { status: 'ok', protocol: 'smpp' });
    } else if (url.pathname === '/_peer/stats') {
      json(res, 200, { handoffs: state.times.length, distinct: state.seen.size, twice: state.twice,
                       refused: state.refused, times: state.times, max_outstanding: state.maxOutstanding,
                       binds: state.binds });
    } else if (url.pathname === '/_peer/first') {
      const found = state.first.get(url.searchParams.get('key') || '');
      json(res, 200, { time: found ? found[0] : null, index: found ? found[1] : null });
    } else if (url.pathname === '/_peer/reset' && req.method === 'POST') {
      reset();
      json(res, 200, { reset: true });
    } else {
      json(res, 404, { error: 'not found' });
    }
  }).listen(controlPort, '127.0.0.1');
}

// A plain ESME: one bind keeping `window` submit_sm outstanding for `seconds`.
function runClient() {
  const window = Number(option('window', '10'));
  const seconds = Number(option('seconds', '5'));
  const session = smpp.connect({ url: `smpp://127.0.0.1:${port}` });
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
  session.bind_transceiver({ system_id: systemId, password }, (pdu) => {
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
