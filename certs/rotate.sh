#!/usr/bin/env bash
# Rotates a certificate the way kubelet updates a mounted secret, for local trials of live reload.
#
#   certs/rotate.sh MOUNT_DIR [CERT KEY]
#
# MOUNT_DIR is laid out like a secret volume:
#   MOUNT_DIR/..2026_11_26_04_17_11.123456789/tls.crt, tls.key   (one directory per version)
#   MOUNT_DIR/..data -> ..2026_11_26_04_17_11.123456789           (swapped atomically)
#   MOUNT_DIR/tls.crt -> ..data/tls.crt, MOUNT_DIR/tls.key -> ..data/tls.key   (never change)
# The first run creates the layout. Each run publishes a new version: CERT and KEY when given,
# otherwise a fresh pair from certs/dev-cert.sh (same CA). Point the sidecar at it:
#
#   certs/rotate.sh /tmp/tls
#   Sidecar__Tls__CertificatePath=/tmp/tls/tls.crt Sidecar__Tls__KeyPath=/tmp/tls/tls.key \
#     dotnet run --project src/ProxySidecar
#   certs/rotate.sh /tmp/tls     # again: new handshakes get the new certificate within ReloadInterval
set -euo pipefail

mount="${1:?usage: certs/rotate.sh MOUNT_DIR [CERT KEY]}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$mount"
mount="$(cd "$mount" && pwd)"

if [ $# -ge 3 ]; then
  cert="$2"; key="$3"
else
  "$here/dev-cert.sh" "${ROTATE_NAME:-proxysidecar.local}" "${ROTATE_OUT:-$here/out}" >/dev/null
  cert="${ROTATE_OUT:-$here/out}/tls.crt"; key="${ROTATE_OUT:-$here/out}/tls.key"
fi

# 1. The new version in its own timestamped directory (kubelet's format).
version="..$(date -u +%Y_%m_%d_%H_%M_%S).$(date -u +%N)"
umask 077
mkdir -m 755 "$mount/$version"
cp "$cert" "$mount/$version/tls.crt"
cp "$key" "$mount/$version/tls.key"
chmod 644 "$mount/$version/tls.crt"
chmod 600 "$mount/$version/tls.key"

# 2. Swap ..data in one step: a new link, renamed over the old one (rename(2) is atomic).
previous="$(readlink "$mount/..data" 2>/dev/null || true)"
ln -sfn "$version" "$mount/..data_tmp"
mv -T "$mount/..data_tmp" "$mount/..data"

# 3. The user-visible names point through ..data and are created once.
for file in tls.crt tls.key; do
  [ -L "$mount/$file" ] || ln -sfn "..data/$file" "$mount/$file"
done

# 4. The old version goes last, as kubelet does.
if [ -n "$previous" ] && [ "$previous" != "$version" ]; then
  rm -rf "${mount:?}/$previous"
fi

echo "$mount/..data -> $version ($(openssl x509 -in "$mount/tls.crt" -noout -fingerprint -sha256 | sed 's/.*=//'))"
