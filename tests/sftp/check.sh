#!/usr/bin/env bash
# The SFTP copy of generated media (seed 004's STORAGE_FTP_ENABLED) against a real OpenSSH server.
#
#   tests/sftp/check.sh GATEWAY_BIN FAKE_HIGGSFIELD_BIN
#
# Runs as root (it adds a scratch user). Installs Debian's `openssh-server` when /usr/sbin/sshd is missing (apt;
# the package's own service is never started), then starts /usr/sbin/sshd -D with a config of its own on a free
# 127.0.0.1 port: a fresh ed25519 host key, password login for a scratch user with a random password (removed
# on exit), `internal-sftp` only. The fakes (examples/fake_higgsfield.rs, one serving a large image) and the
# gateways run on free loopback ports with LOG_LEVEL=debug. Checks: a generated image arrives under
# {FTP_BASE_DIR}/{project}/image/{file} with the local asset's bytes and links[] has both URLs (host key pinned
# by fingerprint, and by a known_hosts file; and with media on S3, s3s-fs, read back from the bucket); a wrong password and an untrusted host key complete the job with
# the local link and the upload error recorded; sshd killed mid-upload leaves the error recorded, the local asset
# intact and the gateway healthy; the password never appears in an answer, /admin/config or a gateway log.
# Prints PASS/FAIL lines and `sftp: N passed, M failed`; exits 1 on any failure. Logs go to target/sftp/.
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { printf 'sftp: %s\n' "$*" >&2; exit 1; }
[[ $# -eq 2 ]] || die "usage: $0 GATEWAY_BIN FAKE_HIGGSFIELD_BIN"
gateway_bin=$1 higgsfield_bin=$2
for bin in "$gateway_bin" "$higgsfield_bin"; do [[ -x $bin ]] || die "not an executable: $bin"; done
[[ $(id -u) -eq 0 ]] || die "must run as root: it adds a scratch user for the SFTP server"
python=${PYTHON:-python3}

if [[ ! -x /usr/sbin/sshd ]]; then
  apt-get update -qq
  # The package's service must not start: RUNLEVEL=1 for its init script, a policy-rc.d refusing every start.
  policy_added=false
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_added=true
  fi
  env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
    apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
  if $policy_added; then rm -f /usr/sbin/policy-rc.d; fi
fi

logs=target/sftp
mkdir -p "$logs"
rm -f "$logs"/*.log
tmp=$(mktemp -d)
chmod 755 "$tmp"
user="mcpsftp$$"
pids=()
sshd_pid=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if id "$user" >/dev/null 2>&1; then userdel "$user" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# free_port, wait_for WHAT URL LOG
source tests/check_lib.sh
# json EXPR: evaluate a Python expression over the JSON document on stdin (bound to `d`); prints the result.
json() { "$python" -c "import json,sys; d=json.load(sys.stdin); v=$1; print(v if isinstance(v,str) else json.dumps(v))"; }

passed=0 failed=0
results="$logs/results.log"
check() { # check NAME COMMAND...: PASS when the command succeeds
  local name=$1; shift
  if "$@"; then
    echo "PASS $name" | tee -a "$results"; passed=$((passed + 1))
  else
    echo "FAIL $name" | tee -a "$results"; failed=$((failed + 1))
  fi
}

# --- the SSH server ----------------------------------------------------------------------------------------
password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
home="$tmp/home"
useradd --home-dir "$home" --no-create-home --shell /usr/sbin/nologin "$user"
echo "$user:$password" | chpasswd
mkdir -p "$home"
chown "$user:" "$home"
ssh-keygen -q -t ed25519 -N '' -C 'sftp check host key' -f "$tmp/host_key"
ssh-keygen -q -t ed25519 -N '' -C 'some other key' -f "$tmp/other_key"
fingerprint=$(ssh-keygen -l -E sha256 -f "$tmp/host_key.pub" | cut -d' ' -f2)
other_fingerprint=$(ssh-keygen -l -E sha256 -f "$tmp/other_key.pub" | cut -d' ' -f2)
mkdir -p /run/sshd
chmod 755 /run/sshd

ssh_port=$(free_port)
printf '[127.0.0.1]:%s %s\n' "$ssh_port" "$(cut -d' ' -f1,2 "$tmp/host_key.pub")" >"$tmp/known_hosts"
cat >"$tmp/sshd_config" <<EOF
ListenAddress 127.0.0.1:$ssh_port
HostKey $tmp/host_key
PidFile none
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication no
PermitRootLogin no
AllowUsers $user
StrictModes no
MaxStartups 100:30:200
LogLevel VERBOSE
Subsystem sftp internal-sftp
ForceCommand internal-sftp
EOF
# OpenSSH 9.8+ penalises addresses whose logins fail; this check fails logins on purpose.
if /usr/sbin/sshd -t -f "$tmp/sshd_config" -o PerSourcePenalties=no 2>/dev/null; then
  echo "PerSourcePenalties no" >>"$tmp/sshd_config"
fi
/usr/sbin/sshd -t -f "$tmp/sshd_config" || die "sshd refuses the generated config"

start_sshd() {
  /usr/sbin/sshd -D -e -f "$tmp/sshd_config" >>"$logs/sshd.log" 2>&1 &
  sshd_pid=$!
  pids+=("$sshd_pid")
  for _ in $(seq 1 100); do
    if "$python" -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$ssh_port),1); sys.exit(0 if s.recv(4)==b'SSH-' else 1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  cat "$logs/sshd.log" >&2
  die "sshd did not answer on 127.0.0.1:$ssh_port"
}
start_sshd

# --- the fakes ---------------------------------------------------------------------------------------------
higgsfield_port=$(free_port)
"$higgsfield_bin" "127.0.0.1:$higgsfield_port" >"$logs/fake-higgsfield.log" 2>&1 &
pids+=("$!")
wait_for "the fake Higgsfield" "http://127.0.0.1:$higgsfield_port/files/probe.png" "$logs/fake-higgsfield.log"
big_bytes=$((256 * 1024 * 1024))
big_port=$(free_port)
FAKE_HIGGSFIELD_IMAGE_BYTES=$big_bytes "$higgsfield_bin" "127.0.0.1:$big_port" >"$logs/fake-higgsfield-big.log" 2>&1 &
pids+=("$!")
wait_for "the large-image fake Higgsfield" "http://127.0.0.1:$big_port/files/probe.png" "$logs/fake-higgsfield-big.log"

# --- gateways ----------------------------------------------------------------------------------------------
public_url="https://media.example.test/pub"
base_dir="$home/public"
# start_gateway NAME HIGGSFIELD_PORT [ENV=VALUE...]: a gateway on a free port with the SFTP copy on; sets
# ${NAME}_url.
start_gateway() {
  local name=$1 hf_port=$2; shift 2
  local port; port=$(free_port)
  mkdir -p "$tmp/data-$name"
  env GATEWAY_BIND="127.0.0.1:$port" GATEWAY_DATA_DIR="$tmp/data-$name" GATEWAY_TOOL_SPECS=tool_specs \
    LOG_LEVEL=debug HIGGSFIELD_BASE_URL="http://127.0.0.1:$hf_port" HF_KEY=interop-id:interop-secret \
    GATEWAY_JOB_POLL_INITIAL_MS=100 GATEWAY_JOB_POLL_MAX_MS=200 \
    STORAGE_FTP_ENABLED=true FTP_HOST=127.0.0.1 FTP_PORT="$ssh_port" FTP_USER="$user" FTP_PASSWORD="$password" \
    FTP_BASE_DIR="$base_dir" FTP_PUBLIC_BASE_URL="$public_url" GATEWAY_FTP_CONNECT_TIMEOUT_SECS=5 "$@" \
    "$gateway_bin" serve >"$logs/gateway-$name.log" 2>&1 &
  pids+=("$!")
  printf -v "${name}_url" '%s' "http://127.0.0.1:$port"
  wait_for "the gateway ($name)" "http://127.0.0.1:$port/health" "$logs/gateway-$name.log"
}

# generate GATEWAY_URL PROMPT WAIT: call higgsfield_image through the REST adapter; prints the job record.
generate() {
  curl -s "$1/mcp/tools/call" -H 'content-type: application/json' \
    -d "{\"tool_name\":\"higgsfield_image\",\"params\":{\"prompt\":\"$2\",\"project_name\":\"sftpcheck\",\"wait_for_completion\":$3}}" |
    json 'd["result"]'
}
# job_status GATEWAY_URL JOB_ID: the job record from check_job_status.
job_status() {
  curl -s "$1/mcp/tools/call" -H 'content-type: application/json' \
    -d "{\"tool_name\":\"check_job_status\",\"params\":{\"job_id\":\"$2\"}}" | json 'd["result"]'
}
field() { json "$1"; }

# uploaded NAME RECORD: the record's image is in the SFTP folder with the local bytes, and links[] holds the
# local /assets link and the public URL, in that order.
uploaded() {
  local name=$1 record=$2 file local_url
  file=$(field 'd["asset"]["file"]' <<<"$record")
  local_url=$(field 'd["url"]' <<<"$record")
  [[ $(field 'd["status"]' <<<"$record") == completed ]] || { echo "  not completed: $record"; return 1; }
  [[ $local_url == */assets/sftpcheck/image/"$file" ]] || { echo "  local url: $local_url"; return 1; }
  [[ $(field 'd["links"]' <<<"$record") == "[\"$local_url\", \"$public_url/sftpcheck/image/$file\"]" ]] ||
    { echo "  links: $(field 'd["links"]' <<<"$record")"; return 1; }
  [[ $(field 'd["upload_error"]' <<<"$record") == null ]] || { echo "  upload_error: $record"; return 1; }
  cmp -s "$tmp/data-$name/Media/sftpcheck/image/$file" "$base_dir/sftpcheck/image/$file" ||
    { echo "  remote file differs or is missing: $base_dir/sftpcheck/image/$file"; return 1; }
  [[ $(stat -c %U "$base_dir/sftpcheck/image/$file") == "$user" ]] || { echo "  not written by $user"; return 1; }
}

