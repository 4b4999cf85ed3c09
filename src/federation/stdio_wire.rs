//! The stdio transport to an upstream: a child process the gateway starts, speaking newline-delimited JSON-RPC
//! on its stdin and stdout (the MCP stdio transport).
//!
//! [`Wire::open`] starts the process with an environment that is only the spec's `env` (rendered) plus the
//! gateway's `PATH`, so that `python3` or `npx` resolve; nothing else of the gateway's environment (its keys, its
//! database URLs) reaches the child, and a `PATH` in the spec's `env` wins. One writer task feeds stdin from a
//! bounded queue; stdout is read line by line, each line at most `max_answer_bytes` (a longer one stops the
//! process: it would otherwise be memory held without end), and a line that is not JSON (a banner) is logged and
//! skipped. Stderr lines go to the gateway's log (field `upstream`, each cut at [`STDERR_LINE_BYTES`], the
//! `env` values masked). When stdout ends or the process exits, the inbox gets [`Inbound::Closed`] with the exit
//! status, and the link starts a new process with backoff. [`Wire::close`] ends stdin, waits
//! [`EXIT_GRACE`] for the process to exit, kills it otherwise, and reaps it.

use std::fmt;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::connection::unavailable;
use super::wire::{Inbound, Inbox, Wire, WireError, WireFuture};
use crate::error::{ErrorCode, GatewayError};

/// How long a process may take to exit once its stdin is closed (and to drain its stdout once it exited).
pub const EXIT_GRACE: Duration = Duration::from_secs(2);
/// Longest stderr line logged; the rest of a longer line is dropped.
pub const STDERR_LINE_BYTES: usize = 4096;
/// Messages waiting for the writer task.
const STDIN_QUEUE: usize = 64;
/// `env` values shorter than this are not masked in stderr lines (masking `1` would garble every line).
const MASKED_MIN_CHARS: usize = 4;

/// A child process upstream.
pub struct StdioWire {
    upstream: String,
    command: String,
    args: Vec<String>,
    /// The spec's `env`, rendered: the child's whole environment with `PATH`. Values never logged.
    env: Vec<(String, String)>,
    max_line: usize,
    running: Mutex<Option<Running>>,
}

impl fmt::Debug for StdioWire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioWire")
            .field("upstream", &self.upstream)
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The process of one connection. Dropping it ends stdin and lets the process go: [`EXIT_GRACE`] to exit,
/// then it is killed.
#[derive(Debug)]
struct Running {
    stdin: mpsc::Sender<Vec<u8>>,
    /// Fires once the process is reaped.
    reaped: oneshot::Receiver<()>,
    _release: DropGuard,
}

