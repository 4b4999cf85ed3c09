//! A throwaway `redis-server` (Debian's, which scripts/test.sh installs) for the tests of state shared through
//! Redis: started on a free loopback port, ready when it answers PING itself, killed when dropped.

use std::process::{Child, Command, Stdio};

use mcp_gateway::config::Secret;
use tempfile::TempDir;

use super::poll_until;

/// A throwaway `redis-server` on loopback, no persistence; killed when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl RedisServer {
    /// On a free port; on a lost race for it (the server exits), again on another, at most 3 times.
    pub async fn start() -> Self {
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if let Some(server) = Self::try_start_on(port).await {
                return server;
            }
        }
        panic!("redis-server could not start on a free port three times");
    }

    pub async fn start_on(port: u16) -> Self {
        Self::try_start_on(port).await.unwrap_or_else(|| panic!("redis-server could not start on port {port}"))
    }

    /// `None` when the server exits before it answers (its port was taken meanwhile).
    async fn try_start_on(port: u16) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            // `DEBUG SLEEP` from loopback: a Redis that stops answering for a while, keys kept.
            .args(["--enable-debug-command", "local"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs Debian's redis-server)");
        let mut server = Self { child, port, _dir: dir };
        // Ready when this very process answers PING: whoever else might hold the port, it is not a Redis of ours.
        let ready = poll_until("redis-server answers PING or exits", || {
            let exited = server.child.try_wait().ok().flatten().is_some();
            async move {
                if exited {
                    return Some(false);
                }
                pong(port).await.then_some(true)
            }
        })
        .await;
        ready.then_some(server)
    }

    /// Stop answering for `seconds` (`DEBUG SLEEP`), as a Redis that stalls does; its keys stay, and expire on
    /// their clock meanwhile. Returns when Redis answers again; the test's other tasks run on meanwhile.
    pub async fn stall(&self, seconds: u32) {
        let port = self.port;
        let status = tokio::task::spawn_blocking(move || {
            Command::new("redis-cli")
                .args(["-p", &port.to_string(), "DEBUG", "SLEEP", &seconds.to_string()])
                .stdout(Stdio::null())
                .status()
        })
        .await
        .unwrap()
        .expect("redis-cli is installed with redis-server");
        assert!(status.success(), "DEBUG SLEEP failed");
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> Secret {
        Secret::from_setting(Some(format!("redis://127.0.0.1:{}/", self.port))).unwrap()
    }

    pub fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Does a Redis server answer PING on `port`?
async fn pong(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return false };
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").await.is_ok()
        && stream.read_exact(&mut answer).await.is_ok()
        && &answer == b"+PONG\r\n"
}

impl RedisServer {
    /// How many connections listen on `channel` (PUBSUB NUMSUB), so a test can wait for every replica to listen.
    pub async fn subscribers(&self, channel: &str) -> Option<u64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
        stream.write_all(format!("PUBSUB NUMSUB {channel}\r\n").as_bytes()).await.ok()?;
        let mut answer = vec![0u8; 256];
        let read = stream.read(&mut answer).await.ok()?;
        // `*2 $len channel :count`: the count is the last line.
        let text = String::from_utf8_lossy(&answer[..read]).into_owned();
        text.lines().last()?.strip_prefix(':')?.trim().parse().ok()
    }
}
