#!/usr/bin/env bash
# Every Markdown file that a source or documentation file of the repository cites exists in the
# repository, with the section it names: the project's notes live in docs/, and nothing may point
# at design or reference notes kept outside the repository (the old shared DESIGN / REFERENCES
# notes, or any absolute path), which readers of the repository cannot open.
#
# A citation is a path ending in .md, optionally followed by #anchor, that is
#   - relative (./x.md, ../docs/x.md): resolved from the citing file's folder;
#   - a bare name that is a Markdown link target ([x](notes.md)) or an upper-case file name
#     (README.md): the citing file's folder, else the repository root (a lower-case bare name
#     such as report.md names a file a program writes, not a citation);
#   - rooted in the repository (docs/science.md, papers/zhang2019_nqm/README.md: the first
#     component is docs/ or a top-level entry of the repository): resolved from the root.
# Other paths with a slash (HERE/README.md, OUT/real/README.md) are placeholders, not citations.
# An anchor must be the GitHub anchor of a heading of the cited file.
# Scanned: the repository's files as git lists them (tracked and untracked, not ignored), or
# every file outside .git/, build*/ and results*/ when SOURCE_DIR is not the top of a git work tree;
# binary files, data (.csv, .json, .png, .pdf) and this file (its examples are broken on purpose)
# are skipped.
#
# First the checker runs on a small tree with one broken citation of each kind and must report
# each of them (so this test can fail), then on the repository, where it must report nothing.
# usage: docs_links.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR   (BATCHLAB_BIN is not used)
set -euo pipefail
SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
fail() { echo "FAIL: $*"; exit 1; }
PY=python3

CHECK="$SCRATCH/check_md_citations.py"
cat > "$CHECK" <<'PYEOF'
import os, re, subprocess, sys

root = os.path.abspath(sys.argv[1])
exclude = set(sys.argv[2:])  # files not scanned: this test, whose examples are broken on purpose
SKIP_EXT = (".csv", ".json", ".png", ".pdf", ".gz", ".bin", ".pt")
# The old notes outside the repository, by name (spelt as a pattern so this file does not match).
OUTSIDE = re.compile(r"\b(?:DESIGN|REFERENCES)\.md\b|\bDESIGN[ ]notes\b")
CITE = re.compile(r"(?<![\w./~-])(/?(?:[\w.-]+/)*[\w.-]*\w\.md)(?!\w)(#[\w-]+)?")


def git(*args):
    return subprocess.run(["git", "-C", root, *args], check=True, capture_output=True).stdout.decode()


