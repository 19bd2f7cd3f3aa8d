#!/usr/bin/env bash
# The Linux study (issue 11): every experiment of experiments/study/ through streammoe-lab into
# one database, results/study/study.db, then the report (results/study/results.md, index.html,
# results.tsv, runs.tsv). experiments/study/README.md describes the setting and the files.
#
#   scripts/study.sh --dry-run          validate every file, print each one's plan summary, time
#                                       and disk estimates, and the study's totals; run nothing
#   scripts/study.sh                    run the study (many hours: run it with the machine to itself)
#   scripts/study.sh --resume           finish the latest experiment of each name (finished ones
#                                       are only judged again)
#   scripts/study.sh --rerun            repeat every experiment of the database as a new one and
#                                       report which verdicts reproduced (results/study/rerun.txt)
# Options:
#   --models-dir DIR   where the derived models go (synth models of 19.5 GB at 40 layers and
#                      10.1 GB at 20, and the 2-bit, bf16-resident and LZ4 variations of the
#                      40-layer one: --dry-run totals them; the packed trained model, replay
#                      traces); default $STREAMMOE_STUDY_MODELS, else /work/dev/study-models;
#                      never inside the repository
#   --db FILE          default results/study/study.db (the report goes beside it)
#   --only NAME        only experiments/study/NAME.yaml (repeatable)
#   --smoke            the same files on a tiny substitute model (a 12-layer synth of the trained
#                      256-expert model's shape), 2 repeats of 8 tokens, into results/study-smoke/:
#                      proves the files run end to end in minutes; its numbers mean nothing
#   --strict           a file the lab refuses stops the study (default: it is listed and skipped;
#                      such files wait for an engine feature their header names)
# Needs build/bin/streammoe and build/bin/streammoe-lab (cmake --build build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LAB=$ROOT/build/bin/streammoe-lab
MODELS=${STREAMMOE_STUDY_MODELS:-/work/dev/study-models}
DB=
MODE=run
SMOKE=0
STRICT=0
ONLY=()
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) MODE=dry ;;
    --resume) MODE=resume ;;
    --rerun) MODE=rerun ;;
    --models-dir) MODELS=$2; shift ;;
    --db) DB=$2; shift ;;
    --only) ONLY+=("$2"); shift ;;
    --smoke) SMOKE=1 ;;
    --strict) STRICT=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "study.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$LAB" ] || { echo "study.sh: $LAB is not built (cmake --build build)" >&2; exit 1; }
