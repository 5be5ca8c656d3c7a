#!/usr/bin/env bash
# Printed by `make run` before the server starts: what to do next, copy-paste ready.
host=${1:-127.0.0.1}
port=${2:-8000}
cat <<TXT

controlplane is starting on http://$host:$port  (health: curl http://$host:$port/healthz)
Database: the SQLite file in ./instance/. In another terminal, from this folder:

  source .venv/bin/activate
  controlplane user create-admin admin@example.com          # prints a generated password once
  controlplane region create EU --name Europe
  controlplane region add-database EU eu-db-1
  controlplane plan create starter --name Starter --free --document-units-per-month 1000
  TENANT=\$(controlplane tenant create "Acme" --owner-email owner@example.com --json | python -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  controlplane tenant activate "\$TENANT"
  APP=\$(controlplane app create "\$TENANT" backend --region EU --domain https://app.example.com/ --plan starter --json); echo "\$APP"
  CLIENT_ID=\$(echo "\$APP" | python -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
  CLIENT_SECRET=\$(echo "\$APP" | python -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
  curl -s -u "\$CLIENT_ID:\$CLIENT_SECRET" -d grant_type=client_credentials http://$host:$port/connect/token

See README.md for the full tour.
TXT
