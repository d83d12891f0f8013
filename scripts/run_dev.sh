#!/usr/bin/env bash
# Serve the portal with a Celery worker and beat; Ctrl-C stops all three.
# Called by `make run` after migrate and the data loads.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT="${PORT:-8000}"
mkdir -p var/log

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "停止 / stopping ..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$BIN/celery" -A portal worker --loglevel=info --concurrency=2 -Q "${CELERY_QUEUE:-portal}" \
  >var/log/worker.log 2>&1 &
pids+=($!)
"$BIN/celery" -A portal beat --loglevel=info --schedule var/celerybeat-schedule \
  >var/log/beat.log 2>&1 &
pids+=($!)

echo "Celery worker 和 beat 已启动（日志：var/log/worker.log, var/log/beat.log）"
echo "门户地址 / portal: http://127.0.0.1:${PORT}/   管理后台 /admin/   接口文档 /api/v1/docs/"
echo "按 Ctrl-C 停止 / press Ctrl-C to stop"
"$BIN/python" manage.py runserver "127.0.0.1:${PORT}" &
pids+=($!)
wait -n "${pids[@]}"