# kept_locally NAME RECORD CODE TEXT: completed, only the local link, the local file intact, and upload_error
# with CODE and a message containing TEXT.
kept_locally() {
  local name=$1 record=$2 code=$3 text=$4 file
  file=$(field 'd["asset"]["file"]' <<<"$record")
  [[ $(field 'd["status"]' <<<"$record") == completed ]] || { echo "  not completed: $record"; return 1; }
  [[ $(field 'len(d["links"])' <<<"$record") == 1 ]] || { echo "  links: $(field 'd["links"]' <<<"$record")"; return 1; }
  [[ $(field 'd["upload_error"]["code"]' <<<"$record") == "$code" ]] || { echo "  upload_error: $record"; return 1; }
  [[ $(field 'd["upload_error"]["message"]' <<<"$record") == *"$text"* ]] ||
    { echo "  message: $(field 'd["upload_error"]["message"]' <<<"$record")"; return 1; }
  [[ -s "$tmp/data-$name/Media/sftpcheck/image/$file" ]] || { echo "  local file missing"; return 1; }
  [[ ! -e "$base_dir/sftpcheck/image/$file" ]] || { echo "  uploaded anyway"; return 1; }
}

# The password as text, and as a Rust byte slice prints it (`[.., 112, 97, ..]`: how russh's debug lines
# would show the authentication packet).
password_bytes=$("$python" -c 'import sys; print(", ".join(str(b) for b in sys.argv[1].encode()))' "$password")
no_password_in() { ! grep -qF -e "$password" -e "$password_bytes" "$@"; }
login_lines() { grep -cE "(Accepted|Failed) password for" "$logs/sshd.log" || true; }

