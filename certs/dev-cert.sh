#!/usr/bin/env bash
# Makes a development CA and a server certificate signed by it (ECDSA P-256) for ProxySidecar.
#
#   certs/dev-cert.sh [NAME] [OUT_DIR]
#
# NAME     an extra DNS name for the certificate (default: proxysidecar.local); localhost and
#          127.0.0.1 are always included.
# OUT_DIR  where the files go (default: certs/out, git-ignored).
#
# Writes OUT_DIR/ca.crt, ca.key (the CA) and tls.crt (leaf + CA, as cert-manager writes it) and
# tls.key: the two files a kubernetes.io/tls secret holds. The CA is reused when it already exists,
# so clients that trust ca.crt keep trusting new server certificates. Run it with the sidecar:
#
#   Sidecar__Tls__CertificatePath=certs/out/tls.crt Sidecar__Tls__KeyPath=certs/out/tls.key \
#     dotnet run --project src/ProxySidecar
#   curl --cacert certs/out/ca.crt https://localhost:8443/
set -euo pipefail

name="${1:-proxysidecar.local}"
out="${2:-$(cd "$(dirname "$0")" && pwd)/out}"
days="${DEV_CERT_DAYS:-30}"

command -v openssl >/dev/null || { echo "dev-cert.sh: openssl is required" >&2; exit 1; }
mkdir -p "$out"
umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ ! -s "$out/ca.crt" ] || [ ! -s "$out/ca.key" ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/ca.key"
  openssl req -x509 -new -key "$out/ca.key" -sha256 -days 365 \
    -subj "/CN=ProxySidecar Development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$out/ca.crt"
fi

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/tls.key"
openssl req -new -key "$work/tls.key" -subj "/CN=$name" -out "$work/tls.csr"
cat > "$work/ext.cnf" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, DNS:$name, IP:127.0.0.1, IP:::1
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
EXT
openssl x509 -req -in "$work/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -CAserial "$work/ca.srl" -days "$days" -sha256 -extfile "$work/ext.cnf" -out "$work/leaf.crt" 2>/dev/null

# Leaf first, then the CA: what cert-manager puts in tls.crt. The key in PKCS#8 PEM.
cat "$work/leaf.crt" "$out/ca.crt" > "$work/tls.crt"
mv "$work/tls.key" "$out/tls.key"
mv "$work/tls.crt" "$out/tls.crt"
chmod 600 "$out/tls.key" "$out/ca.key"
chmod 644 "$out/tls.crt" "$out/ca.crt"

echo "CA:          $out/ca.crt"
echo "certificate: $out/tls.crt ($(openssl x509 -in "$out/tls.crt" -noout -subject | sed 's/^subject=//'), SANs localhost, $name, 127.0.0.1, ::1, $days days)"
echo "key:         $out/tls.key"