impl StdioWire {
    /// `env` is the spec's, rendered; `max_line` bounds each stdout line.
    #[must_use]
    pub fn new(upstream: &str, command: &str, args: &[String], env: Vec<(String, String)>, max_line: u64) -> Self {
        Self {
            upstream: upstream.to_owned(),
            command: command.to_owned(),
            args: args.to_vec(),
            env,
            max_line: usize::try_from(max_line).unwrap_or(usize::MAX),
            running: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn spawn(&self, inbox: Inbox) -> Result<Running, GatewayError> {
        let mut command = Command::new(&self.command);
        command
            .args(&self.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command.envs(self.env.iter().map(|(name, value)| (name, value)));
        let mut child = command.spawn().map_err(|e| {
            unavailable(&self.upstream, &format!("cannot start `{}`: {e}", self.command))
                .retryable(e.kind() != std::io::ErrorKind::NotFound)
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(GatewayError::internal("starting an upstream process", &"its pipes were not made"));
        };
        tracing::info!(upstream = %self.upstream, pid = child.id(), command = %self.command, "upstream process started");
        let (queue, queued) = mpsc::channel(STDIN_QUEUE);
        let exited = CancellationToken::new();
        tokio::spawn(write_stdin(self.upstream.clone(), stdin, queued, exited.clone()));
        let masks: Vec<String> =
            self.env.iter().map(|(_, v)| v.clone()).filter(|v| v.chars().count() >= MASKED_MIN_CHARS).collect();
        tokio::spawn(log_stderr(self.upstream.clone(), stderr, masks));
        let released = CancellationToken::new();
        let (done, reaped) = oneshot::channel();
        let supervisor = Supervisor {
            upstream: self.upstream.clone(),
            max_line: self.max_line,
            inbox: Closing { inbox, closed: AtomicBool::new(false) },
        };
        tokio::spawn(supervisor.run(child, stdout, released.clone(), exited.drop_guard(), done));
        Ok(Running { stdin: queue, reaped, _release: released.drop_guard() })
    }

    async fn write(&self, message: Value, deadline: Instant) -> Result<(), WireError> {
        let Some(stdin) = self.lock().as_ref().map(|r| r.stdin.clone()) else {
            return Err(unavailable(&self.upstream, "its process is not running").into());
        };
        let mut line = serde_json::to_vec(&message)
            .map_err(|e| GatewayError::internal("encoding a message to an upstream", &e))?;
        line.push(b'\n');
        match tokio::time::timeout_at(deadline.into(), stdin.send(line)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(unavailable(&self.upstream, "its process is not running").into()),
            Err(_) => Err(GatewayError::new(
                ErrorCode::Timeout,
                format!("upstream `{}` did not read its stdin in time", self.upstream),
            )
            .retryable(true)
            .into()),
        }
    }

    /// End stdin, give the process [`EXIT_GRACE`] to exit, kill it otherwise; returns once it is reaped.
    async fn stop(&self) {
        let Some(running) = self.lock().take() else { return };
        let reaped = running.release();
        if tokio::time::timeout(EXIT_GRACE * 2, reaped).await.is_err() {
            tracing::warn!(upstream = %self.upstream, "upstream process not reaped after being killed");
        }
    }
}

impl Running {
    /// Let the process go; the receiver fires once it is reaped.
    fn release(self) -> oneshot::Receiver<()> {
        self.reaped
    }
}

impl Wire for StdioWire {
    fn open(&self, inbox: Inbox) -> WireFuture<'_, Result<(), GatewayError>> {
        Box::pin(async move {
            self.stop().await;
            let running = self.spawn(inbox)?;
            *self.lock() = Some(running);
            Ok(())
        })
    }

    fn send(&self, message: Value, deadline: Instant) -> WireFuture<'_, Result<Option<Value>, WireError>> {
        Box::pin(async move { self.write(message, deadline).await.map(|()| None) })
    }

    fn negotiated(&self, _version: Option<&str>) {}

    fn close(&self) -> WireFuture<'_, ()> {
        Box::pin(self.stop())
    }
}

/// The inbox, closed once.
struct Closing {
    inbox: Inbox,
    closed: AtomicBool,
}

impl Closing {
    async fn close(&self, reason: String) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            let _ = self.inbox.send(Inbound::Closed(reason)).await;
        }
    }
}

/// Owns the child: reads its stdout into the inbox, and reaps it however it ends.
struct Supervisor {
    upstream: String,
    max_line: usize,
    inbox: Closing,
}

/// Why stdout stopped being read.
enum StdoutEnd {
    /// End of file, or a read error.
    Ended,
    /// A line longer than the bound.
    TooLong,
    /// Nobody reads the inbox any more.
    Unread,
}

impl Supervisor {
    /// Until the process is reaped; then `exited` is dropped (the writer stops: sends fail at once).
    async fn run(
        self,
        mut child: Child,
        stdout: ChildStdout,
        released: CancellationToken,
        exited: DropGuard,
        done: oneshot::Sender<()>,
    ) {
        let reading = self.read_stdout(stdout);
        tokio::pin!(reading);
        let reason = tokio::select! {
            end = &mut reading => match end {
                StdoutEnd::TooLong => {
                    let (status, _) = reap(&mut child, Duration::ZERO).await;
                    format!("the process wrote a line longer than {} bytes and was stopped ({status})", self.max_line)
                }
                StdoutEnd::Ended | StdoutEnd::Unread => match reap(&mut child, EXIT_GRACE).await {
                    (status, false) => format!("the process exited ({status})"),
                    (status, true) => format!("the process closed its stdout and was stopped ({status})"),
                },
            },
            status = child.wait() => {
                // What it wrote before exiting still counts (a child it left may hold stdout open: bounded).
                let _ = tokio::time::timeout(EXIT_GRACE, &mut reading).await;
                format!("the process exited ({})", describe(status.ok()))
            }
            () = released.cancelled() => {
                let (status, _) = reap(&mut child, EXIT_GRACE).await;
                format!("the gateway stopped the process ({status})")
            }
        };
        drop(exited);
        tracing::warn!(upstream = %self.upstream, %reason, "upstream process ended");
        self.inbox.close(reason).await;
        let _ = done.send(());
    }

