#!/bin/sh
# Certificates for docker-compose.yml's mTLS to Temporal, made with openssl into deploy/compose/certs/
# (once; delete the folder to make new ones): a CA, the Temporal server's certificate (names temporal
# and localhost, serverAuth and clientAuth: Temporal's services show it to each other too) and a client
# certificate for Strata and the Temporal UI.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/certs"
if [ -f "$dir/client.pem" ]; then echo "certificates already in $dir"; exit 0; fi
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN=strata-compose-ca -keyout ca.key -out ca.pem 2>/dev/null
sign() {
  name=$1 ext=$2
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf '%s\n' "$ext" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
sign server "subjectAltName=DNS:temporal,DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth"
sign client "extendedKeyUsage=clientAuth"
# The containers run as other users than the one running this script.
chmod 644 ./*.pem ./*.key
rm -f ca.key ca.srl
echo "certificates made in $dir"
