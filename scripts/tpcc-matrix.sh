#!/usr/bin/env bash
# TPC-C on both systems for 1, 2, 4 and 8 warehouses, standard mix and NewOrder-only: one
# `vbench run --system both` per point; prints one line per point and system. Extra arguments go
# to every run (e.g. --duration 30 --concurrency 512). Results land under results/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p harness
for mix in standard new-order; do
  for w in 1 2 4 8; do
    rc=0
    out=$(./target/release/vbench run --workload tpcc --system both --warehouses "$w" \
      --tpcc-mix "$mix" "$@" 2>/tmp/tpcc-matrix.err) || rc=$?
    if [ "$rc" -ne 0 ]; then
      echo "mix=$mix w=$w: vbench exited $rc: $(tail -1 /tmp/tpcc-matrix.err)"
      continue
    fi
    echo "$out" | awk -v w="$w" -v mix="$mix" '
      /^tpcc on / { sys = $3 }
      /^vmodb vs baseline/ { sys = "" }
      sys != "" && /^throughput:/ { tps[sys] = $2 }
      sys != "" && /^new_order / { p50[sys] = $4; p99[sys] = $6 }
      sys != "" && /^  cc/ { v[sys] += $2 }
      END { for (s in tps) printf "%-9s %-9s w=%-2s %8s tx/s  new_order p50 %6s ms p99 %6s ms  violations %d\n", s, mix, w, tps[s], p50[s], p99[s], v[s] }'
  done
done