    async fn read_stdout(&self, stdout: ChildStdout) -> StdoutEnd {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match next_line(&mut reader, &mut line, self.max_line).await {
                Ok(Line::Full) => {}
                Ok(Line::TooLong) => return StdoutEnd::TooLong,
                Ok(Line::End) => return StdoutEnd::Ended,
                Err(e) => {
                    tracing::debug!(upstream = %self.upstream, error = %e, "reading an upstream process's stdout failed");
                    return StdoutEnd::Ended;
                }
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Value>(&line) {
                Ok(message) => {
                    let inbound = Inbound::Message { message, on_request: None };
                    if self.inbox.inbox.send(inbound).await.is_err() {
                        return StdoutEnd::Unread;
                    }
                }
                Err(_) => {
                    let excerpt: String = String::from_utf8_lossy(&line).chars().take(200).collect();
                    tracing::info!(upstream = %self.upstream, line = %excerpt, "an upstream stdout line is not JSON; skipped");
                }
            }
        }
    }
}

/// Wait up to `grace` for the child to exit, then kill it: its status once reaped, described, and whether it
/// had to be killed.
async fn reap(child: &mut Child, grace: Duration) -> (String, bool) {
    if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
        return (describe(status.ok()), false);
    }
    let _ = child.start_kill();
    (describe(child.wait().await.ok()), true)
}

fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => status.to_string(),
        None => "its status is unknown".into(),
    }
}

/// The writer task: every queued line to stdin, in order, until the queue's senders are gone (stdin then
/// closes) or the process exited.
async fn write_stdin(
    upstream: String,
    mut stdin: ChildStdin,
    mut queued: mpsc::Receiver<Vec<u8>>,
    exited: CancellationToken,
) {
    loop {
        let line = tokio::select! {
            line = queued.recv() => line,
            () = exited.cancelled() => None,
        };
        let Some(line) = line else { return };
        let written = async {
            stdin.write_all(&line).await?;
            stdin.flush().await
        };
        if let Err(e) = written.await {
            tracing::debug!(%upstream, error = %e, "writing to an upstream process's stdin failed");
            return;
        }
    }
}

/// Stderr lines to the gateway's log, each cut at [`STDERR_LINE_BYTES`], the `env` values masked.
async fn log_stderr(upstream: String, stderr: ChildStderr, masks: Vec<String>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        let cut = match next_line(&mut reader, &mut line, STDERR_LINE_BYTES).await {
            Ok(Line::Full) => false,
            Ok(Line::TooLong) => true,
            Ok(Line::End) | Err(_) => return,
        };
        let mut text = String::from_utf8_lossy(&line).trim_end().to_owned();
        for secret in &masks {
            text = text.replace(secret.as_str(), "***");
        }
        tracing::info!(%upstream, line = %text, cut, "upstream stderr");
        if cut && !matches!(skip_line(&mut reader).await, Ok(true)) {
            return;
        }
    }
}

/// How reading one line ended.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A line (without its newline), or the last bytes before the end.
    Full,
    /// The line grew past the bound; `line` holds its first `max` bytes, the rest is unread.
    TooLong,
    /// The end, with no bytes.
    End,
}

/// Read one `\n`-terminated line into `line`, at most `max` bytes of it.
async fn next_line<R: AsyncBufRead + Unpin>(reader: &mut R, line: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(if line.is_empty() { Line::End } else { Line::Full });
        }
        let newline = buffer.iter().position(|b| *b == b'\n');
        let take = newline.unwrap_or(buffer.len());
        if line.len() + take > max {
            let room = max - line.len();
            line.extend_from_slice(&buffer[..room]);
            reader.consume(room);
            return Ok(Line::TooLong);
        }
        line.extend_from_slice(&buffer[..take]);
        match newline {
            Some(at) => {
                reader.consume(at + 1);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Full);
            }
            None => reader.consume(take),
        }
    }
}

