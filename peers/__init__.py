"""Local protocol peers for the tests and the benchmarks: small servers on 127.0.0.1 that
speak each SMS provider's real wire protocol, record what they receive, count what they
take, and inject faults on request.

* :mod:`peers.http`, :mod:`peers.cellcast`, :mod:`peers.twilio`, :mod:`peers.webhook`: the
  HTTP providers, in a thread (tests) or in a process of their own (:mod:`peers.serve`,
  benchmarks);
* :mod:`peers.smsc`: an SMPP 3.4 SMSC in Python, with faults and windowing knobs;
* :mod:`peers.node_smsc`: a third-party SMSC (node-smpp) and its plain windowed client;
* :mod:`peers.processes`: subprocesses (``senderid serve``/``worker``, the peers), free
  ports, environments and throwaway PostgreSQL databases.
"""
