#!/usr/bin/env bash
# Builds or installs the pinned real components into $SWITCHBOARD_CACHE, reusing what is there.
# Usage: tools/install.sh [component...]   (default: all)
. "$(dirname "$0")/lib.sh"

install_uv() {
  local dir="$SWITCHBOARD_CACHE/uv-$UV_VERSION"
  [ -x "$dir/bin/uv" ] && return 0
  log "installing uv $UV_VERSION"
  python3 -m pip install -q --disable-pip-version-check --target "$dir" "uv==$UV_VERSION"
}

install_system() {
  apt_install redis-server ca-certificates
}

install_livekit_server() {
  go_install "$SWITCHBOARD_CACHE/livekit-server-$LIVEKIT_SERVER_VERSION" \
    "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_SERVER_VERSION"
}

ALL=(uv system livekit_server)
components=("$@")
[ ${#components[@]} -eq 0 ] && components=("${ALL[@]}")
for c in "${components[@]}"; do
  start=$(date +%s)
  "install_${c//-/_}"
  log "$c ready ($(( $(date +%s) - start ))s)"
done
