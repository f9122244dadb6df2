#!/bin/sh
# compose.yaml's one-off crispml-init: the schema, the first admin user and Prometheus' key, before the API
# starts. Listening on 0.0.0.0 turns API keys on, and `crispml serve` refuses to start without an admin.
# The admin's key is printed once, here: `docker compose logs crispml-init` (keep it; `users rotate admin`
# gives a new one). Safe to run again: what exists is left alone.
set -eu
crispml db upgrade
has_user() {
  crispml users list --json | python3 -c "import json, sys; sys.exit(not any(u['name'] == sys.argv[1] for u in json.load(sys.stdin)))" "$1"
}
has_user admin || crispml users create admin --role admin
key_file=/run/crispml-keys/prometheus.key
if [ ! -s "$key_file" ]; then
  if has_user prometheus; then
    crispml users rotate prometheus --json > "$key_file.json"
  else
    crispml users create prometheus --role viewer --json > "$key_file.json"
  fi
  python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['key'])" "$key_file.json" > "$key_file.new"
  rm "$key_file.json"
  chmod 0644 "$key_file.new"  # Prometheus runs as another user; the volume is this stack's alone
  mv "$key_file.new" "$key_file"
fi
