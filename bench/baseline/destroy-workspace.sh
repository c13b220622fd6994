#!/bin/sh
# The hand-written way to remove a sandbox, for comparison with sand-boxer (npm run bench).
# Same OpenSSH client settings as create-workspace.sh.
#
# usage: destroy-workspace.sh HOST PORT USER IDENTITY_FILE KNOWN_HOSTS WORKSPACE_PATH
set -eu
host=$1 port=$2 user=$3 identity=$4 known_hosts=$5 workspace=$6

ssh_opts="-F /dev/null -p $port -i $identity -o IdentitiesOnly=yes -o UserKnownHostsFile=$known_hosts \
 -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=15 \
 -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR"

# shellcheck disable=SC2086
ssh $ssh_opts "$user@$host" rm -rf -- "$workspace"