MODELS=$(realpath -m "$MODELS")
case $MODELS/ in "$ROOT"/*) echo "study.sh: --models-dir $MODELS is inside the repository; derived models are tens of GB: put them elsewhere" >&2; exit 2 ;; esac

OUT=results/study
[ "$SMOKE" = 1 ] && OUT=results/study-smoke
DB=${DB:-$OUT/study.db}
mkdir -p "$(dirname "$DB")"

# The experiment files, in the order they run: the warm ones first (the 20-layer model), then
# the cold ones, which share the 40-layer model.
FILES=()
if [ ${#ONLY[@]} -gt 0 ]; then
  for name in "${ONLY[@]}"; do
    [ -f "experiments/study/$name.yaml" ] || { echo "study.sh: no experiments/study/$name.yaml" >&2; exit 2; }
    FILES+=("experiments/study/$name.yaml")
  done
else
  for f in experiments/study/*.yaml; do grep -q '^cache: warm' "$f" && FILES+=("$f"); done
  for f in experiments/study/*.yaml; do grep -q '^cache: warm' "$f" || FILES+=("$f"); done
fi

# --smoke: each file rewritten for the substitute model (the shape of the trained 256-expert
# model at 12 layers; the routing trace and the quality model are the study's own).
if [ "$SMOKE" = 1 ]; then
  SMOKE_DIR=$(mktemp -d)
  trap 'rm -rf "$SMOKE_DIR"' EXIT
  SMOKED=()
  for f in "${FILES[@]}"; do
    s=$SMOKE_DIR/$(basename "$f")
    sed -E -e 's#like: experiments/data/qwen3_5_35b_a3b.json, layers: (40|20)#like: tests/fixtures/configs/tiny_256e_12l.json, layers: 12#' \
           -e 's#^repeats: 5#repeats: 2#' -e 's#windows: 5#windows: 2#' -e 's#tokens: 64, ignore_eos#tokens: 8, ignore_eos#' \
           -e 's#^timeout_s: [0-9]+#timeout_s: 300#' -e 's#^  max_tokens: 1024#  max_tokens: 256\n  json_limit: 4#' \
           -e 's#^  json_tokens: 64#  json_tokens: 16#' -e 's#^(name: )#\1smoke-#' "$f" > "$s"
    SMOKED+=("$s")
  done
  FILES=("${SMOKED[@]}")
fi

lab_run() { "$LAB" run "$@" --db "$DB" --models-dir "$MODELS" --root "$ROOT"; }

# Validate every file first: a file the lab refuses (one that waits for an engine feature) is
# named with the lab's reason and left out, so hours of runs never stop on it halfway.
VALID=()
REFUSED=()
for f in "${FILES[@]}"; do
  if msg=$(lab_run "$f" --dry-run 2>&1 >/dev/null); then
    VALID+=("$f")
  else
    REFUSED+=("$(basename "$f" .yaml): ${msg#streammoe-lab: error: }")
  fi
done
if [ ${#REFUSED[@]} -gt 0 ]; then
  echo "refused by the lab (left out of this study run):"
  printf '  %s\n' "${REFUSED[@]}"
  [ "$STRICT" = 1 ] && exit 1
fi

if [ "$MODE" = dry ]; then
  # A profile at the study's read size, so the estimates use this disk's rate for 1.77 MB
  # expert records with K = 8 in flight (cached per boot; about 2 s).
  "$LAB" profile --model models/tiny-qwen35moe-256e --block-bytes 1769472 --queue-depth 8 >/dev/null 2>&1 || true
  total_s=0
  declare -A disk
  for f in "${VALID[@]}"; do
    plan=$(lab_run "$f" --dry-run)
    echo "== $(basename "$f" .yaml)"
    echo "$plan" | grep -E '^(experiment |  memory budget|quality suite|estimated )'
    # "about 1.5 h" / "about 40 min" / "about 90 s"
    secs=$(echo "$plan" | sed -nE 's/^estimated time: about ([0-9.]+) (s|min|h) .*/\1 \2/p' |
           awk '{ print ($2 == "h") ? $1 * 3600 : ($2 == "min") ? $1 * 60 : $1 }')
    total_s=$(awk -v a="$total_s" -v b="${secs:-0}" 'BEGIN { print a + b }')
    # Derived data is shared between experiments: count each folder or file once.
    while read -r size unit what; do
      case $unit in GB) b=$(awk -v s="$size" 'BEGIN { print s * 1e9 }') ;; MB) b=$(awk -v s="$size" 'BEGIN { print s * 1e6 }') ;;
                    kB) b=$(awk -v s="$size" 'BEGIN { print s * 1e3 }') ;; *) continue ;; esac
      disk[$what]=$b
    done < <(echo "$plan" | sed -nE 's/^estimated disk: [^(]*\((.*)\)$/\1/p' | tr ',' '\n' |
             sed -nE 's/^ *([0-9.]+) (GB|MB|kB) (to synth|to pack|to write) (.*)$/\1 \2 \4/p')
  done
  disk_total=0
  for k in "${!disk[@]}"; do disk_total=$(awk -v a="$disk_total" -v b="${disk[$k]}" 'BEGIN { print a + b }'); done
  echo
  awk -v s="$total_s" -v d="$disk_total" -v n="${#VALID[@]}" -v m="$MODELS" 'BEGIN {
    printf "study: %d experiments, estimated %.1f h of runs (the sum of the estimates above), %.1f GB of derived data in %s\n", n, s / 3600, d / 1e9, m }'
  exit 0
fi

mkdir -p "$MODELS"
FAILED=()
if [ "$MODE" = rerun ]; then
  # A rerun of some files (--only) replaces their lines and keeps the others'.
  [ ${#ONLY[@]} -eq 0 ] && : > "$OUT/rerun.txt"
  touch "$OUT/rerun.txt"
  for f in "${VALID[@]}"; do
    name=$(sed -n 's/^name: //p' "$f")
    echo "== rerun $name"
    grep -v "^$name: " "$OUT/rerun.txt" > "$OUT/rerun.txt.new" || true
    mv "$OUT/rerun.txt.new" "$OUT/rerun.txt"
    if out=$("$LAB" run --rerun "$name" --db "$DB" --models-dir "$MODELS" --root "$ROOT"); then
      echo "$out" | grep '^rerun of' | sed "s/^/$name: /" | tee -a "$OUT/rerun.txt"
    else
      FAILED+=("$name")
    fi
  done
else
  for f in "${VALID[@]}"; do
    echo "== $(basename "$f" .yaml)"
    args=()
    [ "$MODE" = resume ] && args+=(--resume)
    lab_run "$f" "${args[@]}" || FAILED+=("$(basename "$f" .yaml)")
  done
fi
"$LAB" report --db "$DB" --out "$OUT"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "study.sh: these experiments stopped with an error (see above): ${FAILED[*]}" >&2
  exit 1
fi
