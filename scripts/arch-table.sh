#!/usr/bin/env bash
# Train the Siamese network, the triplet network (offline, batch-all, batch-hard, semi-hard)
# and the 2-channel network on the chapter's Fashion-MNIST protocol with the default settings,
# evaluate each the same way, and print the README's comparison table.
#
#   scripts/arch-table.sh [SEED]        (default 0; about 12 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
SEED="${1:-0}"
OUT="${OUT:-$(mktemp -d /tmp/arch-table.XXXX)}"
mkdir -p "$OUT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/siamese-target}"
export SIAMESE_DATA="${SIAMESE_DATA:-$(cd .. && pwd)/shared/data}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/siamese"

configs=("siamese|" "triplet-offline|--arch triplet" "triplet-batch-all|--arch triplet --mining batch-all"
         "triplet-batch-hard|--arch triplet --mining batch-hard" "triplet-semi-hard|--arch triplet --mining semi-hard"
         "two-channel|--arch two-channel")
for entry in "${configs[@]}"; do
    name="${entry%%|*}"; flags="${entry#*|}"
    echo "== $name: train $flags" >&2
    # shellcheck disable=SC2086
    "$BIN" train --quiet --seed "$SEED" $flags --out "$OUT/$name" > /dev/null
    "$BIN" evaluate --quiet --model "$OUT/$name" --pairs all --no-figures --json > "$OUT/$name.pairs.json"
    "$BIN" evaluate --quiet --model "$OUT/$name" --one-shot 4 --json > "$OUT/$name.unseen4.json"
    "$BIN" evaluate --quiet --model "$OUT/$name" --one-shot 10 --one-shot-classes all --json > "$OUT/$name.all10.json"
done

python3 - "$OUT" "${configs[@]}" <<'PYEOF'
import json, os, statistics, sys
out, entries = sys.argv[1], sys.argv[2:]
print("| model | seed-test acc | seed-test AUC | test acc | unseen acc | unseen AUC | 1-shot 4-way unseen | 1-shot 10-way all | s/epoch | items/s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for entry in entries:
    name = entry.split("|")[0]
    pairs = {s["name"]: s for s in json.load(open(f"{out}/{name}.pairs.json"))["pair_sets"]}
    shot = lambda f: json.load(open(f"{out}/{name}.{f}.json"))["one_shot"][0]["result"]["accuracy"]
    m = json.load(open(f"{out}/{name}/metrics.json"))
    secs = statistics.median(e["seconds"] for e in m["epochs"])
    rate = statistics.median(e["pairs_per_second"] for e in m["epochs"])
    unit = {"siamese": "pairs", "two-channel": "pairs", "triplet-offline": "triplets"}.get(name, "images")
    v = lambda s, k: pairs[s][k] if isinstance(pairs[s][k], float) else float("nan")
    print(f"| {name} | {v('seed-test','accuracy'):.4f} | {v('seed-test','roc_auc'):.4f} | {v('test','accuracy'):.4f} "
          f"| {v('unseen','accuracy'):.4f} | {v('unseen','roc_auc'):.4f} | {shot('unseen4'):.3f} | {shot('all10'):.3f} "
          f"| {secs:.1f} | {rate:.0f} {unit} |")
print(f"(runs in {out})")
PYEOF
