"""Local protocol peers: small servers on 127.0.0.1 that speak each SMS provider's
real wire protocol, record what they receive, and inject faults on request."""
