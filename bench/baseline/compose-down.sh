#!/bin/sh
# The hand-written way to remove a compose project, for comparison with ext.compose-ssh (npm run bench):
# `docker-compose down -v` in its directory, then the directory. Same client settings as compose-up.sh.
#
# usage: compose-down.sh HOST PORT USER IDENTITY_FILE KNOWN_HOSTS DIR PROJECT DOCKER_HOST
set -eu
host=$1 port=$2 user=$3 identity=$4 known_hosts=$5 dir=$6 project=$7 docker_host=$8

ssh_opts="-F /dev/null -p $port -i $identity -o IdentitiesOnly=yes -o UserKnownHostsFile=$known_hosts \
 -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=15 \
 -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR"

# shellcheck disable=SC2086
ssh $ssh_opts "$user@$host" \
  "cd '$dir' && DOCKER_HOST='$docker_host' docker-compose -p '$project' down -v && cd / && rm -rf '$dir'"