def files():
    try:  # only the top of a work tree: a folder inside another repository's ignored build/ is not
        if os.path.realpath(git("rev-parse", "--show-toplevel").strip()) != os.path.realpath(root):
            raise ValueError
        names = [n for n in git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0") if n]
    except (OSError, ValueError, subprocess.CalledProcessError):
        names = []
        for d, dirs, fs in os.walk(root):
            rel = os.path.relpath(d, root)
            dirs[:] = [x for x in dirs if not (rel == "." and (x == ".git" or x.startswith(("build", "results"))))]
            names += [os.path.relpath(os.path.join(d, f), root) for f in fs]
    for n in sorted(names):
        p = os.path.join(root, n)
        if n in exclude or n.endswith(SKIP_EXT) or not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            data = f.read()
        if b"\0" in data:
            continue
        yield n, data.decode("utf-8", "replace")


def slug(heading):  # GitHub's heading anchors
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return h.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        seen, out, fence = {}, set(), False
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lstrip().startswith("```"):
                    fence = not fence
                m = None if fence else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
                if m:
                    s = slug(m.group(1))
                    n = seen.get(s, 0)
                    seen[s] = n + 1
                    out.add(s if n == 0 else f"{s}-{n}")
        cache[path] = out
    return cache[path]


top = {e for e in os.listdir(root)} | {"docs"}
problems = []
for name, text in files():
    here = os.path.dirname(name)
    for lineno, line in enumerate(text.splitlines(), 1):
        where = f"{name}:{lineno}"
        if OUTSIDE.search(line):
            problems.append(f"{where}: cites '{OUTSIDE.search(line).group(0)}', kept outside the repository "
                            "(cite the docs/ file that carries it)")
        for m in CITE.finditer(line):
            path, anchor = m.group(1), m.group(2)
            if OUTSIDE.fullmatch(os.path.basename(path)):
                continue  # reported above
            if path.startswith("/"):
                problems.append(f"{where}: cites '{path}', an absolute path outside the repository")
                continue
            first = path.split("/")[0]
            if first in (".", ".."):
                candidates = [os.path.normpath(os.path.join(here, path))]
            elif "/" not in path:
                if not (line[max(0, m.start() - 2):m.start()] == "](" or path[:-3].isupper()):
                    continue  # an output file's name, e.g. report.md
                candidates = [os.path.join(here, path), path]
            elif first in top:
                candidates = [path]
            else:
                continue  # a placeholder such as HERE/README.md
            found = next((c for c in candidates if not c.startswith("..") and os.path.isfile(os.path.join(root, c))),
                         None)
            if found is None:
                problems.append(f"{where}: cites '{path}', which does not exist in the repository")
            elif anchor and anchor[1:] not in anchors(os.path.join(root, found)):
                problems.append(f"{where}: cites '{path}{anchor}', but {found} has no heading with that anchor")
for p in problems:
    print(p)
print(f"{len(problems)} broken citation(s)" if problems else "every .md citation resolves")
sys.exit(1 if problems else 0)
PYEOF

# ---- 1. the checker reports each kind of broken citation ----
fixture="$SCRATCH/fixture"
mkdir -p "$fixture/docs" "$fixture/src" "$fixture/papers/p"
printf '# Notes\n\n## The model, defined\n\n```\n## not a heading\n```\n' > "$fixture/docs/notes.md"
printf '# Top\n' > "$fixture/README.md"
printf '# A paper\nSee [notes](../../docs/notes.md#the-model-defined) and README.md.\n' > "$fixture/papers/p/README.md"
printf '// see docs/notes.md#the-model-defined, README.md, HERE/README.md; writes report.md\n' > "$fixture/src/good.h"
"$PY" "$CHECK" "$fixture" > "$SCRATCH/clean.out" || { cat "$SCRATCH/clean.out"; fail "a clean tree was reported"; }

outside_name() { printf '%s.md' "$1"; }  # the banned names, never written out in this file
declare -A bad=(
  [missing]="// see docs/nowhere.md"
  [anchor]="// see docs/notes.md#the-model"
  [fenced]="// see docs/notes.md#not-a-heading"
  [relative]="see [x](../doc/notes.md)"
  [bare_link]="see [x](notes.md)"
  [bare_upper]="// see CONTRIBUTING.md"
  [absolute]="// see /work/elsewhere/notes.md"
  [design]="// see $(outside_name DESIGN)"
  [references]="# formula from $(outside_name REFERENCES)"
)
for kind in "${!bad[@]}"; do
  t="$SCRATCH/fixture_$kind"
  rm -rf "$t" && cp -r "$fixture" "$t"
  printf '%s\n' "${bad[$kind]}" > "$t/src/bad_$kind.h"
  if "$PY" "$CHECK" "$t" > "$SCRATCH/$kind.out"; then
    cat "$SCRATCH/$kind.out"; fail "$kind: not reported"
  fi
  grep -q "^src/bad_$kind.h:1: " "$SCRATCH/$kind.out" || { cat "$SCRATCH/$kind.out"; fail "$kind: reported without file:line"; }
  [[ $(grep -c ': cites ' "$SCRATCH/$kind.out") == 1 ]] || { cat "$SCRATCH/$kind.out"; fail "$kind: not exactly one report"; }
done

rm -rf "$fixture" "$SCRATCH"/fixture_* "$SCRATCH"/*.out  # leave no broken examples behind

# ---- 2. the repository ----
"$PY" "$CHECK" "$SRC" tests/cli/docs_links.sh || fail "broken .md citations in $SRC (above)"
