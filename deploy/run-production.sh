#!/usr/bin/env bash
# The production shape on this machine (`make prod`): DEBUG off, static files
# collected and served by WhiteNoise, migrations applied, gunicorn with
# $WEB_WORKERS workers on $HOST:$PORT and one background worker (db_worker).
# Ctrl-C stops both.
#
# Settings come from the environment as on a server (deploy/env.example); what is
# missing gets a local default, said out loud.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

export DEBUG=0
if [ -z "${SECRET_KEY:-}" ]; then
  SECRET_KEY="$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
  echo "未设置 SECRET_KEY：本次运行临时生成了一个（仅供本机试用，重启后须重新登录）。"
fi
export SECRET_KEY
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-127.0.0.1,localhost}"
# This machine has no HTTPS in front: do not redirect to it. A server sits behind an
# HTTPS proxy (nginx) and keeps the default, the redirect on.
export SECURE_SSL_REDIRECT="${SECURE_SSL_REDIRECT:-0}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
WEB_WORKERS="${WEB_WORKERS:-2}"

"$BIN/python" manage.py collectstatic --no-input --verbosity 0
"$BIN/python" manage.py migrate --no-input

echo ""
echo "生产方式运行：http://$HOST:$PORT/ （DEBUG 关闭；gunicorn $WEB_WORKERS 个进程，后台工作进程 1 个）"
echo "不加载演示数据：可沿用 make run 建好的数据库与演示用户，或先运行 DEBUG=0 SECRET_KEY=… $BIN/python manage.py createsuperuser"
echo ""

# Either process ending ends the run (Ctrl-C ends both). On a server systemd runs and
# restarts each on its own, the worker recycled after 200 tasks (deploy/*.service).
worker=""
web=""
stop() {
  trap - EXIT INT TERM
  for pid in $web $worker; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

"$BIN/python" manage.py db_worker --no-reload &
worker=$!
# No control socket: it lives at one path per user, which a second server would take.
"$BIN/gunicorn" config.wsgi --bind "$HOST:$PORT" --workers "$WEB_WORKERS" --timeout 30 \
  --no-control-socket --access-logfile - &
web=$!
wait -n "$web" "$worker" || true
