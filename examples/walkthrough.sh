#!/usr/bin/env bash
# The whole Sender ID lifecycle from a shell, on a fresh SQLite database: register and verify
# a number, request a business name and approve it, send one SMS as each sender, and watch
# the signed webhooks arrive. docs/walkthrough.md explains each step.
#
#   bash examples/walkthrough.sh        (after `make run` has built .venv once)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/senderid ] && PATH="$PWD/.venv/bin:$PATH"

work=$(mktemp -d)
export SENDERID_DATABASE_URL="sqlite:///$work/senderid.db"
export SENDERID_WEBHOOK_ALLOW_PRIVATE=true   # the receiver below is on 127.0.0.1
PORT=${PORT:-8090}; HOOK_PORT=${HOOK_PORT:-9090}; BASE="http://127.0.0.1:$PORT"
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

step "The server"
senderid serve --port "$PORT" > "$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done

step "Register a number: an OTP goes to the developer inbox"
api "$BASE/api/v1/customNumber/add" -d '{"name": "Support line", "number": "0491 570 156"}'
sleep 1
CODE=$(curl -s "$BASE/dev/inbox.json" | python -c 'import json,re,sys; print(re.search(r"\b\d{6}\b", json.load(sys.stdin)[0]["body"]).group())')
echo "the code in the inbox: $CODE"

step "Verify it"
api "$BASE/api/v1/customNumber/verifyCustomNumber" -d "{\"name\": \"Support line\", \"number\": \"+61491570156\", \"otp\": \"$CODE\"}"

step "Request a business name"
REQUEST=$(api "$BASE/api/v1/business/add" -d '{"businessname": "AcmeShop"}')
echo "$REQUEST"
NAME_ID=$(echo "$REQUEST" | python -c 'import json,sys; print(json.load(sys.stdin)["data"]["_id"])')

step "Sending as the name is refused until an operator approves it"
api "$BASE/api/v1/gateway" -d '{"message": "Too early", "contacts": ["0491 570 157"], "sender": "AcmeShop"}'
senderid business approve "$NAME_ID"

step "Send one SMS as each sender"
api "$BASE/api/v1/gateway" -d '{"message": "Hello from our support line", "contacts": ["0491 570 157"], "sender": "0491 570 156"}'
api "$BASE/api/v1/gateway" -d '{"message": "Your order has shipped", "contacts": ["0491 570 157"], "sender": "acmeshop"}'
sleep 1.5

step "The developer inbox (newest first)"
curl -s "$BASE/dev/inbox.json" | python -m json.tool

step "The webhooks the receiver got"
sleep 1
cat "$work/hooks.log"
