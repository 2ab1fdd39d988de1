#!/usr/bin/env bash
# Build the `busybox:latest` image the Docker tests use, without any registry: a root filesystem of
# the host's static busybox (/bin/sh and every applet as a symlink) imported with `docker import`.
# Idempotent: does nothing when the image exists. Uses DOCKER_HOST like the docker CLI does.
#
#   scripts/build-test-image.sh [IMAGE]     (default busybox:latest; env BUSYBOX overrides the binary)
set -euo pipefail

image=${1:-busybox:latest}
busybox=${BUSYBOX:-/usr/bin/busybox}
host=${DOCKER_HOST:-unix:///var/run/docker.sock}
if [[ $host != unix://* ]]; then
  echo "error: only unix:// DOCKER_HOST values are supported here (got $host)" >&2
  exit 1
fi
sock=${host#unix://}

api() {
  curl --silent --show-error --fail --unix-socket "$sock" "$@"
}

if api "http://localhost/images/$image/json" >/dev/null 2>&1; then
  echo "image $image already present" >&2
  exit 0
fi
# A dynamically linked busybox would need the host's libc inside the image.
if command -v ldd >/dev/null && [[ $(ldd "$busybox" 2>&1 || true) != *"not a dynamic executable"* ]]; then
  echo "error: $busybox is not a static binary (install busybox-static)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,tmp,workspace,etc,root}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
"$rootfs/bin/busybox" --install -s "$rootfs/bin"
# --install -s links to the absolute path it ran from; point them at /bin/busybox inside the image.
for link in "$rootfs"/bin/*; do
  [[ -L $link ]] && ln -sf /bin/busybox "$link"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"
tar -C "$rootfs" --numeric-owner -cf "$work/rootfs.tar" .

repo=${image%:*}
tag=${image##*:}
[[ $repo == "$image" ]] && tag=latest
api -X POST -H "Content-Type: application/x-tar" --data-binary "@$work/rootfs.tar" \
  "http://localhost/images/create?fromSrc=-&repo=$repo&tag=$tag" >/dev/null
echo "built $image from $busybox" >&2
