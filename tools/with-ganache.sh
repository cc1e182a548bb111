#!/usr/bin/env bash
# Run a command against a throw-away Ganache (chain id 1337, Ape's test mnemonic) on port 8546.
set -euo pipefail
cd "$(dirname "$0")/.."
port=8546
probe='{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
if curl -sf -X POST -H 'content-type: application/json' --data "$probe" "http://127.0.0.1:$port" >/dev/null 2>&1; then
  echo "with-ganache: port $port is taken by another node; stop it first" >&2
  exit 1
fi
node_modules/.bin/ganache --server.port "$port" --server.host 127.0.0.1 --chain.chainId 1337 \
  --wallet.mnemonic "test test test test test test test test test test test junk" \
  --wallet.totalAccounts 10 --logging.quiet true &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf -X POST -H 'content-type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "http://127.0.0.1:$port" >/dev/null && break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null || { echo "with-ganache: ganache did not start" >&2; exit 1; }
"$@"