# 1. Host key pinned by fingerprint: the image is uploaded and linked.
start_gateway pinned "$higgsfield_port" FTP_HOST_KEY_SHA256="$fingerprint"
record=$(generate "$pinned_url" "sftp pinned" true)
echo "$record" >"$logs/pinned.json"
check "image uploaded to {FTP_BASE_DIR}/{project}/image/{file} with the local bytes, both links (fingerprint)" \
  uploaded pinned "$record"
job_id=$(field 'd["job_id"]' <<<"$record")
check "check_job_status returns the same links" \
  test "$(job_status "$pinned_url" "$job_id" | field 'd["links"]')" == "$(field 'd["links"]' <<<"$record")"
config=$(curl -s "$pinned_url/admin/config")
check "/admin/config shows the SFTP settings with the password as set" \
  test "$(field 'd["media"]["sftp"]["password"] + " " + d["media"]["sftp"]["user"]' <<<"$config")" == "set $user"
check "/admin/config does not contain the password" no_password_in <<<"$config"
# The connection-level debug lines of russh would print the authentication packet: they must not be logged.
check "the gateway log (LOG_LEVEL=debug) does not contain the password after a login" \
  no_password_in "$logs/gateway-pinned.log"

# 2. Host key trusted through a known_hosts file.
start_gateway known "$higgsfield_port" FTP_KNOWN_HOSTS="$tmp/known_hosts"
record=$(generate "$known_url" "sftp known hosts" true)
check "image uploaded and linked with the host key from FTP_KNOWN_HOSTS" uploaded known "$record"

