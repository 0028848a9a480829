# Sourced by the scripts that start a server with --port 0: prints the port it logged
# ("listening on 127.0.0.1:PORT"), waiting up to TRIES × 20 ms; prints nothing if none came.
server_port() {
  local log=$1 tries=${2:-250} port=""
  for _ in $(seq 1 "$tries"); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.02
  done
  echo "$port"
}
