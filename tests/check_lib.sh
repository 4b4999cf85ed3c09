# Shell helpers shared by the check scripts under tests/ (dashboards/check.sh, sftp/check.sh). Source it from the
# repository root after defining `die MESSAGE` and `python` (the interpreter to use).

# free_port: a free TCP port on 127.0.0.1.
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for WHAT URL LOG: poll URL until it answers (bounded: 15 s), else show LOG and fail.
wait_for() {
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "$2" && return 0
    sleep 0.1
  done
  cat "$3" >&2
  die "$1 did not answer at $2"
}