# 2b. Media on S3-compatible storage (s3s-fs, which scripts/test.sh installs; S3S_FS_BIN names it): the SFTP copy
# reads the asset back from the bucket, nothing is stored in the local folder.
s3s_bin=${S3S_FS_BIN:-.cache/s3s/bin/s3s-fs}
[[ -x $s3s_bin ]] || die "s3s-fs is missing at $s3s_bin (scripts/test.sh installs it into .cache/s3s)"
s3_port=$(free_port)
mkdir -p "$tmp/s3/media"
"$s3s_bin" --host 127.0.0.1 --port "$s3_port" --access-key sftpcheck-access --secret-key sftpcheck-secret "$tmp/s3" \
  >"$logs/s3s-fs.log" 2>&1 &
pids+=("$!")
wait_for "s3s-fs" "http://127.0.0.1:$s3_port/media" "$logs/s3s-fs.log"
start_gateway bucket "$higgsfield_port" FTP_HOST_KEY_SHA256="$fingerprint" GATEWAY_MEDIA_URL=s3://media/gw \
  AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" AWS_ACCESS_KEY_ID=sftpcheck-access AWS_SECRET_ACCESS_KEY=sftpcheck-secret
# from_bucket RECORD: completed, no upload error, the SFTP file has the bucket object's bytes, no local media.
from_bucket() {
  local record=$1 file
  file=$(field 'd["asset"]["file"]' <<<"$record")
  [[ $(field 'd["status"]' <<<"$record") == completed ]] || { echo "  not completed: $record"; return 1; }
  [[ $(field 'd["upload_error"]' <<<"$record") == null ]] || { echo "  upload_error: $record"; return 1; }
  [[ $(field 'len(d["links"])' <<<"$record") == 2 ]] || { echo "  links: $(field 'd["links"]' <<<"$record")"; return 1; }
  [[ -s "$tmp/s3/media/gw/sftpcheck/image/$file" ]] || { echo "  not in the bucket"; return 1; }
  cmp -s "$tmp/s3/media/gw/sftpcheck/image/$file" "$base_dir/sftpcheck/image/$file" ||
    { echo "  remote file differs from the object or is missing"; return 1; }
  [[ -z $(find "$tmp/data-bucket/Media" -type f 2>/dev/null) ]] || { echo "  media stored locally too"; return 1; }
}
record=$(generate "$bucket_url" "sftp from the bucket" true)
echo "$record" >"$logs/bucket.json"
check "with media on S3 the image is uploaded over SFTP from the bucket object, nothing stored locally" \
  from_bucket "$record"

