#!/usr/bin/env bash
# Test certificates for the TLS tests (unit and interop), made fresh with the
# openssl command into the directory given (nothing secret is committed):
#   ca.pem                the CA clients and the server trust
#   server-cert.pem/-key  localhost and 127.0.0.1, signed by ca
#   server2-cert.pem/-key another key for the same names (reload tests)
#   wrong-cert.pem/-key   signed by ca, but for wrong.example only
#   alice-cert.pem/-key   client: subject O=Oslo,OU=shop,CN=alice, e-mail SAN
#   bob-cert.pem/-key     client: subject CN=bob, no SAN
#   mallory-cert.pem/-key client signed by other-ca (not trusted)
#   expired-cert.pem/-key client signed by ca, valid only in January 2020
#   route-cert.pem/-key   localhost and 127.0.0.1, serverAuth and clientAuth,
#                         signed by ca (route TLS: one certificate per server,
#                         presented both when accepting and when dialling)
#   other-route-cert.pem/-key  the same, signed by other-ca
set -euo pipefail
d=$1
mkdir -p "$d"
cd "$d"
[ -f .complete ] && exit 0
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # name subject
  key "$1-key.pem"
  openssl req -x509 -new -key "$1-key.pem" -subj "$2" -days 3650 -sha256 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$1.pem" 2>/dev/null
}
leaf() { # name subject ext issuer
  key "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "$2" -out "$1.csr" 2>/dev/null
  printf '%b' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4-key.pem" -set_serial "0x$(openssl rand -hex 8)" \
    -days 3650 -sha256 -extfile "$1.ext" -out "$1-cert.pem" 2>/dev/null
}
ca ca "/O=Fjord Test/CN=Fjord Test CA"
ca other-ca "/O=Somebody Else/CN=Other CA"
server_ext='subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
client_ext='extendedKeyUsage=clientAuth\n'
leaf server "/CN=localhost" "$server_ext" ca
leaf server2 "/CN=localhost" "$server_ext" ca
leaf wrong "/CN=wrong.example" 'subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n' ca
leaf alice "/O=Oslo/OU=shop/CN=alice" "subjectAltName=email:alice@shop.example\n$client_ext" ca
leaf bob "/CN=bob" "$client_ext" ca
leaf mallory "/CN=mallory" "$client_ext" other-ca
route_ext='subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n'
leaf route "/CN=route" "$route_ext" ca
leaf other-route "/CN=other-route" "$route_ext" other-ca

# `openssl x509 -req` cannot backdate; `openssl ca` can.
key expired-key.pem
openssl req -new -key expired-key.pem -subj "/CN=expired" -out expired.csr 2>/dev/null
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca.cnf <<'CNF'
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
x509_extensions = client
[any]
commonName = supplied
[client]
extendedKeyUsage = clientAuth
CNF
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca-key.pem -in expired.csr \
  -startdate 20200101000000Z -enddate 20200102000000Z -notext -out expired-cert.pem 2>/dev/null
touch .complete