/// Drop the rest of a line; `false` at the end of the stream.
async fn skip_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<bool> {
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(false);
        }
        if let Some(at) = buffer.iter().position(|b| *b == b'\n') {
            reader.consume(at + 1);
            return Ok(true);
        }
        let all = buffer.len();
        reader.consume(all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], max: usize) -> Vec<(Line, String)> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let end = next_line(&mut reader, &mut line, max).await.unwrap();
            if end == Line::End {
                return out;
            }
            let too_long = end == Line::TooLong;
            out.push((end, String::from_utf8(line).unwrap()));
            if too_long {
                assert!(skip_line(&mut reader).await.unwrap() || reader.fill_buf().await.unwrap().is_empty());
            }
        }
    }

    #[tokio::test]
    async fn lines_are_split_across_reads_and_bounded() {
        let lines = lines_of(b"{\"a\":1}\r\nbanner\n\n0123456789abcdef\nlast", 10).await;
        assert_eq!(
            lines,
            [
                (Line::Full, "{\"a\":1}".into()),
                (Line::Full, "banner".into()),
                (Line::Full, String::new()),
                (Line::TooLong, "0123456789".into()),
                (Line::Full, "last".into()),
            ]
        );
    }

    fn wire(command: &str, args: &[&str], env: &[(&str, &str)]) -> StdioWire {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let env = env.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        StdioWire::new("test", command, &args, env, 1024)
    }

    async fn next(inbound: &mut mpsc::Receiver<Inbound>) -> Inbound {
        tokio::time::timeout(Duration::from_secs(10), inbound.recv()).await.expect("in time").expect("a message")
    }

    #[tokio::test]
    async fn a_child_answers_line_by_line_and_skips_banners() {
        let wire = wire("sh", &["-c", "echo 'a banner'; while read -r line; do echo \"$line\"; done"], &[]);
        let (inbox, mut inbound) = mpsc::channel(8);
        wire.open(inbox).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        wire.send(serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {}}), deadline).await.unwrap();
        match next(&mut inbound).await {
            Inbound::Message { message, on_request } => {
                assert_eq!(message["id"], 1);
                assert_eq!(on_request, None);
            }
            Inbound::Closed(reason) => panic!("closed: {reason}"),
        }
        wire.close().await;
        assert!(matches!(next(&mut inbound).await, Inbound::Closed(_)));
    }

    #[tokio::test]
    async fn the_environment_is_only_env_and_path() {
        let wire = wire(
            "sh",
            &["-c", "printf '{\"env\":\"%s\"}\\n' \"$(env | cut -d= -f1 | sort | tr '\\n' ' ')\""],
            &[("ONLY_THIS", "value")],
        );
        let (inbox, mut inbound) = mpsc::channel(8);
        wire.open(inbox).await.unwrap();
        let Inbound::Message { message, .. } = next(&mut inbound).await else { panic!("closed before answering") };
        let names: Vec<&str> = message["env"].as_str().unwrap().split_whitespace().collect();
        // `sh` itself sets PWD (and some shells SHLVL / `_`); nothing comes from the test's environment.
        let from_shell = ["PWD", "SHLVL", "_", "OLDPWD"];
        let rest: Vec<&str> = names.iter().copied().filter(|n| !from_shell.contains(n)).collect();
        assert_eq!(rest, ["ONLY_THIS", "PATH"], "{names:?}");
    }

    #[tokio::test]
    async fn an_exit_closes_the_wire_with_the_status() {
        let wire = wire("sh", &["-c", "exit 3"], &[]);
        let (inbox, mut inbound) = mpsc::channel(8);
        wire.open(inbox).await.unwrap();
        let Inbound::Closed(reason) = next(&mut inbound).await else { panic!("a message from a silent child") };
        assert!(reason.contains("exit status: 3"), "{reason}");
        let refused = wire.send(serde_json::json!({}), Instant::now() + Duration::from_secs(1)).await;
        assert!(matches!(refused, Err(WireError::Failed(e)) if e.code == ErrorCode::UpstreamUnavailable));
    }

    #[tokio::test]
    async fn a_line_past_the_bound_stops_the_process() {
        let wire = wire("sh", &["-c", "head -c 5000 /dev/zero | tr '\\0' 'x'; echo; exec sleep 30"], &[]);
        let (inbox, mut inbound) = mpsc::channel(8);
        wire.open(inbox).await.unwrap();
        let Inbound::Closed(reason) = next(&mut inbound).await else { panic!("the long line was delivered") };
        assert!(reason.contains("longer than 1024 bytes"), "{reason}");
    }

    #[tokio::test]
    async fn close_kills_a_child_that_ignores_its_stdin() {
        let wire = wire("sh", &["-c", "trap '' TERM; exec sleep 30"], &[]);
        let (inbox, mut inbound) = mpsc::channel(8);
        wire.open(inbox).await.unwrap();
        let started = Instant::now();
        wire.close().await;
        assert!(started.elapsed() < EXIT_GRACE * 2, "close is bounded: {:?}", started.elapsed());
        let Inbound::Closed(reason) = next(&mut inbound).await else { panic!("a message from a silent child") };
        assert!(reason.contains("stopped"), "{reason}");
    }

    #[test]
    fn debug_shows_env_names_not_values() {
        let wire = wire("server", &[], &[("TOKEN", "s3cr3t-value")]);
        let shown = format!("{wire:?}");
        assert!(shown.contains("TOKEN") && !shown.contains("s3cr3t-value"), "{shown}");
    }
}
