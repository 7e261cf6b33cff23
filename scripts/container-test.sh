#!/usr/bin/env bash
# Build Parley's container image and run the Telegram bot in it against the fake Bot API on the
# host: a message answered, the health check turning healthy, the store surviving a restart
# (a new container on the same volume). Needs podman, runc and debootstrap (apt-get install
# podman runc debootstrap) and root. Not part of .ci/run (minutes, and it needs podman).
#
# No container registry is reachable here, so the base image is made from Debian's packages
# (debootstrap --variant=minbase bookworm, imported as debian:bookworm-slim), and the binaries
# are built on the host and put in the Dockerfile's `prebuilt` target: a Rust image would have
# to be made the same way, and the host's target/ already holds most of the build.
#
#   scripts/container-test.sh                  # release binaries
#   PARLEY_PROFILE=dev scripts/container-test.sh   # the dev profile (deps optimised; faster to build)
#   PARLEY_SKIP_BUILD=1 ...                        # use the binaries already in target/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
started=$(date +%s)
step() { printf '[%4ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; podman logs "$name" 2>&1 | tail -n 30 || true; exit 1; }

profile=${PARLEY_PROFILE:-release}
out_dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
cache=${PARLEY_CONTAINER_CACHE:-/var/tmp/parley-container}
image=localhost/parley:test
name=parley-container-test
volume=parley-container-test-data
mkdir -p "$cache"

# podman on this kernel: runc (crun fails on its cgroup setup), no default ulimits.
cat > "$cache/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF=$cache/containers.conf
# Without systemd podman cannot schedule health checks (it says so on every run); the script
# runs them itself with `podman healthcheck run`.
pod() { podman --runtime runc "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }

step "base image debian:bookworm-slim"
if ! pod image exists localhost/debian:bookworm-slim; then
    if [ ! -x "$cache/rootfs/bin/bash" ]; then
        rm -rf "$cache/rootfs"
        debootstrap --variant=minbase bookworm "$cache/rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log"
    fi
    tar -C "$cache/rootfs" -c . | pod import - localhost/debian:bookworm-slim >/dev/null
fi

step "binaries on the host ($profile profile)"
if [ -z "${PARLEY_SKIP_BUILD:-}" ]; then
    cargo build --locked --workspace --profile "$profile" --bins
    cargo build --locked --workspace --examples
fi
context=$cache/context
rm -rf "$context" && mkdir -p "$context/dist"
cp "target/$out_dir/parley-telegram" "target/$out_dir/parley-discord" "target/$out_dir/parley" "$context/dist/"
cp -r config.toml prompts "$context/"
cp scripts/deploy/Dockerfile "$context/Dockerfile"

step "image (target prebuilt)"
pod build --quiet --network host --format docker --target prebuilt -t "$image" "$context" >/dev/null

step "fake Bot API on the host"
coproc FAKE { exec target/debug/examples/fake_telegram; }
read -r _ api_url <&"${FAKE[0]}"
read -r _ token <&"${FAKE[0]}"
ask() { # ask TEXT: the bot's reply to user 1001 writing TEXT
    echo "say 1001 $1" >&"${FAKE[1]}"
    local answer
    read -r answer <&"${FAKE[0]}"
    echo "$answer"
}
health_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

run_bot() {
    pod run -d --name "$name" --network host \
        -v "$volume:/data" -v "$root/models:/data/models:ro" \
        -e TELOXIDE_TOKEN="$token" -e TELOXIDE_API_URL="$api_url" \
        -e PARLEY__METRICS__LISTEN="127.0.0.1:$health_port" -e PARLEY_HEALTH_PORT="$health_port" \
        "$image" >/dev/null
}
cleanup() {
    pod rm -f "$name" >/dev/null 2>&1 || true
    pod volume rm -f "$volume" >/dev/null 2>&1 || true
    [ -n "${FAKE_PID:-}" ] && kill "$FAKE_PID" 2>/dev/null || true
}
trap cleanup EXIT
pod rm -f "$name" >/dev/null 2>&1 || true
pod volume rm -f "$volume" >/dev/null 2>&1 || true

wait_healthy() {
    for _ in $(seq 1 60); do
        if pod healthcheck run "$name" >/dev/null 2>&1; then return 0; fi
        sleep 2
    done
    return 1
}

step "container 1: start, health check, a message answered"
run_bot
wait_healthy || fail "the health check never turned healthy"
[ "$(pod inspect --format '{{.State.Health.Status}}' "$name")" = healthy ] || fail "not healthy"
step "healthy"
answer=$(ask "Hello! What is the capital of France?")
[[ $answer == reply\ ?* ]] || fail "no answer to a question: $answer"
step "answered: ${answer:0:100}"
answer=$(ask "/remember the door code is 4711")
[[ $answer == reply\ ?* ]] || fail "no answer to /remember: $answer"
step "note pinned: ${answer:0:100}"

step "container 2: the same volume, a new container"
pod rm -f "$name" >/dev/null
run_bot
wait_healthy || fail "the second container never turned healthy"
answer=$(ask "/remember")
[[ $answer == *4711* ]] || fail "the note did not survive the restart: $answer"
step "the store survived: ${answer:0:100}"
echo "quit" >&"${FAKE[1]}"
step "PASS"
