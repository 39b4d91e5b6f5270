#!/usr/bin/env bash
# Starts a 3-of-5 Rampart cluster by hand on this host, exactly as README.md
# describes step by step: SoftHSM tokens, sealing keys, a cluster CA, TLS
# identities, the administrative token, five configuration files, a dealt set
# of validators, five signers, one signature through the cluster, and an
# administrative request with the operator's identity and token. Usage:
#   docs/manual-cluster.sh DIR      (DIR must not exist; needs bin/ from make build)
# Stop the signers with: kill $(cat DIR/pids)
#
# Ports, all on 127.0.0.1, from a base port B: coordinators B+1..B+5, signer 1's
# coordinator without TLS B+10, participants B+101..B+105, operations
# B+201..B+205. RAMPART_BASE_PORT sets B, and every port must then be free;
# without it the first free block of 9000, 10000, ... 19000 is taken. The ports
# chosen are written to DIR/ports.
set -euo pipefail
DIR=$(realpath -m "${1:?usage: $0 DIR}")
BIN=$(realpath "$(dirname "$0")/../bin")
MODULE=/usr/lib/softhsm/libsofthsm2.so

# in_use PORT: something accepts connections on 127.0.0.1:PORT.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# block_busy B: the first port of the block based at B that is taken, if any.
block_busy() {
  local p
  for p in $(seq "$(($1 + 1))" "$(($1 + 5))") "$(($1 + 10))" $(seq "$(($1 + 101))" "$(($1 + 105))") $(seq "$(($1 + 201))" "$(($1 + 205))"); do
    if in_use "$p"; then echo "$p"; return 0; fi
  done
  return 1
}
if [ -n "${RAMPART_BASE_PORT:-}" ]; then
  case $RAMPART_BASE_PORT in
    ''|*[!0-9]*) echo "RAMPART_BASE_PORT=$RAMPART_BASE_PORT is not a port number" >&2; exit 2 ;;
  esac
  if [ "$RAMPART_BASE_PORT" -lt 1024 ] || [ "$RAMPART_BASE_PORT" -gt 65000 ]; then
    echo "RAMPART_BASE_PORT=$RAMPART_BASE_PORT: give a base port from 1024 to 65000 (ports up to base+205 are used)" >&2; exit 2
  fi
  if busy=$(block_busy "$RAMPART_BASE_PORT"); then
    echo "port $busy (from RAMPART_BASE_PORT=$RAMPART_BASE_PORT) is in use; stop what holds it or choose another base" >&2; exit 1
  fi
  BASE=$RAMPART_BASE_PORT
else
  BASE=
  for b in $(seq 9000 1000 19000); do
    if ! block_busy "$b" >/dev/null; then BASE=$b; break; fi
  done
  [ -n "$BASE" ] || { echo "no free block of ports from 9000 to 19205; set RAMPART_BASE_PORT" >&2; exit 1; }
fi
COORD=$BASE PART=$((BASE + 100)) OPS=$((BASE + 200)) LOOPBACK=$((BASE + 10))

mkdir -p "$DIR/tokens" && cd "$DIR"
printf 'coordinators 127.0.0.1:%s-%s (signer 1 without TLS: 127.0.0.1:%s), participants %s-%s, operations %s-%s\n' \
  $((COORD + 1)) $((COORD + 5)) $LOOPBACK $((PART + 1)) $((PART + 5)) $((OPS + 1)) $((OPS + 5)) | tee ports

# 1. A private SoftHSM configuration with one token per signer and one for the CA.
cat > softhsm2.conf <<CONF
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF=$DIR/softhsm2.conf
for t in ca operator signer-1 signer-2 signer-3 signer-4 signer-5; do
  pin=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (umask 077; printf '%s' "$pin" > "$t.pin")
  softhsm2-util --init-token --free --label "$t" --so-pin "$pin-so" --pin "$pin" >/dev/null
done
uri() { echo "pkcs11:token=$1;object=$2?module-path=$MODULE&pin-source=file:$DIR/$1.pin"; }

# 2. The cluster CA, its key in the CA token; the operator's identity, its key in
#    the operator's token; the administrative token (the operator keeps it, every
#    signer gets only its verifier).
"$BIN/rampartctl" tls ca --key "$(uri ca rampart-ca)" --out ca.pem
"$BIN/rampartctl" tls issue --name operator --key "$(uri operator rampart-tls)" --ca-key "$(uri ca rampart-ca)" --ca-cert ca.pem --out operator.pem
VERIFIER=$(umask 077; "$BIN/rampartctl" admin token --out admin.token 2>/dev/null)
DUTIES="[AGGREGATION_SLOT, AGGREGATE_AND_PROOF_V2, ATTESTATION, BLOCK_V2, RANDAO_REVEAL, SYNC_COMMITTEE_MESSAGE, SYNC_COMMITTEE_SELECTION_PROOF, SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF, VALIDATOR_REGISTRATION]"

