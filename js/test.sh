#!/usr/bin/env bash
# Builds the JavaScript package and runs its tests with Node's test runner: the API in one
# process on 127.0.0.1, and pollen-js against Cyclone DDS 11, Fast DDS 2.9 and ROS 2 rclpy,
# each in a network namespace whose only interface is lo (root and iproute2 needed), directly
# over UDP and through `pollen relay` (Node.js with `ws`, and headless Chromium).
#
#   js/test.sh                 # build, check the npm package, run every test
#   js/test.sh api cyclone     # only js/test/api.test.mjs and js/test/cyclone.test.mjs
#
# The peers come from $POLLEN_PEERS_PYTHON, $POLLEN_FASTDDS_PEER and $POLLEN_ROS_PYTHON (or
# .venv-peers, target/peers/fastdds_peer and .venv-ros at the repository root; scripts/test.sh
# installs them). Under CI or with POLLEN_REQUIRE_PEERS=1 a missing peer fails its test.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

run() {
    printf '+ %s\n' "$*"
    "$@"
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    run apt-get update -q
    DEBIAN_FRONTEND=noninteractive run apt-get install -y -q nodejs npm
fi
node --version

js/build.sh

# The relay tests need the native `pollen` (its `relay` subcommand) and the test-only npm
# packages (`ws` for Node.js 20, which has no global WebSocket; playwright-core to drive the
# system Chromium). Under CI a missing one fails the tests that need it.
run cargo build -q -p pollen-tool
if [[ ! -x ${POLLEN_CHROMIUM:-/usr/bin/chromium} ]]; then
    run apt-get update -q
    DEBIAN_FRONTEND=noninteractive run apt-get install -y -q chromium
fi
if [[ ! -d js/node_modules/ws || ! -d js/node_modules/playwright-core ]]; then
    (cd js && run npm ci --no-audit --no-fund)
fi

# The package packs, with the module, its types, the CLI and the WebAssembly in it.
listing="$(cd js && npm pack --dry-run --json 2>/dev/null)"
for f in index.js index.d.ts node.js node.d.ts cli.mjs pkg/pollen_js.js pkg/pollen_js_bg.wasm; do
    if ! grep -q "\"path\": \"$f\"" <<<"$listing"; then
        echo "npm pack would leave out $f" >&2
        exit 1
    fi
done
echo "npm pack: $(grep -o '"size": [0-9]*' <<<"$listing" | head -1) bytes packed, every file present"

files=()
if [[ $# -gt 0 ]]; then
    for t in "$@"; do files+=("js/test/$t.test.mjs"); done
else
    files=(js/test/*.test.mjs)
fi
concurrency=()
if node --help | grep -q -- '--test-concurrency'; then
    concurrency=(--test-concurrency=3)
fi
run node --test "${concurrency[@]}" "${files[@]}"
