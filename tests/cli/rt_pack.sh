#!/usr/bin/env bash
# batchlab pack: packs a generated ImageFolder into shards whose sizes follow the documented
# layout (realtrain/data/sources.h) byte for byte, and rejects bad arguments with exit status 2
# and one line on stderr before doing any work.
# usage: rt_pack.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
BIN=$1
S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Three tiny JPEGs (20x16, 16x24, 24x24 RGB gradients, TurboJPEG quality 75): 703, 699, 802 bytes.
J0='/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAAQABQDAREAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDzO20/pxX6VOscmFxBsW2n9OK46lY+kwuINSPT/kHFcrranvU8R7o220/p8tOdY/I8LiDYttP6fLXHOsfR4XEGpHp/yDiuV1tT3qeI90//2Q=='
J1='/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAAYABADAREAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDhLbT+nFfSVKx7uFxBsW2n9OK451j6TC4g0rbT+nFc06x8BhcQbFtp/T5a4p1j6TC4g0rbT+nFc06x8DhcQbFtp/TiuOdY+jwuIP/Z'
J2='/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAAYABgDAREAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDlbbT+ny1E6x+i4XEHO6xp/wDxPLjj+7/6CK9HDVv3C+f5nxudYj/hUqf9u/8ApKJbbT+nFROsb4XEHo9tp/TivnJ1j0MLiDntY0//AInlxx/d/wDQRXo4at+4Xz/M+OzrEf8ACpU/7d/9JRJbaf04qJ1jfC4g9HttP6cV85OsehhcQc9rGn/8Ty44/u/+givQw1b9wvn+Z8bnWI/4VKn/AG7/AOkolttP6cVM6xvhcQf/2Q=='
mkdir -p "$S/imgs/train/cat" "$S/imgs/train/dog"
echo "$J0" | base64 -d > "$S/imgs/train/cat/a.jpg"
echo "$J1" | base64 -d > "$S/imgs/train/cat/b.JPEG"
echo "$J2" | base64 -d > "$S/imgs/train/dog/c.jpeg"
echo "not an image" > "$S/imgs/train/dog/README.txt"
size() { stat -c %s "$1"; }

# 1 KiB shards: one JPEG each.
"$BIN" pack "$S/imgs/train" "$S/packed/train" --shard-mb 0.0009765625 > "$S/out.txt" 2> "$S/err.txt" \
  || fail "pack exited $? ($(cat "$S/err.txt"))"
grep -q "packed 3 examples into 3 shard" "$S/out.txt" || fail "summary line: $(cat "$S/out.txt")"
[ "$(ls "$S/packed/train")" = "$(printf 'shard-00000.bin\nshard-00001.bin\nshard-00002.bin')" ] \
  || fail "shard files: $(ls "$S/packed/train")"
# Size = 56-byte fixed header + class names "cat\ndog" (7) + 24 bytes per index entry + the JPEG.
i=0
for f in cat/a.jpg cat/b.JPEG dog/c.jpeg; do
  shard="$S/packed/train/shard-0000$i.bin"
  jpg="$S/imgs/train/$f"
  [ "$(head -c 8 "$shard")" = "BLABPACK" ] || fail "$shard: magic"
  expected=$((56 + 7 + 24 + $(size "$jpg")))
  [ "$(size "$shard")" -eq "$expected" ] || fail "$shard: $(size "$shard") bytes, expected $expected"
  tail -c "$(size "$jpg")" "$shard" | cmp -s - "$jpg" || fail "$shard does not end with the bytes of $f"
  i=$((i + 1))
done

# Default --shard-mb 256: everything in one shard of 56 + 7 + 3 x 24 + the three JPEGs.
"$BIN" pack "$S/imgs/train" "$S/one" > /dev/null 2>&1 || fail "default pack failed"
expected=$((56 + 7 + 72 + $(size "$S/imgs/train/cat/a.jpg") + $(size "$S/imgs/train/cat/b.JPEG") + $(size "$S/imgs/train/dog/c.jpeg")))
[ "$(size "$S/one/shard-00000.bin")" -eq "$expected" ] || fail "single shard size"

# Bad arguments: exit 2, exactly one line on stderr, nothing written.
expect_bad() {
  local what=$1
  shift
  "$BIN" pack "$@" > "$S/bad_out.txt" 2> "$S/bad_err.txt"
  local rc=$?
  [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2"
  [ "$(wc -l < "$S/bad_err.txt")" -eq 1 ] || fail "$what: stderr is not one line: $(cat "$S/bad_err.txt")"
  grep -q "^batchlab pack: " "$S/bad_err.txt" || fail "$what: message: $(cat "$S/bad_err.txt")"
}
expect_bad "no arguments"
expect_bad "one argument" "$S/imgs/train"
expect_bad "three arguments" "$S/imgs/train" "$S/x" "$S/y"
expect_bad "unknown option" "$S/imgs/train" "$S/x" --shards 3
expect_bad "non-numeric shard size" "$S/imgs/train" "$S/x" --shard-mb lots
expect_bad "zero shard size" "$S/imgs/train" "$S/x" --shard-mb 0
expect_bad "missing value" "$S/imgs/train" "$S/x" --shard-mb
expect_bad "missing source" "$S/nope" "$S/x"
expect_bad "source without class folders" "$S/imgs/train/dog" "$S/x"
expect_bad "output already packed" "$S/imgs/train" "$S/one"
[ ! -e "$S/x" ] || fail "a rejected command created its output directory"
grep -q "shard-mb" <("$BIN" pack "$S/imgs/train" "$S/x" --shard-mb lots 2>&1) || fail "message names --shard-mb"

# A truncated JPEG is found while packing: exit 1, the message names the file, no shard left.
head -c 400 "$S/imgs/train/cat/a.jpg" > "$S/imgs/train/cat/a_cut.jpg"
"$BIN" pack "$S/imgs/train" "$S/broken" > /dev/null 2> "$S/err.txt"
rc=$?
[ $rc -eq 1 ] || fail "corrupt JPEG: exit $rc, expected 1"
grep -q "a_cut.jpg.*truncated JPEG" "$S/err.txt" || fail "corrupt JPEG message: $(cat "$S/err.txt")"
[ -z "$(ls -A "$S/broken")" ] || fail "shards left after a failed pack: $(ls "$S/broken")"
echo "rt_pack: ok"
