#!/usr/bin/env bash
# Add server.N lines for $ZOOKEEPER_SERVERS to the ZooKeeper config and write this server's myid
# (the chart's contract, as the apachepulsar image's script of this name keeps it).
conf=$1
domain=$(hostname -d)
n=1
for server in ${ZOOKEEPER_SERVERS//,/ }; do
  echo "server.$n=$server.$domain:2888:3888" >> "$conf"
  [ "$HOSTNAME" == "$server" ] && my_id=$n
  n=$((n + 1))
done
if [ -n "${my_id:-}" ]; then
  data_dir=$(sed -n 's/^dataDir=//p' "$conf" | tail -1)
  mkdir -p "$data_dir"
  [ -e "$data_dir/myid" ] || echo "$my_id" > "$data_dir/myid"
fi
