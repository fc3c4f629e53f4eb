# bench/agent_overhead.sh - the overhead part of the `agent` benchmark
# (sourced by bench/agent.sh, run by `bench/run agent`), issue 4:
#
#   `telltale agent` (Release) at --interval 1s with the host collectors and
#   one scrape target, Debian's prometheus-node-exporter (~500 series, own
#   instance, empty textfile directory), shipping to a real `telltale server`
#   (own data directory, ephemeral agent port); and as the peer, in the same
#   run on the same machine, netdata from Debian with its default collectors
#   at update every 1 s (own config, cache, lib and log directories, web and
#   statsd on free 127.0.0.1 ports, run as the current user).
#
# After a warm-up, NWIN windows of WIN seconds each (full: 3 x 60 s, --quick:
# 3 x 5 s), each starting half a second after a round (rounds fall on whole
# seconds, so a window holds exactly WIN rounds). Per window and process tree:
#   CPU %    utime+stime+cutime+cstime summed over the live tree (/proc/PID/stat),
#            delta over the window's wall time, in % of one core;
#   RSS MB   VmRSS summed over the tree, sampled every second; the peak is the
#            sum of VmHWM (the agent: its own VmHWM, the lifetime peak);
#   values/s the agent: samples the server stored with timestamps in the
#            window (sum(count_over_time({__name__=~".+"}[WINs])) at its end;
#            the server is fresh and only this agent ships to it); netdata:
#            sum over /api/v1/charts of dimensions / update_every;
#   us/value CPU microseconds per collected value.
# Figures are medians over the windows. The agent's figures carry
# "vs":{"netdata": ratio}; netdata's own figures are prefixed netdata_. For
# context, not targets: the server's CPU taking the agent's batches and
# node_exporter's CPU producing the scraped values (neither counted for the
# agent; netdata produces all of its values itself). Everything listens on
# 127.0.0.1 only and is stopped by PID (netdata by its process group).

# shellcheck disable=SC2016 # awk programs in single quotes on purpose
AO_PIDS=()   # processes started here, stopped by PID
AO_GROUPS=() # process groups started here (setsid), stopped by group