# 3. Per signer: sealing key, TLS identity, configuration.
for i in 1 2 3 4 5; do
  s=signer-$i
  "$BIN/rampartctl" hsm init --key "$(uri $s rampart-seal)"
  "$BIN/rampartctl" tls issue --name $s --key "$(uri $s rampart-tls)" --ca-key "$(uri ca rampart-ca)" --ca-cert ca.pem --out $s.pem
  mkdir -p $s/shares && chmod 700 $s
  (umask 077; echo "$VERIFIER" > $s.admin-token)
  {
    echo "node: {id: $i}"
    echo "network: {name: mainnet}"
    echo "data_dir: $DIR/$s"
    echo "hsm: {sealing_key: \"$(uri $s rampart-seal)\"}"
    echo "tls: {key: \"$(uri $s rampart-tls)\", certificate: $DIR/$s.pem, ca: $DIR/ca.pem}"
    echo "listen:"
    echo "  participant: 127.0.0.1:$((PART + i))"
    echo "  coordinator: 127.0.0.1:$((COORD + i))"
    echo "  operations: 127.0.0.1:$((OPS + i))"
    [ $i = 1 ] && echo "  coordinator_insecure_loopback: 127.0.0.1:$LOOPBACK"
    echo "cluster:"
    echo "  id: manual-cluster"
    echo "  participants:"
    for j in 1 2 3 4 5; do
      echo "    - {id: $j, endpoint: \"https://127.0.0.1:$((PART + j))\", tls_name: signer-$j}"
    done
    echo "authorization:"
    # The other signers: validator duties only (docs/threat-model.md).
    for j in 1 2 3 4 5; do [ $j != $i ] && echo "  - {client: signer-$j, accounts: all, types: $DUTIES}"; done
    echo "  - {client: local-validator-client, accounts: all, types: all}"
    echo "admin: {clients: [operator], token: \"file:$DIR/$s.admin-token\"}"
    echo "process: {hardening: best-effort}"
  } > $s.yaml
  "$BIN/rampart-signer" --config $s.yaml --check-config
done

# The cluster file rampartctl reads: endpoints, CA, the operator's identity and token.
{
  echo "network: {name: mainnet}"
  echo "cluster_id: manual-cluster"
  echo "ca: $DIR/ca.pem"
  echo "participants:"
  for j in 1 2 3 4 5; do
    echo "  - {id: $j, endpoint: \"https://127.0.0.1:$((PART + j))\", tls_name: signer-$j}"
  done
  echo "admin: {name: operator, certificate: $DIR/operator.pem, key: \"$(uri operator rampart-tls)\", token: \"file:$DIR/admin.token\"}"
} > cluster.yaml

# 4. Four validators, 3-of-5, dealt offline (development only; production uses DKG).
"$BIN/rampartctl" shares deal --config signer-1.yaml --config signer-2.yaml --config signer-3.yaml \
  --config signer-4.yaml --config signer-5.yaml --validators 4 --threshold 3 --accept-low-safety --out validators.txt

# 5. Start the five signers one after the other, each once the one before is
#    healthy: they share one SoftHSM token directory here, and SoftHSM's file
#    store does not take several processes opening it at the same moment
#    (real HSMs, or one token directory per signer, have no such limit).
: > pids
for i in 1 2 3 4 5; do
  "$BIN/rampart-signer" --config signer-$i.yaml > signer-$i.log 2>&1 &
  echo $! >> pids
  for _ in $(seq 100); do curl -fs http://127.0.0.1:$((OPS + i))/healthcheck >/dev/null && break; sleep 0.2; done
  curl -fs http://127.0.0.1:$((OPS + i))/healthcheck >/dev/null || { echo "signer-$i did not start"; cat signer-$i.log; exit 1; }
done

# 6. One attestation signed by the cluster, through signer 1's loopback listener.
KEY=$(head -n1 validators.txt)
EPOCH=$(( ($(date +%s) - 1606824023) / 384 ))
cat > attestation.json <<JSON
{"type":"ATTESTATION",
 "fork_info":{"fork":{"previous_version":"0x05000000","current_version":"0x06000000","epoch":"411392"},
              "genesis_validators_root":"0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"},
 "attestation":{"slot":"$((EPOCH * 32))","index":"0","beacon_block_root":"0x$(printf 'ab%.0s' $(seq 32))",
   "source":{"epoch":"$((EPOCH - 1))","root":"0x$(printf 'cd%.0s' $(seq 32))"},
   "target":{"epoch":"$EPOCH","root":"0x$(printf 'ef%.0s' $(seq 32))"}}}
JSON
curl -fsS -X POST -H 'Content-Type: application/json' --data @attestation.json http://127.0.0.1:$LOOPBACK/api/v1/eth2/sign/$KEY
echo

# 7. An administrative request: the operator's identity and token, checked by every signer
#    (nothing awaits destruction yet).
"$BIN/rampartctl" accounts removed --cluster cluster.yaml
