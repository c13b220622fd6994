#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those missing: OpenSSH (the "build VMs"),
# rsync, git, Chromium (browser tests), and a real Docker engine for ext.compose-ssh's tests: docker.io
# (dockerd, started privately by tests/support/docker-engine.ts), docker-compose (the v1 command) and
# busybox-static (the offline test image), and Packer (Debian's 1.6.6: the image-build tests run real
# `packer build` with the null and file builders). Needs root. Used by .ci/run and by `npm test` on a fresh machine.
set -euo pipefail
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v rsync >/dev/null || need+=(rsync)
command -v git >/dev/null || need+=(git)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v packer >/dev/null || need+=(packer)
if [ ${#need[@]} -eq 0 ]; then
  echo "test packages: all present (openssh-server, openssh-client, rsync, git, chromium, docker.io, docker-compose, busybox-static, packer)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${need[*]} — install them as root: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
  exit 1
fi
echo "installing missing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
