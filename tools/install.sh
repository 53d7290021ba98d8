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
  apt_install redis-server ca-certificates flite
}

# cgo deps of livekit-sip (opus, soxr) and sipp, the SIP signalling peer of the sip tier.
install_sip_system() {
  apt_install libopus-dev libopusfile-dev libsoxr-dev pkg-config sip-tester
}

# livekit-sip: `go install` where the module proxy serves it (ordinary network access);
# otherwise built from the pinned upstream archives in $LIVEKIT_SIP_SOURCES (checksummed),
# unpacked into a temp dir and never into the repo.
install_livekit_sip() {
  local dir="$SWITCHBOARD_CACHE/livekit-sip-$LIVEKIT_SIP_VERSION" v="${LIVEKIT_SIP_VERSION#v}"
  install_sip_system  # also when the binary is cached: its runtime libs and sipp
  [ -x "$dir/bin/livekit-sip" ] && return 0
  local ld="-X github.com/livekit/sip/version.Version=$v"
  log "go install github.com/livekit/sip/cmd/livekit-sip@$LIVEKIT_SIP_VERSION -> $dir/bin"
  mkdir -p "$dir/bin"
  if env GOBIN="$dir/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=1 \
    go install -trimpath -ldflags "$ld" "github.com/livekit/sip/cmd/livekit-sip@$LIVEKIT_SIP_VERSION"; then
    return 0
  fi
  local src="${LIVEKIT_SIP_SOURCES:-}"
  [ -n "$src" ] && [ -f "$src/SHA256SUMS" ] || {
    log "the module proxy refused livekit-sip and LIVEKIT_SIP_SOURCES (pinned upstream archives) is unset or has no SHA256SUMS"
    return 1
  }
  log "building livekit-sip $LIVEKIT_SIP_VERSION from the archives in $src"
  (cd "$src" && sha256sum --quiet -c SHA256SUMS) || { log "checksum mismatch in $src"; return 1; }
  local work; work="$(mktemp -d "$SWITCHBOARD_CACHE/.livekit-sip.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  local a
  for a in "$src"/sip-*.tar.gz "$src"/media-sdk-*.tar.gz "$src"/protocol-*.tar.gz; do
    tar -xzf "$a" -C "$work"
  done
  printf 'go 1.26\n\nuse ./sip\n\nreplace (\n\tgithub.com/livekit/media-sdk => ./media-sdk\n\tgithub.com/livekit/protocol => ./protocol\n)\n' >"$work/go.work"
  (cd "$work" && env GOFLAGS=-buildvcs=false CGO_ENABLED=1 \
    go build -trimpath -ldflags "$ld" -o "$work/livekit-sip" ./sip/cmd/livekit-sip)
  mv "$work/livekit-sip" "$dir/bin/livekit-sip"
  "$dir/bin/livekit-sip" --version | grep -q "$v" || { log "livekit-sip --version is not $v"; return 1; }
}

install_livekit_server() {
  go_install "$SWITCHBOARD_CACHE/livekit-server-$LIVEKIT_SERVER_VERSION" \
    "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_SERVER_VERSION"
}

# The control plane is built from tools/k8s/go.mod (k8s.io/kubernetes + published staging modules);
# the pins there must agree with versions.env.
k8s_module_check() {
  grep -q "k8s.io/kubernetes $KUBERNETES_VERSION" "$TOOLS_DIR/k8s/go.mod" \
    && grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$TOOLS_DIR/k8s/go.mod" \
    || { log "tools/k8s/go.mod does not pin kubernetes $KUBERNETES_VERSION / etcd $ETCD_VERSION"; return 1; }
}

