#!/bin/sh
# The hand-written way to make a sandbox, for comparison with sand-boxer (npm run bench):
# make the workspace directory on the build VM over ssh, then rsync the checkout into it.
# OpenSSH client with a pinned key (a known_hosts file), StrictHostKeyChecking=yes, BatchMode, no
# connection sharing (ControlMaster=no): each step pays its own handshake, like a plain script does.
#
# usage: create-workspace.sh HOST PORT USER IDENTITY_FILE KNOWN_HOSTS WORKSPACE_PATH SOURCE_DIR
set -eu
host=$1 port=$2 user=$3 identity=$4 known_hosts=$5 workspace=$6 source=$7

ssh_opts="-F /dev/null -p $port -i $identity -o IdentitiesOnly=yes -o UserKnownHostsFile=$known_hosts \
 -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=15 \
 -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR"

# shellcheck disable=SC2086 # ssh_opts is a list of words on purpose
ssh $ssh_opts "$user@$host" mkdir -m 0755 -- "$workspace"
rsync -az --filter=':- .gitignore' --exclude=.git -e "ssh $ssh_opts" -- "$source/" "$user@$host:$workspace/"
