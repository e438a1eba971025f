# The checks scripts/test-arm64.sh runs inside each guest, in busybox sh: goscry's verbs
# against the Go fixtures (tests/fixtures), each checked against the fixture's own answer.
# One line per check on the console, which the host counts:
#
#   GOSCRY-TEST <name> PASS|FAIL <what was compared>
#
# Set by the guest's /init: FX (the fixtures' dir), LEAK_CREATION / LEAK_BLOCKS (the lines
# of leaks/main.go's "creation:recv" / "blocks:recv" markers), DUMP_N (goroutines of the
# timed dump, 0: none), RECORD_COST (seconds of each run of the record-cost figure, 0: none),
# CHECKS (which of them, default all).

T=/tmp/t
mkdir -p $T

result() { # name PASS|FAIL detail...
  n=$1 r=$2; shift 2
  echo "GOSCRY-TEST $n $r $*"
}

# Centiseconds since boot (busybox date has no %N everywhere).
now_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }

# wait_for FILE REGEX SECONDS: until a line of FILE matches.
wait_for() {
  i=0
  while [ $i -lt $(( $3 * 10 )) ]; do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# start NAME ARGS...: the fixture in the background, stdin a FIFO held open on fd 3 (a line
# written there is its "next phase"), stdout and stderr in $T/NAME.out; sets $pid.
start() {
  name=$1; shift
  rm -f $T/$name.in; mkfifo $T/$name.in
  "$FX/$name" "$@" < $T/$name.in > $T/$name.out 2>&1 &
  pid=$!
  exec 3> $T/$name.in
}
next_phase() { echo >&3; }
# wait_states FILE N: until FILE has N "state" lines (churn prints one per phase).
wait_states() {
  i=0
  while [ "$(grep -c '^state' "$1")" -lt "$2" ]; do
    [ $i -lt 1200 ] || return 1
    sleep 0.1
    i=$((i + 1))
  done
}
finish() { exec 3>&-; kill $pid 2>/dev/null; wait $pid 2>/dev/null; }

# JSON without blanks, so that sed and grep can find a field.
compact() { tr -d ' \t' < "$1"; }

# top --once against churn's own runtime.NumGoroutine, in two phases.
check_top() {
  start churn
  wait_for $T/churn.out '^ready' 120 || { result top FAIL "churn not ready"; finish; return; }
  ok=1 detail=""
  for phase in 1 2; do
    next_phase
    wait_states $T/churn.out $phase || { ok=0; detail="no state $phase"; break; }
    want=$(grep '^state' $T/churn.out | sed -n "${phase}p" | awk '{ print $4 }')
    goscry top --pid $pid --once --interval 50ms --format json --top 50 > $T/top.json 2> $T/top.err
    got=$(compact $T/top.json | sed -n 's/.*"goroutines":{\([^}]*\)}.*/\1/p' | grep -o '"live":[0-9]*' | cut -d: -f2)
    detail="$detail phase$phase: live $got, NumGoroutine $want;"
    [ "$got" = "$want" ] || ok=0
  done
  finish
  [ $ok = 1 ] && result top PASS $detail || { result top FAIL $detail; tail -n 5 $T/top.err; }
}

# gc: one report per GC cycle, as many as /gc/cycles/total grew over churn's phases.
check_gc() {
  start churn
  wait_for $T/churn.out '^ready' 120 || { result gc FAIL "churn not ready"; finish; return; }
  goscry gc --pid $pid --format json > $T/gc.json 2> $T/gc.err &
  gpid=$!
  wait_for $T/gc.err 'watching pid' 180 || { result gc FAIL "gc did not attach: $(head -c 300 $T/gc.err)"; kill $gpid; finish; return; }
  for phase in 1 2 3 4; do
    next_phase
    wait_states $T/churn.out $phase || break
  done
  begin=$(grep '^state' $T/churn.out | head -n1 | sed -E 's/.* gc ([0-9]+) .*/\1/')
  end=$(grep '^state' $T/churn.out | tail -n1 | sed -E 's/.* gc ([0-9]+) .*/\1/')
  kill -INT $gpid; wait $gpid; code=$?
  cycles=$(compact $T/gc.json | grep -c '"report":"gc_cycle"')
  finish
  detail="gc_cycle reports $cycles, /gc/cycles/total $begin -> $end, exit $code"
  [ "$cycles" = $((end - begin)) ] && [ $code = 0 ] && result gc PASS $detail ||
    { result gc FAIL $detail; tail -n 5 $T/gc.err; }
}

# "goroutine N [state" of every goroutine of a traceback, sorted, the running one left out.
headers() { grep -E '^goroutine [0-9]+ \[' | grep -v '\[running' | sed -E 's/^(goroutine [0-9]+ \[[^],]*).*/\1/' | sort; }

# "N: f1(args) f2(args) ... created by F" per goroutine of a traceback: its id and the
# function lines of its frames with their arguments' words, innermost first (files and
# the running goroutine left out), sorted.
frames() {
  awk 'function out() { if (id != "" && !run) print id ":" fr }
       /^goroutine [0-9]+ \[/ { out(); id = $2; run = ($0 ~ /\[running/); fr = ""; next }
       /^$/ || /^(begin|end) traceback/ { out(); id = ""; next }
       /^\t/ || id == "" { next }
       { f = $0; sub(/ in goroutine [0-9]+$/, "", f); gsub(/ /, "", f); fr = fr " " f }
       END { out() }' | sort
}

# dump against quiescent's own runtime.Stack(all): the same goroutines in the same states,
# with the same frames and the same words of their arguments (the fixture holds still).
check_dump() {
  start quiescent
  wait_for $T/quiescent.out '^ready' 120 || { result dump FAIL "quiescent not ready"; finish; return; }
  sed -n '/^begin traceback/,/^end traceback/p' $T/quiescent.out > $T/oracle.txt
  headers < $T/oracle.txt > $T/oracle.h
  frames < $T/oracle.txt > $T/oracle.f
  goscry dump --pid $pid > $T/dump.txt 2> $T/dump.err; code=$?
  headers < $T/dump.txt > $T/dump.h
  frames < $T/dump.txt > $T/dump.f
  finish
  # busybox has no comm: the oracle's lines that are not lines of the dump's.
  grep -vxF -f $T/dump.h $T/oracle.h > $T/missing.h
  grep -vxF -f $T/dump.f $T/oracle.f > $T/missing.f
  missing=$(wc -l < $T/missing.h) other=$(wc -l < $T/missing.f)
  detail="$(wc -l < $T/oracle.h) goroutines in runtime.Stack, $(wc -l < $T/dump.h) in dump, $missing missing or in another state, $other with other frames or arguments, exit $code"
  [ "$missing" = 0 ] && [ "$other" = 0 ] && [ -s $T/oracle.h ] && [ $code = 0 ] && result dump PASS $detail ||
    { result dump FAIL $detail; head -n 5 $T/missing.h $T/missing.f; grep -F -f $T/missing.f $T/dump.f 2>/dev/null | head -n 3; tail -n 5 $T/dump.err; }
}

# "f1 f2 ..." per runnable goroutine of a traceback that has a creator (not main.main,
# which may be runnable back from a write): its functions, innermost first.
runnable_functions() {
  awk 'function out() { if (run && made) print fr; run = 0 }
       /^goroutine [0-9]+ \[/ { out(); run = ($0 ~ /\[runnable/); made = 0; fr = ""; next }
       /^$/ || /^(begin|end) traceback/ { out(); next }
       /^created by/ { made = 1; next }
       /^\t/ || !run { next }
       { f = $0; sub(/\(.*$/, "", f); fr = fr (fr == "" ? "" : " ") f }
       END { out() }' | sort -u
}

# Goroutines preempted where their innermost frame has no frame record: asynchronously,
# by a signal, anywhere in spin (preempted; under runtime.asyncPreempt, whose frame holds
# the interrupted pc and LR), or synchronously, in main.step's prologue (preempted prologue,
# under GODEBUG=asyncpreemptoff=1: the caller only in g.sched.lr). Every runnable goroutine
# of goscry's dump has the functions the fixture's own runtime.Stack gave such a goroutine.
check_preempted_as() { # check-name "stack|stack..." mode...
  check=$1 expect=$2; shift 2
  start preempted "$@"
  wait_for $T/preempted.out '^ready' 120 || { result $check FAIL "preempted not ready"; finish; return; }
  want=$(sed -n '/^begin traceback/,/^end traceback/p' $T/preempted.out | runnable_functions)
  expect=$(printf '%s\n' "$expect" | tr '|' '\n' | sort)
  goscry dump --pid $pid > $T/$check.txt 2> $T/$check.err; code=$?
  finish
  runnable_functions < $T/$check.txt > $T/$check.got
  n=$(wc -l < $T/$check.got) other=$(grep -vxF "$want" $T/$check.got | wc -l)
  detail="runtime.Stack: '$(printf '%s' "$want" | tr '\n' '|')'; dump: $n distinct runnable stacks, $other of them other, exit $code"
  [ "$want" = "$expect" ] && [ "$n" -gt 0 ] && [ "$other" = 0 ] && [ $code = 0 ] &&
    result $check PASS $detail || { result $check FAIL $detail; head -n 3 $T/$check.got; tail -n 5 $T/$check.err; }
}
check_prologue() {
  export GODEBUG=asyncpreemptoff=1
  check_preempted_as prologue "main.step main.spinCalls" prologue
  unset GODEBUG
}
check_async() { check_preempted_as async "main.spin main.spinner|main.spinFramed"; }

# dump of DUMP_N parked goroutines: all read, and how long it took (the figure of the note).
check_dump_many() {
  [ "${DUMP_N:-0}" -gt 0 ] || return 0
  start quiescent -n "$DUMP_N"
  wait_for $T/quiescent.out '^ready' 600 || { result dump$DUMP_N FAIL "quiescent -n $DUMP_N not ready"; finish; return; }
  t0=$(now_cs)
  goscry dump --pid $pid > $T/dumpn.txt 2> $T/dumpn.err; code=$?
  t1=$(now_cs)
  n=$(grep -cE '^goroutine [0-9]+ \[' $T/dumpn.txt)
  finish
  detail="$n goroutines in $(( (t1 - t0) * 10 )) ms, exit $code"
  [ "$n" -ge "$DUMP_N" ] && [ $code = 0 ] && result dump$DUMP_N PASS $detail ||
    { result dump$DUMP_N FAIL $detail; tail -n 5 $T/dumpn.err; }
}

# What `goscry record` at 99 Hz costs a CPU-bound target (the note's figure, as
# scripts/bench-record.sh measures it on the host): the work `profiled throughput` does per
# CPU second of its thread, with goscry recording it against alone, twice each, alternated.
check_record_cost() {
  [ "${RECORD_COST:-0}" -gt 0 ] || return 0
  ok=1 detail=""
  for round in 1 2; do
    for mode in alone record; do
      start profiled throughput ${RECORD_COST}s
      wait_for $T/profiled.out '^ready' 120 || { ok=0; detail="$detail profiled not ready;"; finish; continue; }
      [ $mode = alone ] || goscry record --pid $pid --hz 99 -d $((RECORD_COST + 60))s -o $T/cost.pb.gz 2> $T/cost.err &
      wait_for $T/profiled.out '^work_per_cpu_s' $((RECORD_COST + 120)) || ok=0
      [ $mode = alone ] || wait
      finish
      rate=$(sed -n 's/^work_per_cpu_s \([0-9.]*\).*/\1/p' $T/profiled.out)
      eval "${mode}_$round=${rate:-0}"
      detail="$detail $mode ${rate:-none};"
    done
  done
  ratio=$(awk -v a1="$alone_1" -v a2="$alone_2" -v r1="$record_1" -v r2="$record_2" \
    'BEGIN { a = a1 + a2; if (a > 0 && r1 > 0 && r2 > 0) printf "%.3f", (r1 + r2) / a }')
  detail="work per CPU second with record at 99 Hz / alone: ${ratio:-none} ($detail )"
  [ $ok = 1 ] && [ -n "$ratio" ] && result record_cost PASS $detail ||
    { result record_cost FAIL $detail; tail -n 5 $T/cost.err; }
}

# record: cpuburn's burnTwice does twice burnOnce's work; the profile must say about 2:1.
check_record() {
  start cpuburn 600s
  wait_for $T/cpuburn.out '^ready' 120 || { result record FAIL "cpuburn not ready"; finish; return; }
  goscry record --pid $pid -d 10s --format folded -o $T/rec.folded > $T/rec.out 2> $T/rec.err; code=$?
  finish
  twice=$(grep 'main.burnTwice' $T/rec.folded | awk '{ s += $NF } END { print s + 0 }')
  once=$(grep 'main.burnOnce' $T/rec.folded | awk '{ s += $NF } END { print s + 0 }')
  # 2:1 within [1.5, 2.7], as RecordOracles.FlatProfileMatches allows for a short profile.
  ratio_ok=$(awk -v t="$twice" -v o="$once" 'BEGIN { print (o > 0 && t / o >= 1.5 && t / o <= 2.7) ? 1 : 0 }')
  detail="burnTwice $twice samples, burnOnce $once, exit $code"
  [ "$ratio_ok" = 1 ] && [ $code = 0 ] && result record PASS $detail ||
    { result record FAIL $detail; tail -n 5 $T/rec.err; }
}

# record_decoy NAME FIXTURE MODE: records FIXTURE MODE 5 s with --goid-labels while it burns
# with the g register holding decoyg's decoy, whose g.m.curg has goid 7777777777; sets
# $samples, $unreadable (samples without a goroutine), $decoy (1: a sample has its goid),
# $worker (1: some sample carries the fixture's pprof label) and $code.
record_decoy() {
  export GODEBUG=asyncpreemptoff=1
  start $2 $3
  unset GODEBUG
  wait_for $T/$2.out '^ready' 120 || { result $1 FAIL "$2 $3 not ready"; finish; return 1; }
  goscry record --pid $pid -d 5s --goid-labels -o $T/$1.pb.gz > /dev/null 2> $T/$1.err; code=$?
  finish
  samples=$(sed -n 's/.*record: \([0-9]*\) samples in.*/\1/p' $T/$1.err)
  unreadable=$(sed -n 's/.* \([0-9]*\) samples without a readable goroutine.*/\1/p' $T/$1.err)
  decoy=0 worker=0
  gunzip -c $T/$1.pb.gz | grep -q 7777777777 && decoy=1
  gunzip -c $T/$1.pb.gz | grep -q worker && worker=1
  detail="${samples:-no} samples, ${unreadable:-0} without a goroutine, decoy goid $([ $decoy = 1 ] && echo present || echo absent), labels $([ $worker = 1 ] && echo present || echo absent), exit $code"
}

# foreign_g: profiled spins in Go assembly with the decoy in g. No sample may carry its
# goid: arm64 reads g from R28 there and must count those samples as without a goroutine;
# amd64 reads g from TLS, right all along.
check_foreign_g() {
  record_decoy foreign_g profiled foreign-g || return
  if [ "$(uname -m)" = aarch64 ]; then
    ok=$(awk -v s="${samples:-0}" -v u="${unreadable:-0}" 'BEGIN { print (s > 50 && u * 2 > s) ? 1 : 0 }')
  else
    ok=$([ "${samples:-0}" -gt 50 ] && [ -z "$unreadable" ] && [ $worker = 1 ] && echo 1 || echo 0)
  fi
  [ "$ok" = 1 ] && [ $decoy = 0 ] && [ $code = 0 ] && result foreign_g PASS $detail ||
    { result foreign_g FAIL $detail; tail -n 5 $T/foreign_g.err; }
}

# cgo_g: profiled's cgo build burns in C with the decoy in g. Go keeps g in TLS in a cgo
# binary, so (almost) every sample keeps its goroutine and the label worker=c, on both.
check_cgo_g() {
  record_decoy cgo_g profiled-cgo cburn || return
  ok=$(awk -v s="${samples:-0}" -v u="${unreadable:-0}" 'BEGIN { print (s > 50 && u * 10 < s) ? 1 : 0 }')
  [ "$ok" = 1 ] && [ $worker = 1 ] && [ $decoy = 0 ] && [ $code = 0 ] && result cgo_g PASS $detail ||
    { result cgo_g FAIL $detail; tail -n 5 $T/cgo_g.err; }
}

# leaks: the recv leak reported at the lines its markers name (exit status 3: leaks found).
check_leaks() {
  start leaks recv
  wait_for $T/leaks.out '^ready' 120 || { result leaks FAIL "leaks not ready"; finish; return; }
  goscry leaks --pid $pid --format json -d 40s > $T/leaks.json 2> $T/leaks.err; code=$?
  finish
  c=$(compact $T/leaks.json)
  found=0
  echo "$c" | grep -o '"creation_site":{[^}]*}' | grep -q "\"line\":$LEAK_CREATION[,}]" &&
    echo "$c" | grep -o '"blocking_site":{[^}]*}' | grep -q "\"line\":$LEAK_BLOCKS[,}]" && found=1
  detail="suspect at creation line $LEAK_CREATION / blocking line $LEAK_BLOCKS: $([ $found = 1 ] && echo found || echo absent), exit $code"
  [ $found = 1 ] && [ $code = 3 ] && result leaks PASS $detail ||
    { result leaks FAIL $detail; echo "$c" | grep -o '"[a-z]*_site":{[^}]*}' | head -n 2; echo "$c" | grep -o '"example_stack":"[^"]*"' | head -n 1; tail -n 5 $T/leaks.err; }
}

# The agent's watch tier (--all): no per-goroutine probe, goscry_goroutines read from the
# runtime's memory, equal to churn's own runtime.NumGoroutine at two of its phases.
check_watch() {
  ifconfig lo 127.0.0.1 up 2>/dev/null || ip link set lo up
  start churn
  wait_for $T/churn.out '^ready' 120 || { result watch FAIL "churn not ready"; finish; return; }
  printf 'scan_interval: 1s\n' > $T/agent.yml
  goscry agent --all --listen 127.0.0.1:19464 --config $T/agent.yml --profile-hz 0 > $T/agent.out 2> $T/agent.err &
  apid=$!
  metric() { wget -q -O - http://127.0.0.1:19464/metrics 2>/dev/null | grep "^goscry_goroutines{pid=\"$pid\"" | awk '{ print $NF }'; }
  ok=1 detail=""
  for phase in 1 2; do
    next_phase
    wait_states $T/churn.out $phase || { ok=0; detail="no state $phase"; break; }
    want=$(grep '^state' $T/churn.out | sed -n "${phase}p" | awk '{ print $4 }')
    i=0 got=$(metric)
    while [ "$got" != "$want" ] && [ $i -lt 180 ]; do sleep 0.5; i=$((i + 1)); got=$(metric); done
    detail="$detail phase$phase: goscry_goroutines $got, NumGoroutine $want;"
    [ "$got" = "$want" ] || ok=0
  done
  tier=$(wget -q -O - "http://127.0.0.1:19464/api/v1/leaks?pid=$pid" 2>/dev/null | grep -o '[0-9]* probes, watch tier' | head -n 1)
  detail="$detail probes: ${tier:-no watch tier}"
  [ -n "$tier" ] || ok=0
  kill $apid; wait $apid
  finish
  [ $ok = 1 ] && result watch PASS $detail || { result watch FAIL $detail; tail -n 5 $T/agent.err; }
}

for c in ${CHECKS:-top gc dump prologue async record foreign_g cgo_g leaks watch dump_many record_cost}; do check_$c; done
