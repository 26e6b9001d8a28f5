#!/bin/sh
# The image's entrypoint. Migrations are their own command (a Kubernetes Job, a compose
# one-shot service), never part of starting a server:
#   serve            gunicorn on $GUNICORN_BIND (0.0.0.0:3000 in the image)   [default]
#   migrate          apply migrations, then exit
#   check            Django's deploy checks against this environment, then exit
#   manage ARGS...   any manage.py command (e.g. `manage rollout tick` from the CronJob)
#   anything else    run as given
set -eu
cd "$(dirname "$0")/.."
command="${1:-serve}"
[ $# -gt 0 ] && shift
case "$command" in
    serve) exec gunicorn -c gunicorn.conf.py portal.config.wsgi "$@" ;;
    migrate) exec python manage.py migrate --noinput "$@" ;;
    check) exec python manage.py check --deploy --fail-level WARNING "$@" ;;
    manage) exec python manage.py "$@" ;;
    *) exec "$command" "$@" ;;
esac
