#!/usr/bin/env bash
# tests/tls/make-certs.sh DIR - the certificates the TLS tests need, made fresh with the
# openssl command (EC P-256 keys: quick to make, even under a loaded machine):
#   ca.crt/.key          the test CA
#   server.crt/.key      signed by the CA for localhost, 127.0.0.1 and ::1
#   wronghost.crt/.key   signed by the CA for wrong.example only (host-name mismatch)
#   selfsigned.crt/.key  for localhost and 127.0.0.1, but signed by itself (untrusted chain)
#   client.crt/.key      a client certificate signed by the CA (clientAuth)
#   capath/              ca.crt under its subject-hash name (for --capath / tls_ca_path)
# Valid for two days. Prints nothing on success; fails loudly.
set -eu
dir=$1
mkdir -p "$dir/capath"
cd "$dir"
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; }
ext() { # name: an extension file for a leaf certificate
    case $1 in
    server)     printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' ;;
    wronghost)  printf 'subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n' ;;
    selfsigned) printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' ;;
    client)     printf 'extendedKeyUsage=clientAuth\n' ;;
    esac
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
}
key ca
openssl req -x509 -new -key ca.key -days 2 -subj "/CN=mqttc test CA" -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
leaf() { # name common-name signer(ca|self)
    key "$1"
    ext "$1" >"$1.ext"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
    if [ "$3" = self ]; then
        openssl x509 -req -in "$1.csr" -signkey "$1.key" -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    else
        openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    fi
    rm -f "$1.csr" "$1.ext"
}
leaf server localhost ca
leaf wronghost wrong.example ca
leaf selfsigned localhost self
leaf client mqttc-client ca
cp ca.crt "capath/$(openssl x509 -noout -subject_hash -in ca.crt).0"
