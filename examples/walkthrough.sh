#!/usr/bin/env bash
# The whole Sender ID lifecycle from a shell, on a fresh SQLite database: register and verify
# a number, request a business name and approve it, send one SMS as each sender, and watch
# the signed webhooks arrive. docs/walkthrough.md explains each step.
#
#   bash examples/walkthrough.sh        (after `make run` has built .venv once)
#
# It runs beside `make run` (or any other server): its own database, server and receiver, on
# free ports it picks (PORT=... HOOK_PORT=... to choose them; a port in use is refused), and
# numbers of its own (not the README's quick start's).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/senderid ]; then PATH="$PWD/.venv/bin:$PATH"; fi

free_port() { python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_free() { python -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
for name in PORT HOOK_PORT; do
  if [ -z "${!name:-}" ]; then
    printf -v "$name" '%s' "$(free_port)"
  elif ! port_free "${!name}"; then
    echo "$name=${!name}: that port is in use on 127.0.0.1 (make run's server?); choose another, or leave $name unset for a free one" >&2
    exit 1
  fi
done

work=$(mktemp -d)
export SENDERID_DATABASE_URL="sqlite:///$work/senderid.db"
export SENDERID_WEBHOOK_ALLOW_PRIVATE=true   # the receiver below is on 127.0.0.1: a private address
BASE="http://127.0.0.1:$PORT"
NUMBER="0491 576 398"; NUMBER_E164="+61491576398"; TO="0491 576 801"   # ACMA's fictional numbers
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }
api() { curl -s -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$@"; echo; }

step "An account and a key"
senderid db upgrade 2>/dev/null
ACCOUNT=$(senderid account create "Acme Pty Ltd" 2>/dev/null)
KEY=$(senderid key create "$ACCOUNT" 2>/dev/null)
echo "account $ACCOUNT"

step "A webhook receiver, and the account's webhook URL (its signing secret is printed once)"
SECRET=$(senderid account set "$ACCOUNT" --webhook-url "http://127.0.0.1:$HOOK_PORT/events" 2>/dev/null)
python examples/webhook_receiver.py --port "$HOOK_PORT" --secret "$SECRET" > "$work/hooks.log" 2>&1 &
pids+=($!)

step "The server, on $BASE"
senderid serve --port "$PORT" > "$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "$BASE/healthz" >/dev/null || { echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

step "Register a number: an OTP goes to the developer inbox"
api "$BASE/api/v1/customNumber/add" -d "{\"name\": \"Support line\", \"number\": \"$NUMBER\"}"
sleep 1
CODE=$(curl -s "$BASE/dev/inbox.json" | python -c 'import json,re,sys; print(re.search(r"\b\d{6}\b", json.load(sys.stdin)[0]["body"]).group())')
echo "the code in the inbox: $CODE"

step "Verify it"
api "$BASE/api/v1/customNumber/verifyCustomNumber" -d "{\"name\": \"Support line\", \"number\": \"$NUMBER_E164\", \"otp\": \"$CODE\"}"

step "Request a business name"
REQUEST=$(api "$BASE/api/v1/business/add" -d '{"businessname": "AcmeShop"}')
echo "$REQUEST"
NAME_ID=$(echo "$REQUEST" | python -c 'import json,sys; print(json.load(sys.stdin)["data"]["_id"])')

step "Sending as the name is refused until an operator approves it"
api "$BASE/api/v1/gateway" -d "{\"message\": \"Too early\", \"contacts\": [\"$TO\"], \"sender\": \"AcmeShop\"}"
senderid business approve "$NAME_ID"

step "Send one SMS as each sender"
api "$BASE/api/v1/gateway" -d "{\"message\": \"Hello from our support line\", \"contacts\": [\"$TO\"], \"sender\": \"$NUMBER\"}"
api "$BASE/api/v1/gateway" -d "{\"message\": \"Your order has shipped\", \"contacts\": [\"$TO\"], \"sender\": \"acmeshop\"}"
sleep 1.5

step "The developer inbox (newest first)"
curl -s "$BASE/dev/inbox.json" | python -m json.tool

step "The webhooks the receiver got"
sleep 1
cat "$work/hooks.log"
