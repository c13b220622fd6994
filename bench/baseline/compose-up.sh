#!/bin/sh
# The hand-written way to start a compose project, for comparison with ext.compose-ssh (npm run bench):
# one ssh that makes the directory, writes the compose file from stdin and runs `docker-compose up -d`
# there. Same OpenSSH client settings as create-workspace.sh (pinned key, no connection sharing).
#
# usage: compose-up.sh HOST PORT USER IDENTITY_FILE KNOWN_HOSTS DIR PROJECT DOCKER_HOST COMPOSE_FILE
set -eu
host=$1 port=$2 user=$3 identity=$4 known_hosts=$5 dir=$6 project=$7 docker_host=$8 file=$9

ssh_opts="-F /dev/null -p $port -i $identity -o IdentitiesOnly=yes -o UserKnownHostsFile=$known_hosts \
 -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=15 \
 -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR"

# shellcheck disable=SC2086 # ssh_opts is a list of words on purpose
ssh $ssh_opts "$user@$host" \
  "mkdir -p '$dir' && cat > '$dir/compose.yaml' && cd '$dir' && DOCKER_HOST='$docker_host' docker-compose -p '$project' up -d" <"$file"