# k8s_build DIR LDFLAGS PKG... — build main packages of tools/k8s into DIR/bin, atomically.
k8s_build() {
  local dir="$1" ldflags="$2"; shift 2
  local tmp; tmp="$(mktemp -d "$SWITCHBOARD_CACHE/.build.XXXXXX")"
  local pkg
  for pkg in "$@"; do
    local name="${pkg##*/}"; [ "$name" = v3 ] && name=etcd
    (cd "$TOOLS_DIR/k8s" && env CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
      go build -trimpath -ldflags "$ldflags" -o "$tmp/$name" "$pkg")
  done
  mkdir -p "$dir/bin" && mv "$tmp"/* "$dir/bin/" && rmdir "$tmp"
}

# -X flags that make the kube binaries report the pinned version.
k8s_version_ldflags() {
  local v="${KUBERNETES_VERSION#v}" ld=""
  local major="${v%%.*}" minor; minor="${v#*.}"; minor="${minor%%.*}"
  local key val
  for kv in "gitVersion=$KUBERNETES_VERSION" "gitMajor=$major" "gitMinor=$minor" \
    "gitTreeState=clean" "buildDate=1970-01-01T00:00:00Z"; do
    key="${kv%%=*}" val="${kv#*=}"
    ld+=" -X k8s.io/component-base/version.$key=$val -X k8s.io/client-go/pkg/version.$key=$val"
  done
  printf '%s' "$ld"
}

install_kubernetes() {
  local dir="$SWITCHBOARD_CACHE/kubernetes-$KUBERNETES_VERSION"
  [ -x "$dir/bin/kube-apiserver" ] && [ -x "$dir/bin/kube-controller-manager" ] \
    && [ -x "$dir/bin/kube-scheduler" ] && return 0
  k8s_module_check
  log "building kubernetes $KUBERNETES_VERSION control plane -> $dir/bin (cold build, long)"
  k8s_build "$dir" "-s -w$(k8s_version_ldflags)" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
}

# The real node: Debian's runc and iptables, image tools (mmdebstrap, umoci), and
# containerd, the CNI plugins, kubelet and kube-proxy built at their pins.
install_node_system() {
  apt_install runc iptables conntrack mmdebstrap umoci skopeo buildah
}

install_kube_node() {
  local dir="$SWITCHBOARD_CACHE/kubernetes-$KUBERNETES_VERSION"
  [ -x "$dir/bin/kubelet" ] && [ -x "$dir/bin/kube-proxy" ] && return 0
  k8s_module_check
  log "building kubelet and kube-proxy $KUBERNETES_VERSION -> $dir/bin (cold build, long)"
  k8s_build "$dir" "-s -w$(k8s_version_ldflags)" k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy
}

install_containerd() {
  local dir="$SWITCHBOARD_CACHE/containerd-$CONTAINERD_VERSION" m=github.com/containerd/containerd/v2
  [ -x "$dir/bin/containerd" ] && [ -x "$dir/bin/containerd-shim-runc-v2" ] && [ -x "$dir/bin/ctr" ] \
    && return 0
  log "go install containerd $CONTAINERD_VERSION -> $dir/bin (cold build, long)"
  mkdir -p "$dir/bin"
  env GOBIN="$dir/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath -tags no_btrfs \
    -ldflags "-s -w -X $m/version.Version=$CONTAINERD_VERSION" \
    "$m/cmd/containerd@$CONTAINERD_VERSION" "$m/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
    "$m/cmd/ctr@$CONTAINERD_VERSION"
}

install_cni_plugins() {
  local dir="$SWITCHBOARD_CACHE/cni-plugins-$CNI_PLUGINS_VERSION" m=github.com/containernetworking/plugins
  [ -x "$dir/bin/bridge" ] && [ -x "$dir/bin/host-local" ] && [ -x "$dir/bin/loopback" ] \
    && [ -x "$dir/bin/portmap" ] && return 0
  log "go install CNI plugins $CNI_PLUGINS_VERSION -> $dir/bin"
  mkdir -p "$dir/bin"
  env GOBIN="$dir/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
    "$m/plugins/main/bridge@$CNI_PLUGINS_VERSION" "$m/plugins/ipam/host-local@$CNI_PLUGINS_VERSION" \
    "$m/plugins/main/loopback@$CNI_PLUGINS_VERSION" "$m/plugins/meta/portmap@$CNI_PLUGINS_VERSION"
}

install_etcd() {
  local dir="$SWITCHBOARD_CACHE/etcd-$ETCD_VERSION"
  [ -x "$dir/bin/etcd" ] && return 0
  k8s_module_check
  log "building etcd $ETCD_VERSION -> $dir/bin"
  k8s_build "$dir" "-s -w" go.etcd.io/etcd/server/v3
}

install_kwok() {
  go_install "$SWITCHBOARD_CACHE/kwok-$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  go_install "$SWITCHBOARD_CACHE/kwok-$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
}

install_helm() {
  # helm reports its version from an ldflag (go install alone would say "v3.21").
  go_install "$SWITCHBOARD_CACHE/helm-$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    "GOFLAGS=-buildvcs=false -ldflags=-X=helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
}

# The browser tier's Chromium (driven headless by Playwright from the venv).
install_browser() {
  apt_install chromium
}

# The click-to-call widget: livekit-client bundled by esbuild, both pinned in
# gateway/widget/package-lock.json (npm ci, no CDN at run time). Built in a temp dir into
# $SWITCHBOARD_CACHE/widget/widget.js, with the browser tier's JsSIP softphone (jssip.js)
# next to it; rebuilt only when the lock or the sources change.
install_widget() {
  local src="$TOOLS_DIR/../gateway/widget" dir="$SWITCHBOARD_CACHE/widget" stamp
  stamp="$(cd "$src" && cat package.json package-lock.json src/* test-client/* | sha256sum | cut -c1-64)"
  [ -f "$dir/widget.js" ] && [ -f "$dir/jssip.js" ] \
    && [ "$(cat "$dir/inputs.sha256" 2>/dev/null)" = "$stamp" ] && return 0
  command -v npm >/dev/null || apt_install nodejs npm
  log "building the widget and the test softphone (npm ci + esbuild) -> $dir"
  local work; work="$(mktemp -d "$SWITCHBOARD_CACHE/.widget.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  cp -r "$src/package.json" "$src/package-lock.json" "$src/src" "$src/test-client" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --cache "$SWITCHBOARD_CACHE/npm" >/dev/null \
    && WIDGET_OUT="$work/widget.js" npm run -s build \
    && JSSIP_OUT="$work/jssip.js" npm run -s build:test-client)
  mkdir -p "$dir" && mv "$work/widget.js" "$work/jssip.js" "$dir/" \
    && printf '%s' "$stamp" >"$dir/inputs.sha256"
}

# SIP over WebSocket: Kamailio with its websocket module, and rtpengine (userspace).
install_sbc() {
  apt_install kamailio kamailio-websocket-modules rtpengine-daemon
}

ALL=(uv system browser widget sbc livekit_server livekit_sip etcd kubernetes kwok helm
  node_system containerd cni_plugins kube_node)
components=("$@")
[ ${#components[@]} -eq 0 ] && components=("${ALL[@]}")
for c in "${components[@]}"; do
  start=$(date +%s)
  "install_${c//-/_}"
  log "$c ready ($(( $(date +%s) - start ))s)"
done
