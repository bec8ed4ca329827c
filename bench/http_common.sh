# Shared by the wrk benchmarks (http_bench.sh, rekognition_bench.sh); sourced, not run.
# The caller sets: bin (the concierge binary), examples (the face_recognition examples
# folder), port, and exports CONCIERGE_DATA_DIR under $work (made by bench_init).

# Makes $work and removes it (and stops the server) on exit.
bench_init() {
  work="$(mktemp -d)"
  server_pid=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}

# Enrols the gallery: Lin-Manuel Miranda, Alex Lacamoire and the knn_examples/train people.
bench_enrol_gallery() {
  echo "== enrolling the gallery" >&2
  "$bin" --log-level error enroll --largest --person lin-manuel --name "Lin-Manuel Miranda" \
    "$examples/lin-manuel-miranda.png" >/dev/null
  "$bin" --log-level error enroll --largest --person alex --name "Alex Lacamoire" \
    "$examples/alex-lacamoire.png" >/dev/null
  for person in "$examples"/knn_examples/train/*/; do
    local name
    name="$(basename "$person")"
    "$bin" --log-level error enroll --largest --person "${name//_/-}" "$person" >/dev/null
  done
}

# Creates an admin and sets $token to a new API token of theirs.
bench_api_token() {
  echo "== creating an admin and an API token" >&2
  local password
  password="bench-$(date +%s)-pass"
  printf '%s\n' "$password" | "$bin" --log-level error user add bench --role admin --password-stdin >/dev/null
  token="$("$bin" --log-level error token create wrk --user bench 2>/dev/null)"
  [ -n "$token" ] || { echo "bench: no API token" >&2; exit 1; }
}

# Starts `concierge run` on 127.0.0.1:$port and waits until /readyz answers.
bench_start_server() {
  echo "== starting concierge run on 127.0.0.1:$port" >&2
  "$bin" --log-level warn run >"$work/run.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/run.log" >&2; exit 1; }
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "bench: not ready" >&2; exit 1; }
}

# Writes $work/recognize.lua: POST /api/v1/recognize with photo $1 as an image/jpeg body,
# after checking the request once (a wrong token would measure 401s).
bench_recognize_lua() {
  curl -fsS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: image/jpeg' \
    --data-binary "@$1" "http://127.0.0.1:$port/api/v1/recognize"
  cat >"$work/recognize.lua" <<LUA
local f = assert(io.open("$1", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Content-Type"] = "image/jpeg"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA
}