# 3. A wrong password: the job completes with its local link and the refusal recorded.
start_gateway wrongpw "$higgsfield_port" FTP_HOST_KEY_SHA256="$fingerprint" FTP_PASSWORD="wrong-$password"
record=$(generate "$wrongpw_url" "sftp wrong password" true)
echo "$record" >"$logs/wrongpw.json"
check "a refused login completes the job with the local link and records the upload error" \
  kept_locally wrongpw "$record" upstream_error "refused the password login of \`$user\`"
# The wrong password contains the right one, so this looks for both.
check "neither the answer nor the gateway log of a refused login contains a password" \
  no_password_in "$logs/wrongpw.json" "$logs/gateway-wrongpw.log"

# 4. A host key that is not the pinned one: refused before the login, recorded with the key seen.
start_gateway otherkey "$higgsfield_port" FTP_HOST_KEY_SHA256="$other_fingerprint"
logins_before=$(login_lines)
record=$(generate "$otherkey_url" "sftp other key" true)
echo "$record" >"$logs/otherkey.json"
check "an untrusted host key is refused and recorded with the server's fingerprint" \
  kept_locally otherkey "$record" upstream_error "presented the host key $fingerprint, which is not trusted"
check "no login was attempted with an untrusted host key" test "$(login_lines)" -eq "$logins_before"

# 5. sshd killed mid-upload: the error is recorded, the local asset intact, the gateway serves on.
start_gateway killed "$big_port" FTP_HOST_KEY_SHA256="$fingerprint"
record=$(generate "$killed_url" "sftp killed" false)
job_id=$(field 'd["job_id"]' <<<"$record")
part=
for _ in $(seq 1 600); do
  part=$(find "$base_dir/sftpcheck/image" -name '.*.part' -size +0 2>/dev/null | head -1)
  [[ -n $part ]] && break
  sleep 0.05
done
if [[ -z $part ]]; then
  check "the large upload started (no .part file appeared)" false
else
  # Freeze the server and every session process, look at what arrived, then kill them all.
  descendants() { local child; for child in $(pgrep -P "$1"); do echo "$child"; descendants "$child"; done; }
  victims=("$sshd_pid" $(descendants "$sshd_pid"))
  kill -STOP "${victims[@]}" 2>/dev/null || true
  arrived=$(stat -c %s "$part")
  kill -KILL "${victims[@]}" 2>/dev/null || true
  wait "$sshd_pid" 2>/dev/null || true
  echo "  killed sshd and ${#victims[@]} process(es) with $arrived of $big_bytes bytes written"
  check "sshd was killed in the middle of the upload" test "$arrived" -lt "$big_bytes"
  for _ in $(seq 1 300); do
    record=$(job_status "$killed_url" "$job_id")
    [[ $(field 'd["status"]' <<<"$record") == completed ]] && break
    sleep 0.1
  done
  echo "$record" >"$logs/killed.json"
  check "a server killed mid-upload completes the job with the local link and records the upload error" \
    kept_locally killed "$record" upstream_unavailable "the SFTP server 127.0.0.1:$ssh_port stopped answering while writing"
  file=$(field 'd["asset"]["file"]' <<<"$record")
  expected=$(curl -s "http://127.0.0.1:$big_port/files/x.png" | sha256sum | cut -d' ' -f1)
  check "the local asset is whole after the interrupted upload" \
    test "$(sha256sum <"$tmp/data-killed/Media/sftpcheck/image/$file" | cut -d' ' -f1)" == "$expected"
  check "the gateway is healthy after the server died" curl -fsS -o /dev/null "$killed_url/health"
  record=$(generate "$killed_url" "sftp after the kill" true)
  check "the next job completes with its local link while the server is gone" \
    kept_locally killed "$record" upstream_unavailable "could not be reached"
fi
check "no gateway log contains the password" no_password_in "$logs"/gateway-*.log
printf 'sftp: %d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
