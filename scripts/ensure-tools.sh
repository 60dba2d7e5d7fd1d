#!/usr/bin/env bash
# Installs what building and testing the console needs, skipping what is
# already present. Idempotent: safe to run before every build or test.
#
#   scripts/ensure-tools.sh            # everything
#   scripts/ensure-tools.sh trunk      # one tool (wasm_target, trunk,
#                                      # std_sources, wasm_bindgen, binaryen, chromium,
#                                      # interop, redis, wrk, nginx,
#                                      # cargo_fuzz, systemd_analyze)
#
# Versions are pinned where the build depends on them: wasm-bindgen-cli must
# equal the `wasm-bindgen` crate pinned in frontend/Cargo.toml, and trunk is
# told (Trunk.toml, offline = true) to use these binaries, never to download.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRUNK_VERSION="0.21.14"
BINARYEN_VERSION="132"
AXE_VERSION="4.14.1"
CARGO_FUZZ_VERSION="0.13.2"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

log() { printf 'ensure-tools: %s\n' "$*" >&2; }

wasm_bindgen_version() {
    # The exact pin `wasm-bindgen = "=X"` in the console's manifest.
    sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' "$ROOT/frontend/Cargo.toml"
}

ensure_wasm_target() {
    # rust-src: the release console rebuilds the standard library for its
    # size (build-std, see CONSOLE_BUNDLE_ENV in xtask/src/main.rs).
    if ! rustup component list --installed | grep -q '^rust-src'; then
        log "adding the rust-src component"
        rustup component add rust-src
    fi
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
    ensure_std_sources
}

ensure_std_sources() {
    # build-std compiles the standard library from rust-src, and the standard
    # library has crates.io dependencies of its own, pinned by the sysroot's
    # library/Cargo.lock. Trunk runs cargo --offline (Trunk.toml), so they must
    # be in this CARGO_HOME's cache before the console is built: a machine
    # that never fetched them failed with "no matching package named
    # `moto-rt` found". Cargo resolves that whole lock file (every target's
    # crates), so all of it is fetched. The manifest uses nightly-only keys,
    # hence RUSTC_BOOTSTRAP for this one command; nothing is written to the
    # sysroot (--locked, and fetch builds nothing).
    local manifest
    manifest="$(rustc --print sysroot)/lib/rustlib/src/rust/library/Cargo.toml"
    if [ ! -f "$manifest" ]; then
        log "rust-src is installed but $manifest is missing"; exit 1
    fi
    if RUSTC_BOOTSTRAP=1 cargo fetch --offline --locked --manifest-path "$manifest" >/dev/null 2>&1; then
        return
    fi
    log "fetching the standard library's dependencies (for build-std)"
    RUSTC_BOOTSTRAP=1 cargo fetch --locked --manifest-path "$manifest" >&2
}

ensure_trunk() {
    if "$CARGO_BIN/trunk" --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
        return
    fi
    log "installing trunk $TRUNK_VERSION (a few minutes)"
    cargo install trunk --version "$TRUNK_VERSION" --locked
}

ensure_wasm_bindgen() {
    local want
    want="$(wasm_bindgen_version)"
    if [ -z "$want" ]; then
        log "no exact wasm-bindgen pin in frontend/Cargo.toml"; exit 1
    fi
    if "$CARGO_BIN/wasm-bindgen" --version 2>/dev/null | grep -q " $want\$" \
        && [ -x "$CARGO_BIN/wasm-bindgen-test-runner" ]; then
        return
    fi
    log "installing wasm-bindgen-cli $want (about three minutes)"
    # Not --locked: the CLI's lock file pins crates that no longer build.
    cargo install wasm-bindgen-cli --version "$want" --force
}

ensure_binaryen() {
    # Debian's binaryen produces a bundle that renders a blank page; the npm
    # package ships a working wasm-opt. Kept project-local under .tools/.
    local bin="$ROOT/.tools/node_modules/.bin/wasm-opt"
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
        return
    fi
    if ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    log "installing binaryen@$BINARYEN_VERSION (wasm-opt) into .tools/"
    mkdir -p "$ROOT/.tools"
    npm install --prefix "$ROOT/.tools" --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >&2
}

ensure_chromium() {
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        apt_install chromium chromium-driver
    fi
    # The browser tests also run axe-core (accessibility) in the page.
    ensure_axe
}

ensure_axe() {
    local js="$ROOT/.tools/node_modules/axe-core/axe.min.js"
    if [ -f "$js" ] && grep -q "axe v$AXE_VERSION" "$js"; then
        return
    fi
    if ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    log "installing axe-core@$AXE_VERSION into .tools/"
    mkdir -p "$ROOT/.tools"
    npm install --prefix "$ROOT/.tools" --no-audit --no-fund "axe-core@$AXE_VERSION" >&2
}