ao_stop_all() {
  local pid i
  for ((i = ${#AO_PIDS[@]} - 1; i >= 0; i--)); do # the agent before its server
    stop_pid "${AO_PIDS[i]}"
  done
  for pid in "${AO_GROUPS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || continue
    for ((i = 0; i < 300; i++)); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  AO_PIDS=()
  AO_GROUPS=()
}

ao_need() {
  local missing=()
  command -v netdata >/dev/null || missing+=(netdata)
  command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
  command -v jq >/dev/null || missing+=(jq)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "bench/run agent: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >"$BENCH_WORK/apt.log" 2>&1 || {
    apt-get update -q >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
      >"$BENCH_WORK/apt.log" 2>&1 || {
      tail -n 20 "$BENCH_WORK/apt.log" >&2
      echo "bench/run agent: cannot install ${missing[*]}" >&2
      exit 1
    }
  }
}

ao_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ao_tree PID: PID and its descendants, one a line.
ao_tree() {
  ps -e -o pid=,ppid= | awk -v r="$1" '{ p[$1] = $2 } END {
    s[r] = 1; more = 1
    while (more) { more = 0; for (x in p) if (!(x in s) && (p[x] in s)) { s[x] = 1; more = 1 } }
    for (x in s) print x }'
}

# ao_cpu PID: CPU seconds of PID's tree so far: utime+stime of the live
# processes plus cutime+cstime (their reaped children, e.g. plugin scripts).
ao_cpu() {
  local p
  for p in $(ao_tree "$1"); do
    cat "/proc/$p/stat" 2>/dev/null || true
  done | sed 's/.*) //' | awk -v hz="$(getconf CLK_TCK)" \
    '{ s += $12 + $13 + $14 + $15 } END { printf "%.2f\n", s / hz }'
}

# ao_mem PID KEY: KEY (VmRSS or VmHWM) summed over PID's tree, in kB.
ao_mem() {
  local p
  for p in $(ao_tree "$1"); do
    cat "/proc/$p/status" 2>/dev/null || true
  done | awk -v k="$2:" '$1 == k { s += $2 } END { print s + 0 }'
}

# ao_netdata_vps PORT: values netdata collects per second (its charts'
# dimensions over their update_every).
ao_netdata_vps() {
  curl -fsS "http://127.0.0.1:$1/api/v1/charts" |
    jq '[.charts[] | (.dimensions | length) / .update_every] | add // 0'
}

# ao_netdata_conf DIR WEB_PORT STATSD_PORT: netdata.conf using only DIR.
ao_netdata_conf() {
  local d=$1 stock=/usr/lib/netdata/conf.d plugins=/usr/lib/netdata/plugins.d
  local web=/usr/share/netdata/web
  mkdir -p "$d/etc/health.d" "$d/etc/statsd.d" "$d/etc/custom-plugins.d" "$d/log" "$d/cache" \
    "$d/lib" "$d/home"
  touch "$d/etc/.opt-out-from-anonymous-statistics" "$d/etc/.environment"
  {
    printf '[global]\n\trun as user = %s\n\thostname = ttbench\n' "$(id -un)"
    printf '[db]\n\tupdate every = 1\n'
    printf '[directories]\n\tconfig = %s/etc\n\tlog = %s/log\n\tcache = %s/cache\n' "$d" "$d" "$d"
    printf '\tlib = %s/lib\n\thome = %s/home\n\tlock = %s/lib/lock\n' "$d" "$d" "$d"
    printf '\thealth config = %s/etc/health.d\n' "$d"
    [ -d "$stock" ] && printf '\tstock config = %s\n\tstock health config = %s/health.d\n' \
      "$stock" "$stock"
    [ -d "$plugins" ] && printf '\tplugins = "%s" "%s/etc/custom-plugins.d"\n' "$plugins" "$d"
    [ -d "$web" ] && printf '\tweb = %s\n' "$web"
    printf '[logs]\n\tdebug log = %s/log/debug.log\n\terror log = %s/log/error.log\n' "$d" "$d"
    printf '\taccess log = none\n\thealth log = %s/log/health.log\n' "$d"
    printf '[web]\n\tbind to = 127.0.0.1:%s\n' "$2"
    printf '[statsd]\n\tbind to = udp:127.0.0.1:%s tcp:127.0.0.1:%s\n' "$3" "$3"
    printf '[registry]\n\tenabled = no\n'
  } >"$d/etc/netdata.conf"
}

# ao_sleep_until T: sleeps until T (seconds since the epoch), if still ahead.
ao_sleep_until() {
  sleep "$(awk -v t="$1" -v n="$(date +%s.%N)" 'BEGIN { d = t - n; printf "%.3f", (d > 0) ? d : 0 }')"
}

# ao_sleep_to_half: sleeps until half a second past the next whole second;
# prints that time (seconds since the epoch, .5).
ao_sleep_to_half() {
  local now next
  now=$(date +%s.%N)
  next=$(awk -v n="$now" 'BEGIN { t = int(n) + 0.5; if (t - n < 0.2) t += 1; printf "%.1f", t }')
  ao_sleep_until "$next"
  echo "$next"
}

# ao_col FILE EXPR: the median over FILE's lines of the awk EXPR, with w the
# line's wall time ($2 - $1).
ao_col() {
  awk "{ w = \$2 - \$1; print ($2) }" "$1" | median
}

# ao_ratio A B: A / B with 4 significant digits (0 when B is 0).
ao_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4g", (b == 0) ? 0 : a / b }'
}

