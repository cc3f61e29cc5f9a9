#!/usr/bin/env bash
# Builds sluice-cicd/python:bookworm, the image the CI/CD example's test, lint and service
# containers run in. No image registry is assumed to be reachable, so the image is made from a
# Debian mirror with debootstrap and `docker import`, not pulled.
#
# It is a cache: an existing image whose package label matches PACKAGES is kept (a rebuild takes
# a minute). SLUICE_CICD_REBUILD=1 forces a rebuild; DEBIAN_MIRROR picks another mirror.
set -euo pipefail

IMAGE=sluice-cicd/python:bookworm
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Comma-separated, as debootstrap's --include wants it; also stored in the image's label so a
# change here invalidates the cache.
PACKAGES=python3,python3-pytest,python3-coverage,python3-pyflakes
LABEL=dev.sluice.cicd.packages

previous=$(docker image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)
if [[ ${SLUICE_CICD_REBUILD:-0} != 1 ]] &&
    current=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null) &&
    [[ $current == "$PACKAGES" ]]; then
    echo "$IMAGE is up to date"
    exit 0
fi

if ! command -v debootstrap >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y debootstrap || { apt-get update && apt-get install -y debootstrap; }
fi

root=$(mktemp -d /tmp/sluice-cicd-rootfs.XXXXXX)
# debootstrap leaves root-owned files and, on failure, mounts (proc, sys) behind: undo both.
cleanup() {
    for m in proc sys dev/pts dev; do
        mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || true
    done
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "building $IMAGE from $MIRROR ($PACKAGES)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR"

# Keep the image small: downloaded packages, apt lists, docs and translations serve nothing in CI.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
    "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*.log

# docker import keeps no environment: give the image a PATH, and the label the cache checks.
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL $LABEL=$PACKAGES" \
    - "$IMAGE"

# The image replaced is left untagged: remove it unless a container or image still uses it.
if [[ -n $previous && $previous != "$(docker image inspect --format '{{ .Id }}' "$IMAGE")" ]]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
fi
echo "built $IMAGE"
