# Shared helpers for tools/*.sh: cache layout, logging, Debian packages.
set -euo pipefail
TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
. "$TOOLS_DIR/versions.env"
SWITCHBOARD_CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}"
export SWITCHBOARD_CACHE
mkdir -p "$SWITCHBOARD_CACHE"

log() { printf '\033[1;34m[tools]\033[0m %s\n' "$*" >&2; }

# Run as root directly, otherwise through sudo (CI runners and laptops differ).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt_install PKG... — installs only what dpkg does not already report as installed.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  # Wait for another apt/dpkg (unattended-upgrades, a parallel install) instead of failing.
  local apt=(apt-get -o DPkg::Lock::Timeout=600)
  as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}" \
    || { as_root "${apt[@]}" update -q && as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; }
}

# go_install DIR PKG@VERSION [extra go env...] — `go install` into DIR/bin unless already built there.
go_install() {
  local dir="$1" pkg="$2"; shift 2
  local bin_name; bin_name="$(basename "${pkg%@*}")"
  if [ -x "$dir/bin/$bin_name" ]; then return 0; fi
  log "go install $pkg -> $dir/bin (cold build, several minutes)"
  mkdir -p "$dir/bin"
  env GOBIN="$dir/bin" GOFLAGS=-buildvcs=false "$@" go install "$pkg"
}