interop_installed() {
    # node_modules holds exactly the oidc-provider version package.json pins.
    local dir="$ROOT/tests/interop" want
    want="$(sed -n 's/.*"oidc-provider": "\([0-9.]*\)".*/\1/p' "$dir/package.json")"
    [ -n "$want" ] && [ -f "$dir/node_modules/oidc-provider/package.json" ] \
        && grep -q "\"version\": \"$want\"" "$dir/node_modules/oidc-provider/package.json"
}

ensure_interop() {
    # The independent OpenID provider of the interop tests: panva's
    # oidc-provider from npm, pinned by tests/interop/package-lock.json.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    if interop_installed; then
        return
    fi
    # Several test binaries may ask at once: one installs, the others wait.
    (
        flock 9
        if ! interop_installed; then
            log "installing the interop provider (npm ci in tests/interop)"
            npm ci --prefix "$ROOT/tests/interop" --no-audit --no-fund >&2
        fi
    ) 9>"$ROOT/tests/interop/.install.lock"
}

apt_install() {
    log "apt-get install $*"
    if [ "$(id -u)" -ne 0 ]; then
        log "need root for apt-get install $*"; exit 1
    fi
    # Several test binaries (or engineers) may install at once: dpkg allows
    # one at a time, so they queue on a lock instead of failing on dpkg's.
    (
        flock 9
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    ) 9>/tmp/giponext-apt.lock
}

ensure_redis() {
    # The backend's scale-out tests start their own redis-server on a free
    # loopback port: plain, with TLS (Debian builds it with TLS; openssl
    # makes the test certificate), as a Cluster (`redis-cli --cluster
    # create`, from redis-tools) and as Sentinel (`redis-server --sentinel`).
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 \
        && command -v openssl >/dev/null 2>&1; then
        return
    fi
    apt_install redis-server redis-tools openssl
}

ensure_wrk() {
    # The load generator of the benchmarks (bench/).
    if command -v wrk >/dev/null 2>&1; then
        return
    fi
    apt_install wrk
}

ensure_nginx() {
    # The reverse-proxy baseline of the proxy-hop benchmark, and the TLS
    # proxy of the end-to-end test tests/tests/browser/tls_proxy.rs (which
    # makes its certificate with the openssl CLI). Each runs its own nginx on
    # a free port, so the Debian service itself is never started here.
    if ! command -v openssl >/dev/null 2>&1; then
        apt_install openssl
    fi
    if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
        return
    fi
    apt_install nginx-light || apt_install nginx
}

ensure_systemd_analyze() {
    # `systemd-analyze verify` checks the shipped unit (packaging/); only the
    # tool is used, no systemd is started.
    if command -v systemd-analyze >/dev/null 2>&1; then
        return
    fi
    apt_install systemd
}

ensure_cargo_fuzz() {
    # cargo-fuzz (libFuzzer) for scripts/fuzz.sh; it needs nightly features,
    # which the fuzz script unlocks on the stable toolchain (RUSTC_BOOTSTRAP=1).
    # Pinned and --locked: measured 2 min 40 s wall, 106 s CPU on 2 busy cores.
    if "$CARGO_BIN/cargo-fuzz" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
        return
    fi
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION (about three minutes)"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
}

# Prints the PATH addition that puts these tools first, for `eval`-free use:
#   PATH="$(scripts/ensure-tools.sh path):$PATH"
tools_path() {
    printf '%s:%s\n' "$ROOT/.tools/node_modules/.bin" "$CARGO_BIN"
}

main() {
    if [ "$#" -eq 0 ]; then
        set -- wasm_target trunk wasm_bindgen binaryen chromium interop redis
    fi
    for tool in "$@"; do
        case "$tool" in
            wasm_target) ensure_wasm_target ;;
            std_sources) ensure_std_sources ;;
            trunk) ensure_trunk ;;
            wasm_bindgen) ensure_wasm_bindgen ;;
            binaryen) ensure_binaryen ;;
            chromium) ensure_chromium ;;
            axe) ensure_axe ;;
            interop) ensure_interop ;;
            redis) ensure_redis ;;
            wrk) ensure_wrk ;;
            nginx) ensure_nginx ;;
            cargo_fuzz) ensure_cargo_fuzz ;;
            systemd_analyze) ensure_systemd_analyze ;;
            path) tools_path ;;
            *) log "unknown tool $tool"; exit 2 ;;
        esac
    done
}

main "$@"
