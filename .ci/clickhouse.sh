#!/bin/sh
# Start a throwaway ClickHouse server on loopback for the ClickHouse output tests; print its HTTP URL.
#
# Installs clickhouse-server from the distribution when missing and running as
# root; exits 3 when the binary is absent and cannot be installed (the tests
# then skip with that reason). Idempotent: a server already answering on the
# port is reused. Env: CLICKHOUSE_HTTP_PORT (18123), CLICKHOUSE_DIR.
set -eu

PORT="${CLICKHOUSE_HTTP_PORT:-18123}"
TCP_PORT=$((PORT + 1000))
DIR="${CLICKHOUSE_DIR:-/tmp/podlog-clickhouse-$PORT}"
URL="http://127.0.0.1:$PORT"

ping() { curl -fsS --max-time 2 "$URL/ping" >/dev/null 2>&1 || python3 - "$URL" <<'EOF' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/ping", timeout=2).read()
EOF
}

if ping; then echo "$URL"; exit 0; fi

find_server() {
  for c in clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  if command -v clickhouse >/dev/null 2>&1; then echo "$(command -v clickhouse) server"; return 0; fi
  return 1
}

if ! SERVER="$(find_server)"; then
  if [ "$(id -u)" != "0" ]; then
    echo "clickhouse-server is not installed and installing it needs root" >&2; exit 3
  fi
  if ! apt-cache policy clickhouse-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -qq >/dev/null 2>&1 || true
  fi
  if ! apt-cache policy clickhouse-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    echo "clickhouse-server is not available from apt" >&2; exit 3
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
  SERVER="$(find_server)" || { echo "clickhouse-server missing after install" >&2; exit 3; }
fi

mkdir -p "$DIR/data" "$DIR/tmp" "$DIR/log" "$DIR/user_files" "$DIR/format_schemas"
cat >"$DIR/config.xml" <<EOF
<yandex>
  <logger><level>warning</level><log>$DIR/log/server.log</log><errorlog>$DIR/log/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$PORT</http_port>
  <tcp_port>$TCP_PORT</tcp_port>
  <path>$DIR/data/</path>
  <tmp_path>$DIR/tmp/</tmp_path>
  <user_files_path>$DIR/user_files/</user_files_path>
  <format_schema_path>$DIR/format_schemas/</format_schema_path>
  <users_config>$DIR/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>0</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
EOF
cat >"$DIR/users.xml" <<EOF
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <podlog><password>podlog-secret</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile><quota>default</quota></podlog>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF

cd "$DIR"
# shellcheck disable=SC2086
nohup $SERVER --config-file="$DIR/config.xml" >"$DIR/log/stdout.log" 2>&1 &
echo $! >"$DIR/server.pid"

i=0
while [ $i -lt 120 ]; do
  if ping; then echo "$URL"; exit 0; fi
  if ! kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null; then
    echo "clickhouse-server exited; see $DIR/log" >&2; tail -20 "$DIR/log/stdout.log" "$DIR/log/error.log" >&2 || true
    exit 1
  fi
  i=$((i + 1)); sleep 0.5
done
echo "clickhouse-server did not answer /ping within 60s" >&2
exit 1
