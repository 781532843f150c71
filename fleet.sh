#!/bin/bash
# usage: fleet.sh NPROC CALLS N T MODE HEADERS LAT JIT [lane-of-each: e.g. "batch interactive"]
cd /tmp/h4
NP=$1; CALLS=$2; N=$3; T=$4; MODE=$5; H=$6; LAT=$7; JIT=$8; LANES=${9:-}
PORT=$((20000 + RANDOM % 20000))
redis-cli -p 16391 flushall >/dev/null
python httpsrv.py $PORT "[[$N,$T]]" $MODE $H seconds $LAT $JIT /tmp/h4/fleet_stats_$PORT.json > /tmp/h4/httpsrv_$PORT.log 2>&1 &
SP=$!
for i in $(seq 50); do grep -q ready /tmp/h4/httpsrv_$PORT.log && break; sleep 0.1; done
pids=()
for i in $(seq $NP); do
  lane=interactive; if [ -n "$LANES" ]; then arr=($LANES); lane=${arr[$(( (i-1) % ${#arr[@]} ))]}; fi
  timeout 120 python proc.py $PORT redis://127.0.0.1:16391/0 $CALLS $N $T $lane > /tmp/h4/proc_${PORT}_$i.out 2>&1 &
  pids+=($!)
done
for p in ${pids[@]}; do wait $p; done
sleep 0.7
kill $SP
for i in $(seq $NP); do echo "proc $i: $(tail -c 600 /tmp/h4/proc_${PORT}_$i.out)"; done
cat /tmp/h4/fleet_stats_$PORT.json; echo
