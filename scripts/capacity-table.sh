#!/usr/bin/env bash
# Rewrites the README's capacity table from the engine (the `capacity_table` test checks it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
table="$( (cargo test -q -p pollen-engine --lib capacity_table -- --nocapture 2>/dev/null || true) |
    sed -n '/^| capacity/,/^| `size_of/p' | head -n 17)"
python3 - "$table" <<'PY'
import sys
t = sys.argv[1] + "\n"
s = open("README.md").read()
a = s.index("<!-- capacity-table:start -->\n") + len("<!-- capacity-table:start -->\n")
b = s.index("<!-- capacity-table:end -->")
open("README.md", "w").write(s[:a] + t + s[b:])
PY
