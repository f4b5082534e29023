#!/usr/bin/env bash
# Train the chapter's experiment with siamese and with the reference Keras (and, when torch is
# installed, PyTorch) scripts in ../shared/anchors, one after another on this machine, and print
# seconds per epoch, accuracy and peak memory side by side.
#
#   scripts/side-by-side.sh [EPOCHS] [SEED]      (defaults: 13 and 0)
#
# Python: the scripts need tensorflow-cpu and matplotlib (and torch for the PyTorch one). Set
# ANCHOR_PYTHON to an interpreter that has them, e.g. a venv made with
#   python3 -m venv ~/.cache/siamese-anchors && ~/.cache/siamese-anchors/bin/pip install tensorflow-cpu matplotlib
# The comparison is only fair on a quiet machine: nothing else should run meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-13}"
SEED="${2:-0}"
SHARED="${SHARED:-$(cd .. && pwd)/shared}"
PY="${ANCHOR_PYTHON:-$HOME/.cache/siamese-anchors/bin/python}"
OUT="${OUT:-$(mktemp -d /tmp/side-by-side.XXXX)}"
mkdir -p "$OUT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/siamese-target}"
export SIAMESE_DATA="${SIAMESE_DATA:-$SHARED/data}"

cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/siamese"
[ -x "$PY" ] || { echo "no Python with tensorflow at $PY (set ANCHOR_PYTHON)" >&2; exit 1; }

run_timed() { # name, command...
    local name="$1"; shift
    echo "== $name: $*" >&2
    /usr/bin/time -v -o "$OUT/$name.time" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
}

run_timed siamese "$BIN" train --quiet --seed "$SEED" --epochs "$EPOCHS" --out "$OUT/siamese-run"
run_timed keras "$PY" "$SHARED/anchors/seed_keras.py" --seed "$SEED" --epochs "$EPOCHS" \
    --data-dir "$SIAMESE_DATA/fashion-mnist" --out "$OUT/keras-run"
if "$PY" -c "import torch" 2>/dev/null; then
    run_timed torch "$PY" "$SHARED/anchors/seed_torch.py" --seed "$SEED" --epochs "$EPOCHS" \
        --data-dir "$SIAMESE_DATA/fashion-mnist" --out "$OUT/torch-run"
fi

"$PY" - "$OUT" <<'PYEOF'
import json, os, re, statistics, sys
out = sys.argv[1]
def peak_mib(name):
    text = open(os.path.join(out, name + ".time")).read()
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
rows = []
m = json.load(open(os.path.join(out, "siamese-run", "metrics.json")))
secs = [e["seconds"] for e in m["epochs"]]
rows.append(("siamese (burn flex)", statistics.median(secs), min(secs), m["epochs"][-1]["loss"],
             m["test_accuracy"], peak_mib("siamese")))
for fw in ("keras", "torch"):
    path = os.path.join(out, fw + "-run", "result.json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))
    rows.append((fw, statistics.median(r["epoch_times_s"]), min(r["epoch_times_s"]),
                 r["history"]["loss"][-1], r["te_acc_printed"], peak_mib(fw)))
print("| implementation | epoch s (median) | epoch s (best) | pairs/s (median) | last loss | test accuracy | peak RSS MiB |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for name, med, best, loss, acc, rss in rows:
    print(f"| {name} | {med:.1f} | {best:.1f} | {43191/med:.0f} | {loss:.4f} | {acc:.4f} | {rss:.0f} |")
base = rows[0][1]
for name, med, *_ in rows[1:]:
    print(f"siamese is {med/base:.2f}x faster per epoch than {name}")
print(f"(files in {out})")
PYEOF