bench_agent_overhead() {
  ao_need
  build telltale_cli
  trap 'ao_stop_all; rm -rf "$BENCH_WORK"' EXIT
  local tt="$BUILD/telltale" w="$BENCH_WORK/ao" win nwin warm
  if [ "$QUICK" = 1 ]; then win=5 nwin=3 warm=10; else win=60 nwin=3 warm=30; fi
  mkdir -p "$w/textfile" "$w/server" "$w/agent" "$w/netdata"

  # The scrape target: node_exporter with its default collectors and no
  # textfile data.
  local ne_port ne_pid
  ne_port=$(ao_free_port)
  prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port" \
    --collector.textfile.directory="$w/textfile" >"$w/node_exporter.log" 2>&1 &
  ne_pid=$!
  AO_PIDS+=("$ne_pid")
  wait_http "http://127.0.0.1:$ne_port/metrics" 30 || {
    echo "bench/run agent: node_exporter did not start" >&2
    ao_stop_all
    return 1
  }
  echo "bench/run agent: node_exporter target: $(curl -fsS "http://127.0.0.1:$ne_port/metrics" |
    grep -vc '^#') series" >&2

  # The server: fresh data directory, free HTTP port, ephemeral agent port
  # (read from its "ready" log line).
  local http_port srv_pid aport="" i
  http_port=$(ao_free_port)
  "$tt" server --data "$w/server" --http "127.0.0.1:$http_port" --agents 127.0.0.1:0 \
    --log-level info >"$w/server.log" 2>&1 &
  srv_pid=$!
  AO_PIDS+=("$srv_pid")
  for ((i = 0; i < 300; i++)); do
    aport=$(sed -n 's/.* msg=ready .*agents_port=\([0-9]*\).*/\1/p' "$w/server.log")
    [ -z "$aport" ] || break
    sleep 0.1
  done
  if [ -z "$aport" ]; then
    tail -n 20 "$w/server.log" >&2
    echo "bench/run agent: telltale server did not become ready" >&2
    ao_stop_all
    return 1
  fi

  local ag_pid
  "$tt" agent --server "127.0.0.1:$aport" --node ttbench --interval 1s --state "$w/agent" \
    --scrape "node_exporter=http://127.0.0.1:$ne_port/metrics" >"$w/agent.log" 2>&1 &
  ag_pid=$!
  AO_PIDS+=("$ag_pid")

  # netdata in a process group of its own (it spawns its plugins).
  local nd_port nd_statsd nd_pid
  nd_port=$(ao_free_port)
  nd_statsd=$(ao_free_port)
  ao_netdata_conf "$w/netdata" "$nd_port" "$nd_statsd"
  DO_NOT_TRACK=1 setsid netdata -D -c "$w/netdata/etc/netdata.conf" >"$w/netdata.out" 2>&1 &
  nd_pid=$!
  AO_GROUPS+=("$nd_pid")
  wait_http "http://127.0.0.1:$nd_port/api/v1/info" 60 || {
    tail -n 20 "$w/netdata/log/error.log" >&2 || true
    echo "bench/run agent: netdata did not start" >&2
    ao_stop_all
    return 1
  }

  sleep "$warm"
  kill -0 "$ag_pid" 2>/dev/null || {
    tail -n 20 "$w/agent.log" >&2
    echo "bench/run agent: the agent exited" >&2
    ao_stop_all
    return 1
  }

  # The windows.
  local k t0 t1 a0 a1 n0 n1 s0 s1 e0 e1 j
  : >"$w/win"
  for ((k = 0; k < nwin; k++)); do
    t0=$(ao_sleep_to_half)
    a0=$(ao_cpu "$ag_pid") n0=$(ao_cpu "$nd_pid") s0=$(ao_cpu "$srv_pid") e0=$(ao_cpu "$ne_pid")
    for ((j = 1; j <= win; j++)); do
      ao_sleep_until "$(awk -v t="$t0" -v j="$j" 'BEGIN { printf "%.1f", t + j }')"
      [ "$j" = "$win" ] && break
      echo "$(ao_mem "$ag_pid" VmRSS) $(ao_mem "$nd_pid" VmRSS)" >>"$w/rss"
    done
    t1=$(date +%s.%N)
    a1=$(ao_cpu "$ag_pid") n1=$(ao_cpu "$nd_pid") s1=$(ao_cpu "$srv_pid") e1=$(ao_cpu "$ne_pid")
    echo "$(ao_mem "$ag_pid" VmRSS) $(ao_mem "$nd_pid" VmRSS)" >>"$w/rss"
    # window: start end agent_cpu_s netdata_cpu_s server_cpu_s ne_cpu_s netdata_values_per_s
    echo "$t0 $t1 $(awk -v a="$a0" -v b="$a1" -v c="$n0" -v d="$n1" -v e="$s0" -v f="$s1" \
      -v g="$e0" -v h="$e1" 'BEGIN { print b - a, d - c, f - e, h - g }') \
      $(ao_netdata_vps "$nd_port")" >>"$w/win"
  done
  local ag_hwm nd_hwm
  ag_hwm=$(ao_mem "$ag_pid" VmHWM)
  nd_hwm=$(ao_mem "$nd_pid" VmHWM)
  echo "bench/run agent: netdata: $(ao_tree "$nd_pid" | wc -l) processes" >&2

  # The agent's values per window, from the server once the last round is in
  # (rounds at whole seconds, window edges at .5: exactly win rounds each).
  sleep 2
  local start end q cnt
  : >"$w/win2"
  while read -r start end rest; do
    q=$(curl -fsS "http://127.0.0.1:$http_port/api/v1/query" \
      --data-urlencode "query=sum(count_over_time({__name__=~\".+\"}[${win}s]))" \
      --data-urlencode "time=$(awk -v t="$start" -v n="$win" 'BEGIN { printf "%.1f", t + n }')") || q=""
    cnt=$(echo "$q" | jq -r '.data.result[0].value[1] // empty' 2>/dev/null || true)
    [ -n "$cnt" ] || {
      echo "bench/run agent: the server's count for a window failed: $q" >&2
      cnt=nan
    }
    echo "$start $end $rest $cnt" >>"$w/win2"
  done <"$w/win"
  grep -q 'level=error' "$w/agent.log" &&
    echo "bench/run agent: the agent logged errors: $(grep -m1 'level=error' "$w/agent.log")" >&2
  ao_stop_all

  # Per window: wall, then the figures; medians over the windows.
  # win2 columns: t0 t1 ag_cpu nd_cpu srv_cpu ne_cpu nd_vps ag_values
  local ag_cpu nd_cpu srv_cpu ne_cpu ag_vps nd_vps ag_us nd_us ag_rss nd_rss
  ag_cpu=$(ao_col "$w/win2" '$3 / w * 100')
  nd_cpu=$(ao_col "$w/win2" '$4 / w * 100')
  srv_cpu=$(ao_col "$w/win2" '$5 / w * 100')
  ne_cpu=$(ao_col "$w/win2" '$6 / w * 100')
  ag_vps=$(ao_col "$w/win2" "\$8 / $win")
  nd_vps=$(ao_col "$w/win2" '$7')
  ag_us=$(ao_col "$w/win2" "(\$8 > 0) ? \$3 * 1e6 / (\$8 / $win * w) : \"nan\"")
  nd_us=$(ao_col "$w/win2" '($7 > 0) ? $4 * 1e6 / ($7 * w) : "nan"')
  ag_rss=$(awk '{ print $1 / 1024 }' "$w/rss" | median)
  nd_rss=$(awk '{ print $2 / 1024 }' "$w/rss" | median)

  local v_cpu v_rss v_hwm v_vps v_us n_cpu n_rss n_hwm n_vps n_us
  v_cpu=$(printf '%.3f' "$ag_cpu") n_cpu=$(printf '%.3f' "$nd_cpu")
  v_rss=$(printf '%.2f' "$ag_rss") n_rss=$(printf '%.2f' "$nd_rss")
  v_hwm=$(awk -v k="$ag_hwm" 'BEGIN { printf "%.2f", k / 1024 }')
  n_hwm=$(awk -v k="$nd_hwm" 'BEGIN { printf "%.2f", k / 1024 }')
  v_vps=$(printf '%.1f' "$ag_vps") n_vps=$(printf '%.1f' "$nd_vps")
  v_us=$(printf '%.2f' "$ag_us") n_us=$(printf '%.2f' "$nd_us")

  figure netdata_cpu_pct "$n_cpu" "%"
  figure netdata_rss_mb "$n_rss" "MB"
  figure netdata_rss_max_mb "$n_hwm" "MB"
  figure netdata_values_per_s "$n_vps" "values/s"
  figure netdata_cpu_us_per_value "$n_us" "us"
  figure agent_cpu_pct "$v_cpu" "%" "<= 0.5 % of one core" \
    "$(awk -v v="$v_cpu" 'BEGIN { print (v <= 0.5) ? 1 : 0 }')" \
    "{\"netdata\":$(ao_ratio "$v_cpu" "$n_cpu")}"
  figure agent_rss_mb "$v_rss" "MB" "<= 15 MB" \
    "$(awk -v v="$v_rss" 'BEGIN { print (v <= 15) ? 1 : 0 }')" \
    "{\"netdata\":$(ao_ratio "$v_rss" "$n_rss")}"
  figure agent_rss_max_mb "$v_hwm" "MB" "<= 15 MB" \
    "$(awk -v v="$v_hwm" 'BEGIN { print (v <= 15) ? 1 : 0 }')" \
    "{\"netdata\":$(ao_ratio "$v_hwm" "$n_hwm")}"
  figure agent_values_per_s "$v_vps" "values/s" "" 1 "{\"netdata\":$(ao_ratio "$v_vps" "$n_vps")}"
  figure agent_cpu_us_per_value "$v_us" "us" "" 1 "{\"netdata\":$(ao_ratio "$v_us" "$n_us")}"
  # Context: the server taking this agent's batches, node_exporter producing
  # the scraped values.
  figure agent_server_cpu_pct "$(printf '%.3f' "$srv_cpu")" "%"
  figure agent_node_exporter_cpu_pct "$(printf '%.3f' "$ne_cpu")" "%"
}
