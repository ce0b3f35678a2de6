#!/usr/bin/env bash
# `batchlab train --dataset text --model gpt:...`: a language model on a text file, a gzip file
# and a folder trains, prints its parameter count, stops at --target-loss and writes the loss in
# nats/token and bits/byte; Debian's dict-gcide is the default corpus; an empty, binary or
# too-short corpus and a model that does not fit the dataset are one line and exit 2.
#   bash rt_train_text.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
fail() { echo "rt_train_text: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch/folder/sub"
export BATCHLAB_CACHE_DIR=$scratch/cache

# ~120 KB of text: the same lines in a plain file, gzipped, and split over a folder.
python3 - "$scratch" <<'EOF'
import gzip, random, sys
d = sys.argv[1]
r = random.Random(3)
words = "the a word of English is defined as meaning and in to old new form noun verb".split()
text = "".join(" ".join(r.choice(words) for _ in range(r.randint(3, 9))) + ".\n" for _ in range(4000))
open(f"{d}/corpus.txt", "w").write(text)
with gzip.open(f"{d}/corpus.dz", "wt") as f:
    f.write(text)
open(f"{d}/folder/a.txt", "w").write(text[:50000])
open(f"{d}/folder/sub/b.txt", "w").write(text[50000:])
open(f"{d}/empty.txt", "w").close()
open(f"{d}/garbage.bin", "wb").write(bytes(r.randrange(256) for _ in range(50000)))
open(f"{d}/short.txt", "w").write(text[:3000])
EOF

common=(--dataset text --model gpt:1-32-2-16 --batch-size 16 --optimizer adamw --lr 3e-3 --eval-examples 32
        --threads 1)
for corpus in corpus.txt corpus.dz folder; do
  out=$scratch/out_$corpus
  timeout 300 "$bin" train "${common[@]}" --steps 6 --eval-every 3 --data-dir "$scratch/$corpus" --output "$out" \
    >"$scratch/stdout" 2>&1 ||
    fail "$corpus: $(cat "$scratch/stdout")"
  grep -q "model gpt:1-32-2-16, 21472 parameters" "$scratch/stdout" || fail "$corpus: no parameter line: $(cat "$scratch/stdout")"
  grep -q "nats/token = .* bits/byte" "$scratch/stdout" || fail "$corpus: no loss line: $(cat "$scratch/stdout")"
done
# The three forms hold the same bytes: the same run.
for f in corpus.dz folder; do
  cut -d, -f1-7 "$scratch/out_$f/metrics.csv" | cmp -s - <(cut -d, -f1-7 "$scratch/out_corpus.txt/metrics.csv") ||
    fail "$f: metrics differ from the plain file's"
done
python3 - "$scratch/out_corpus.txt/summary.json" <<'EOF' || fail "summary.json"
import json, math, sys
j = json.load(open(sys.argv[1]))
assert j["parameters"] == 21472, j["parameters"]
assert abs(j["final_bits_per_byte"] - j["final_eval_loss"] / math.log(2)) < 1e-9
assert abs(j["tokens_per_s"] - 16 * j["img_per_s"]) < 1e-6 * j["tokens_per_s"]
assert j["final_eval_loss"] < math.log(256), j["final_eval_loss"]
EOF

# --target-loss: reached from above, the run stops there.
out=$scratch/target
timeout 300 "$bin" train "${common[@]}" --steps 60 --eval-every 3 --target-loss 4.0 --data-dir "$scratch/corpus.txt" \
  --output "$out" >"$scratch/stdout" 2>&1 || fail "target-loss run: $(cat "$scratch/stdout")"
grep -q "^batchlab train: reached after" "$scratch/stdout" || fail "target-loss 4.0 not reached: $(cat "$scratch/stdout")"

# expect PATTERN ARGS...: exit 2, one stderr line matching PATTERN, no output directory.
out=$scratch/bad
expect() {
  local pattern=$1; shift
  "$bin" train "$@" --output "$out" >"$scratch/stdout" 2>"$scratch/stderr"
  local status=$?
  ((status == 2)) || fail "'$*': exit $status, expected 2 ($(cat "$scratch/stderr"))"
  (($(wc -l <"$scratch/stderr") == 1)) || fail "'$*': expected one stderr line, got: $(cat "$scratch/stderr")"
  grep -q -- "$pattern" "$scratch/stderr" || fail "'$*': message '$(cat "$scratch/stderr")' lacks '$pattern'"
  [[ ! -e $out ]] || fail "'$*': output directory written"
}
common+=(--steps 2)
expect "$scratch/empty.txt: text corpus is empty" "${common[@]}" --data-dir "$scratch/empty.txt"
expect "$scratch/garbage.bin: does not look like text" "${common[@]}" --data-dir "$scratch/garbage.bin"
expect "$scratch/short.txt: text corpus of 3000 bytes is too short for context 16" "${common[@]}" \
  --data-dir "$scratch/short.txt"
expect "no such file or directory" "${common[@]}" --data-dir "$scratch/nothing.txt"
expect "a language model trains on --dataset text" --model gpt:1-32-2-16 --steps 2
expect "train.dataset = text: needs a language model" --dataset text --model mlp --steps 2
expect "accumulate = 3: does not divide the per-rank batch 16" "${common[@]}" --accumulate 3 \
  --data-dir "$scratch/corpus.txt"
expect "precision = fp16" "${common[@]}" --precision fp16 --data-dir "$scratch/corpus.txt"
expect "model 'gpt:1-33-2-16': WIDTH 33 is not a multiple of HEADS 2" --dataset text --model gpt:1-33-2-16 --steps 2

# The default corpus: Debian's dict-gcide.
if [[ -f /usr/share/dictd/gcide.dict.dz ]]; then
  out=$scratch/gcide
  timeout 300 "$bin" train "${common[@]}" --eval-every 2 --output "$out" >"$scratch/stdout" 2>&1 ||
    fail "default corpus: $(cat "$scratch/stdout")"
  grep -q '"data-dir": "/usr/share/dictd/gcide.dict.dz"' "$out/summary.json" || fail "default corpus is not gcide"
else
  echo "rt_train_text: SKIP of the default-corpus check: /usr/share/dictd/gcide.dict.dz missing (scripts/setup installs dict-gcide)"
  exit 77
fi

echo "rt_train_text: ok"
