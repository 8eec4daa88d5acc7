#!/usr/bin/env bash
# CI for the example pipeline's release of "feature X" (see README.md beside this file).
#
#   KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 ./ci.sh
#
# Deploys the agent and the pipeline, plays traffic, releases version 2, then asks the agent:
#   check   did the release produce its telemetry? (topic, consumer group, table, feature X)
#   verify  did the release keep its KPI within bounds of what it was before?
# Exits 0 when both pass; otherwise with the failing command's exit code, its report on stdout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${KAFKA_BOOTSTRAP_SERVERS:?set it to the broker to use, e.g. 127.0.0.1:9092}"
export KAFKA_BOOTSTRAP_SERVERS
export WORK_DIR="${WORK_DIR:-$(mktemp -d)}"               # the agent's state, textfiles, the database
export ORDERS_TOPIC="${ORDERS_TOPIC:-orders}"
export ORDERS_GROUP="${ORDERS_GROUP:-orders-writer}"
PORT="${TRIPWIRED_PORT:-19842}"
URL="http://127.0.0.1:${PORT}"
CHECK_WITHIN="${CHECK_WITHIN:-30s}"                        # how long the telemetry may take to show
BROKEN="${BROKEN_FEATURE_X:+--broken}"                      # set BROKEN_FEATURE_X=1 to ship a bad build
PIPELINE=(python3 "$HERE/pipeline.py" --bootstrap "$KAFKA_BOOTSTRAP_SERVERS" --topic "$ORDERS_TOPIC"
          --group "$ORDERS_GROUP" --db "$WORK_DIR/shop.db" --textfile-directory "$WORK_DIR/textfile")
PIDS=()

cleanup() {                                                # stop what this script started, by pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

step() { echo "--- $*"; }

produce() { python3 "$HERE/produce.py" --bootstrap "$KAFKA_BOOTSTRAP_SERVERS" --topic "$ORDERS_TOPIC" "$1"; }

step "deploy: the agent, with the example's config"
mkdir -p "$WORK_DIR/textfile"
"${PIPELINE[@]}" --init                                    # the table exists before anything reads it
tripwired config check "$HERE/tripwired.yaml"
tripwired run --config.file "$HERE/tripwired.yaml" --web.listen-address "127.0.0.1:${PORT}" \
  --log.level warning >"$WORK_DIR/agent.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do curl -sf "$URL/-/ready" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/-/ready" >/dev/null || { echo "the agent did not start:"; cat "$WORK_DIR/agent.log"; exit 1; }

step "before the release: version 1 of the pipeline handles some traffic (the baseline)"
produce 20
"${PIPELINE[@]}" --version 1 &
V1=$!
PIDS+=($V1)
# verify's baseline is the KPI at 1 s steps over the minute before the release: wait until a few
# steps see orders (a release marked within a second of the first order would have none).
tripwired check --url "$URL" --within "$CHECK_WITHIN" \
  --expect-metric 'orders_pipeline_messages_total{outcome="written"} >= 20' \
  --expect-metric 'count_over_time((sum(orders_pipeline_messages_total) > 0)[1m:1s]) >= 3'
kill "$V1"; wait "$V1" || true

step "release: version 2 with feature X, marked for dashboards and for verify's baseline"
tripwired release mark orders-pipeline --version 2 --config "$HERE/tripwired.yaml"
"${PIPELINE[@]}" --version 2 $BROKEN &
PIDS+=($!)
produce 20

step "check: the telemetry the release should produce"
# Y  the topic took all 40 orders
# A  the consumer group caught up with them
# B  the table got rows written after the release (its freshness, read by the SQL collector)
# C  feature X's own metric counts enriched orders
ROWS_WRITTEN_SINCE_RELEASE='max(sql_table_newest_row_timestamp_seconds{database="shop",table="orders"})
  > scalar(tripwired_release_timestamp_seconds{release="orders-pipeline"})'
tripwired check --url "$URL" --within "$CHECK_WITHIN" --junit "$WORK_DIR/check.xml" \
  --expect-metric "sum(kafka_topic_partition_current_offset{topic=\"$ORDERS_TOPIC\"}) >= 40" \
  --expect-metric "sum(kafka_consumergroup_lag{consumergroup=\"$ORDERS_GROUP\"}) == 0" \
  --expect-metric "$ROWS_WRITTEN_SINCE_RELEASE" \
  --expect-metric 'orders_enriched_total > 0'

step "verify: the release's KPI against the baseline before it"
tripwired verify "$HERE/checks.yaml" --url "$URL" --release orders-pipeline --output "$WORK_DIR/verify.json"
