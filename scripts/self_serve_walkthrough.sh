#!/usr/bin/env bash
# The walkthrough of docs/self-serve.md, run from scratch on generated data:
#   set-up: a labelled history (150 accounts, July to October), version 1 trained on it,
#           registered, promoted and published; the day 2026-11-25 scored by the daily job;
#           5% of that day's rows corrected by the generator (biased towards wrong predictions);
#   then:   feedback import, retrain, retro-score, compare, promote, rollback.
# Prints each walkthrough command (without the --set options every command gets, listed in
# docs/self-serve.md) with its standard output and exit code, as the page shows them; the
# set-up's and the commands' logs go to $WORK/walkthrough.log.
#
#   scripts/self_serve_walkthrough.sh > transcript.md      (after `make venv`; about 10 min)
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${WORK:-data/selfserve}
BIN=.venv/bin
SEED=${SEED:-11}
ACCOUNTS=${ACCOUNTS:-150}
DAY=2026-11-25
RECEIVED=2026-11-26
LOG=$WORK/walkthrough.log

export PYSPARK_PYTHON=$PWD/$BIN/python PYSPARK_DRIVER_PYTHON=$PWD/$BIN/python
export SPARK_LOCAL_IP=127.0.0.1
SPARK_SUBMIT=("$BIN/spark-submit" --master 'local[*]' --driver-memory 4g
  --driver-java-options '-Dlog4j.configurationFile=conf/log4j2.properties')
# Every command gets these: the walkthrough's own registry, artifacts, publication and
# reference data. The quality gate is conf/base.yaml's.
SETS=(
  --set "lifecycle.tracking_uri=sqlite:///$WORK/mlflow/mlflow.db"
  --set "lifecycle.artifact_root=$WORK/mlflow/artifacts"
  --set "lifecycle.publish_uri=$WORK/published"
  --set "reference.holidays=$WORK/reference/holidays.csv"
  --set "reference.countries=$WORK/reference/countries.csv"
  --set "reference.bureau=$WORK/reference/bureau.jsonl"
)

rm -rf "$WORK"
mkdir -p "$WORK/feedback"
: > "$LOG"

setup() {
  echo "+ $*" >> "$LOG"
  "$@" >> "$LOG" 2>&1
}

# step "<command as shown>" <command...>: the shown line, the output, the exit code. The
# command gets the --set options unless NO_SETS is set (`txcat feedback import` reads no
# configuration).
step() {
  local shown=$1
  shift
  local code=0
  local sets=("${SETS[@]}")
  [[ -n "${NO_SETS:-}" ]] && sets=()
  echo '```console'
  echo "\$ $shown"
  echo "+ $* ${sets[*]}" >> "$LOG"
  "$@" "${sets[@]}" 2>> "$LOG" || code=$?
  echo "\$ echo \$?"
  echo "$code"
  echo '```'
  echo
}

version_of() {
  "$BIN/python" -c "import json, sys; print(json.load(open(sys.argv[1]))['version'])" "$1"
}

# --- set-up ----------------------------------------------------------------------------------
setup "$BIN/python" scripts/generate_data.py --out "$WORK/history" --accounts "$ACCOUNTS" \
  --start-date 2026-07-01 --end-date 2026-10-31 --seed "$SEED" --reference-out "$WORK/reference"
setup "$BIN/python" scripts/generate_data.py --out "$WORK/landing" --accounts "$ACCOUNTS" \
  --start-date 2026-08-26 --end-date "$DAY" --seed "$SEED" --no-labels
setup "${SPARK_SUBMIT[@]}" jobs/train.py --input "$WORK/history" --model-out "$WORK/model-v1" \
  --env local --as-of 2026-10-31 --register "${SETS[@]}"
setup "$BIN/txcat" promote --version "$(version_of "$WORK/model-v1/registration.json")" "${SETS[@]}"
setup "${SPARK_SUBMIT[@]}" jobs/score_daily.py --run-date "$DAY" --input "$WORK/landing" \
  --output "$WORK/output" --model "$WORK/published/champion/" --env local "${SETS[@]}"
setup "$BIN/python" scripts/generate_data.py --out "$WORK/landing" \
  --feedback-out "$WORK/feedback/$RECEIVED.csv" --feedback-share 0.05 \
  --predictions "$WORK/output" --run-date "$DAY"

# --- the walkthrough -------------------------------------------------------------------------
echo "## 1. Import the feedback"
echo
NO_SETS=1 step "$BIN/txcat feedback import --input $WORK/feedback/$RECEIVED.csv \\
    --store $WORK/feedback-store --predictions $WORK/output --received-on $RECEIVED" \
  "$BIN/txcat" feedback import --input "$WORK/feedback/$RECEIVED.csv" \
  --store "$WORK/feedback-store" --predictions "$WORK/output" --received-on "$RECEIVED"

echo "## 2. Retrain on the history plus the corrections"
echo
step "$BIN/txcat retrain --feedback $WORK/feedback-store \\
    --predictions $WORK/output --since $RECEIVED --as-of 2026-10-31 \\
    --model-out $WORK/model-v2 --register" \
  "$BIN/txcat" retrain --feedback "$WORK/feedback-store" --predictions "$WORK/output" \
  --since "$RECEIVED" --as-of 2026-10-31 --model-out "$WORK/model-v2" --register

echo "## 3. Score past days with the challenger"
echo
step "$BIN/python jobs/retro_score.py --model models:/txcat-categoriser@challenger \\
    --from $DAY --to $DAY --runs $WORK/output --output $WORK/retro" \
  "$BIN/python" jobs/retro_score.py --model models:/txcat-categoriser@challenger \
  --from "$DAY" --to "$DAY" --runs "$WORK/output" --output "$WORK/retro"

echo "## 4. Compare champion and challenger on the same rows"
echo
step "$BIN/txcat compare --champion models:/txcat-categoriser@champion \\
    --challenger models:/txcat-categoriser@challenger --from $DAY --to $DAY \\
    --predictions $WORK/output --retro $WORK/retro \\
    --feedback $WORK/feedback-store --output $WORK/compare" \
  "$BIN/txcat" compare --champion models:/txcat-categoriser@champion \
  --challenger models:/txcat-categoriser@challenger --from "$DAY" --to "$DAY" \
  --predictions "$WORK/output" --retro "$WORK/retro" \
  --feedback "$WORK/feedback-store" --output "$WORK/compare"

echo "## 5. Promote: the job serves it from its next run"
echo
step "$BIN/txcat promote --version 2" "$BIN/txcat" promote --version 2

echo "## The way back"
echo
step "$BIN/txcat rollback" "$BIN/txcat" rollback
