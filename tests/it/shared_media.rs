//! Stored media on S3-compatible storage (`GATEWAY_MEDIA_URL=s3://bucket/prefix`) against a real server:
//! `s3s-fs` (crates.io; scripts/test.sh installs it into `.cache/s3s`, `S3S_FS_BIN` names it), started by each
//! test on a free loopback port over a folder of its own. Two gateways with the same bucket: media stored by
//! one is served byte-identical by the other (and is an object in the server's folder, never a local file);
//! a missing object is a 404, traversal attempts are refused; with the server stopped `/assets` and `/ready`
//! answer 503 and a media job fails typed, and all recover when it returns; a bucket that never answers is a
//! typed timeout within the bounds, and a store S3 answers 503 once is tried again; refused credentials are a typed error that never shows the secret, in
//! answers or logs.

use crate::common;
use crate::media_fakes;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use common::{TestApp, api_key, bearer, poll_until, shipped_tool_specs};
use mcp_gateway::config::{Config, S3Settings};
use media_fakes::{FakeElevenLabs, FakeHiggsfield, MP3, PNG, asset_path, configure, fetch_asset, rest_call};
use serde_json::{Value, json};
use tempfile::TempDir;

const ACCESS_KEY: &str = "s3s-test-access-7c1d";
const SECRET_KEY: &str = "s3s-test-secret-4b9e2a";
const BUCKET: &str = "media";
const PREFIX: &str = "gw/prod";

/// The `s3s-fs` binary: `S3S_FS_BIN`, else where scripts/test.sh installs it.
fn s3s_fs_bin() -> PathBuf {
    std::env::var_os("S3S_FS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/s3s/bin/s3s-fs"))
}

/// A throwaway `s3s-fs` on loopback with the bucket `media` (a folder of its root); killed when dropped.
struct S3Server {
    child: Option<Child>,
    port: u16,
    root: TempDir,
}

impl S3Server {
    /// On a free port; on a lost race for it (the server exits), again on another, at most 3 times.
    async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let mut server = Self { child: None, port: 0, root };
        for _ in 0..3 {
            server.port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if server.run().await {
                return server;
            }
        }
        panic!("s3s-fs could not start on a free port three times");
    }

    /// Start the server on its port over its root; `false` when it exits before it answers.
    async fn run(&mut self) -> bool {
        let child = Command::new(s3s_fs_bin())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("s3s-fs must be installed ({}; scripts/test.sh installs it): {e}", s3s_fs_bin().display())
            });
        let child = self.child.insert(child);
        let port = self.port;
        let probe = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build().unwrap();
        // Ready when this very process answers S3 (an unsigned request is refused with an S3 error document).
        poll_until("s3s-fs answers or exits", || {
            let exited = child.try_wait().ok().flatten().is_some();
            let probe = probe.clone();
            async move {
                if exited {
                    return Some(false);
                }
                let answer = probe.get(format!("http://127.0.0.1:{port}/{BUCKET}")).send().await.ok()?;
                answer
                    .text()
                    .await
                    .ok()
                    .filter(|t| t.contains("<Error>") || t.contains("<ListBucketResult"))
                    .map(|_| true)
            }
        })
        .await
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn settings(&self, secret: &str) -> S3Settings {
        settings_at(self.port, secret)
    }

    /// The file `s3s-fs` keeps an object of the bucket in.
    fn object_file(&self, asset_path: &str) -> PathBuf {
        let relative = asset_path.trim_start_matches("/assets/");
        self.root.path().join(BUCKET).join(PREFIX).join(relative)
    }
}

/// The media bucket at `127.0.0.1:{port}`, signed with `secret`.
fn settings_at(port: u16, secret: &str) -> S3Settings {
    S3Settings {
        bucket: BUCKET.into(),
        prefix: PREFIX.into(),
        endpoint: format!("http://127.0.0.1:{port}"),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: secret.into(),
        timeout: Duration::from_secs(5),
        upload_timeout: Duration::from_secs(30),
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A gateway storing media in `s3` (with `secret`), calling the fake providers, with an admin key `ops`.
async fn replica(s3: &S3Server, secret: &str, elevenlabs: Option<&str>, higgsfield: Option<&str>) -> TestApp {
    let settings = s3.settings(secret);
    let (elevenlabs, higgsfield) = (elevenlabs.map(str::to_owned), higgsfield.map(str::to_owned));
    TestApp::spawn_with(&shipped_tool_specs(), move |config: &mut Config| {
        configure(config, elevenlabs.as_deref(), higgsfield.as_deref());
        config.media.s3 = Some(settings);
        config.security.keys = vec![api_key("ops", &["admin"], &[], &[])];
    })
    .await
}

async fn call(app: &TestApp, tool: &str, params: Value) -> (StatusCode, Value) {
    let body = json!({"tool_name": tool, "params": params});
    let response = app.post("/mcp/tools/call").header("authorization", bearer("ops")).json(&body).send().await.unwrap();
    (StatusCode::from_u16(response.status().as_u16()).unwrap(), response.json().await.unwrap())
}

async fn ready(app: &TestApp) -> (u16, Value) {
    let response = app.get("/ready").header("authorization", bearer("ops")).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Nothing of the media went to the local folder (the staging folder is empty once an upload is over).
fn assert_no_local_media(app: &TestApp) {
    let media = app.state.config.data_dir.join("Media");
    let entries: Vec<_> = walk(&media).into_iter().filter(|p| p.is_file()).collect();
    assert!(entries.is_empty(), "media files in the local folder: {entries:?}");
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    read.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

#[tokio::test]
async fn media_stored_by_one_replica_is_served_byte_identical_by_another() {
    let s3 = S3Server::start().await;
    let (_eleven, eleven_base) = FakeElevenLabs::start().await;
    let (_higgs, higgs_base) = FakeHiggsfield::start(1).await;
    let a = replica(&s3, SECRET_KEY, Some(&eleven_base), Some(&higgs_base)).await;
    let b = replica(&s3, SECRET_KEY, None, None).await;

    // Bytes in hand (ElevenLabs) go up in one PUT.
    let (status, body) = call(&a, "elevenlabs_voice", json!({"text": "shared", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["result"]["url"].as_str().unwrap().to_owned();
    let path = asset_path(&url);
    assert!(path.starts_with("/assets/default/audio/") && path.ends_with(".mp3"), "{path}");
    let (code, content_type, bytes) = fetch_asset(&b, &url).await;
    assert_eq!((code, content_type.as_str(), bytes.as_slice()), (200, "audio/mpeg", MP3), "served by the other");
    assert_eq!(std::fs::read(s3.object_file(&path)).unwrap(), MP3, "the object is in the bucket");

    // A download (Higgsfield) is staged, then streamed up with its length.
    let (status, body) = call(&a, "higgsfield_image", json!({"prompt": "shared", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let image = body["result"]["url"].as_str().unwrap().to_owned();
    let (code, content_type, bytes) = fetch_asset(&b, &image).await;
    assert_eq!((code, content_type.as_str(), bytes.as_slice()), (200, "image/png", PNG));
    assert_eq!(std::fs::read(s3.object_file(&asset_path(&image))).unwrap(), PNG);
    assert_no_local_media(&a);

    // Ranges are passed through, with the length and range of the bytes sent.
    let part = b.get(&path).header("range", "bytes=4-9").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 4-9/{}", MP3.len()));
    assert_eq!(part.headers()["content-length"], "6");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &MP3[4..10]);
    let beyond = b.get(&path).header("range", format!("bytes={}-", MP3.len() + 10)).send().await.unwrap();
    assert_eq!(beyond.status(), 416);

    // Small media is inlined in an MCP result, read back from the bucket.
    let arguments = json!({"text": "inline", "wait_for_completion": true});
    let answer = a.rpc_as("ops", "tools/call", json!({"name": "elevenlabs_voice", "arguments": arguments})).await;
    let blocks = answer["result"]["content"].as_array().unwrap_or_else(|| panic!("{answer}"));
    let audio = blocks.iter().find(|b| b["type"] == "audio").expect("small audio is inlined from the bucket");
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(audio["data"].as_str().unwrap()).unwrap(), MP3);

    let missing = format!("/assets/default/audio/{}.mp3", uuid::Uuid::new_v4());
    let response = b.get(&missing).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");

    let (code, readiness) = ready(&b).await;
    assert_eq!((code, &readiness["media"]), (200, &json!({"reachable": true, "error": null})), "{readiness}");
    let config: Value =
        b.get("/admin/config").header("authorization", bearer("ops")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["media"]["media_store"], "s3", "{config}");
    assert_eq!(config["media"]["s3"]["bucket"], BUCKET);
    assert_eq!(config["media"]["s3"]["endpoint"], format!("http://127.0.0.1:{}", s3.port));
    assert!(!config.to_string().contains(SECRET_KEY) && !config.to_string().contains(ACCESS_KEY), "{config}");
}

#[tokio::test]
async fn traversal_attempts_never_reach_other_objects_of_the_bucket() {
    let s3 = S3Server::start().await;
    let (_eleven, base) = FakeElevenLabs::start().await;
    let app = replica(&s3, SECRET_KEY, Some(&base), None).await;
    let (_, body) = call(&app, "elevenlabs_voice", json!({"text": "asset", "wait_for_completion": true})).await;
    let path = asset_path(body["result"]["url"].as_str().expect("a stored asset"));
    // Objects beside and above the media prefix, which no asset path may name.
    std::fs::write(s3.root.path().join(BUCKET).join("secret.txt"), "TOP-SECRET-CONTENT").unwrap();
    std::fs::write(s3.root.path().join(BUCKET).join("gw/secret.txt"), "TOP-SECRET-CONTENT").unwrap();
    let file = path.rsplit('/').next().unwrap().to_owned();
    let mut attempts = crate::assets::traversal_attempts(&file);
    attempts.push("/assets/..%2f..%2f/audio/secret.txt".to_owned());
    for target in &attempts {
        let (status, text) = crate::assets::raw_get(&app, target).await;
        assert!(matches!(status, 400 | 404), "{target} answered {status}: {text}");
        assert!(!text.contains("TOP-SECRET"), "{target} leaked: {text}");
    }
    let (status, _) = crate::assets::raw_get(&app, &path).await;
    assert_eq!(status, 200, "the real asset is still served");
}

#[tokio::test]
async fn with_the_bucket_down_assets_ready_and_jobs_fail_typed_and_recover_when_it_returns() {
    let mut s3 = S3Server::start().await;
    let (_eleven, base) = FakeElevenLabs::start().await;
    let app = replica(&s3, SECRET_KEY, Some(&base), None).await;
    let (_, body) = call(&app, "elevenlabs_voice", json!({"text": "before", "wait_for_completion": true})).await;
    let path = asset_path(body["result"]["url"].as_str().unwrap_or_else(|| panic!("{body}")));

    s3.stop();
    let response = app.get(&path).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert_eq!(body["error"]["retryable"], true, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cannot be reached"), "{body}");
    let (code, readiness) = ready(&app).await;
    assert_eq!((code, readiness["status"].as_str()), (503, Some("unavailable")), "{readiness}");
    assert_eq!(readiness["media"]["reachable"], false, "{readiness}");
    let anonymous: Value = app.get("/ready").send().await.unwrap().json().await.unwrap();
    assert_eq!(anonymous["media"], json!({"reachable": false}), "no error text without the admin scope");

    let (status, failed) = call(&app, "elevenlabs_voice", json!({"text": "during", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{failed}");
    assert_eq!(failed["error"]["code"], "upstream_unavailable", "{failed}");
    assert_eq!(failed["error"]["retryable"], true, "{failed}");
    assert_no_local_media(&app);

    assert!(s3.run().await, "s3s-fs starts again on its port");
    let (code, readiness) = ready(&app).await;
    assert_eq!((code, &readiness["media"]["reachable"]), (200, &json!(true)), "{readiness}");
    let (code, _, bytes) = fetch_asset(&app, &path).await;
    assert_eq!((code, bytes.as_slice()), (200, MP3), "the object stored before is served again");
    let (status, body) = call(&app, "elevenlabs_voice", json!({"text": "after", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A TCP front of `s3`: its first connection gets `503 SlowDown` and is closed, every later one is spliced
/// through unchanged (so signatures made for the front's address still verify). Returns the front's port and
/// whether the 503 was sent.
async fn flaky_front(s3_port: u16) -> (u16, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused = std::sync::Arc::new(AtomicBool::new(false));
    let sent = refused.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            if !sent.swap(true, Ordering::SeqCst) {
                let slow_down = "<Error><Code>SlowDown</Code></Error>";
                let head = format!("HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\n\r\n", slow_down.len());
                let _ = client.write_all(format!("{head}{slow_down}").as_bytes()).await;
                continue;
            }
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", s3_port)).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (port, refused)
}

#[tokio::test]
async fn a_store_that_s3_answers_503_is_tried_again_and_succeeds() {
    let s3 = S3Server::start().await;
    let (front, refused) = flaky_front(s3.port).await;
    let (_eleven, base) = FakeElevenLabs::start().await;
    let settings = settings_at(front, SECRET_KEY);
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config: &mut Config| {
        configure(config, Some(&base), None);
        config.media.s3 = Some(settings);
    })
    .await;
    let (status, body) =
        rest_call(&app, "elevenlabs_voice", json!({"text": "retried", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "the PUT answered 503 once, then stored: {body}");
    assert!(refused.load(std::sync::atomic::Ordering::SeqCst), "the first PUT got the 503");
    let path = asset_path(body["result"]["url"].as_str().unwrap());
    assert_eq!(std::fs::read(s3.object_file(&path)).unwrap(), MP3);
    let (code, _, bytes) = fetch_asset(&app, &path).await;
    assert_eq!((code, bytes.as_slice()), (200, MP3));
}

#[tokio::test]
async fn a_bucket_that_never_answers_is_a_typed_timeout_within_the_bound() {
    // Accepts connections and holds them open without a byte of answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (_eleven, base) = FakeElevenLabs::start().await;
    let settings = S3Settings {
        timeout: Duration::from_secs(1),
        upload_timeout: Duration::from_secs(1),
        ..settings_at(port, SECRET_KEY)
    };
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config: &mut Config| {
        configure(config, Some(&base), None);
        config.media.s3 = Some(settings);
    })
    .await;
    let started = std::time::Instant::now();
    let response = app.get(&format!("/assets/default/audio/{}.mp3", uuid::Uuid::new_v4())).send().await.unwrap();
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["error"]["code"].as_str(), &body["error"]["retryable"]), (Some("upstream_timeout"), &json!(true)));
    let readiness: Value = app.get("/ready").send().await.unwrap().json().await.unwrap();
    assert_eq!((readiness["status"].as_str(), &readiness["media"]["reachable"]), (Some("unavailable"), &json!(false)));
    let body = json!({"tool_name": "elevenlabs_voice", "params": {"text": "silent", "wait_for_completion": true}});
    let response = app.post("/mcp/tools/call").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 504, "the store step's upload timeout, three attempts");
    let failed: Value = response.json().await.unwrap();
    assert_eq!(failed["error"]["code"], "upstream_timeout", "{failed}");
    assert!(started.elapsed() < Duration::from_secs(12), "bounded: {:?}", started.elapsed());
}

#[tokio::test]
async fn refused_credentials_are_a_typed_error_and_the_secret_is_never_shown() {
    let s3 = S3Server::start().await;
    let (_eleven, base) = FakeElevenLabs::start().await;
    let wrong = "wrong-secret-never-shown-5f2c";
    let app = replica(&s3, wrong, Some(&base), None).await;

    let (code, readiness) = ready(&app).await;
    assert_eq!(code, 503, "{readiness}");
    let error = readiness["media"]["error"].as_str().unwrap_or_else(|| panic!("{readiness}"));
    assert!(error.contains("refused the gateway's credentials"), "{error}");

    let (status, failed) = call(&app, "elevenlabs_voice", json!({"text": "denied", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{failed}");
    assert_eq!(failed["error"]["code"], "upstream_error", "{failed}");
    assert_eq!(failed["error"]["retryable"], false, "{failed}");
    let missing = format!("/assets/default/audio/{}.mp3", uuid::Uuid::new_v4());
    let response = app.get(&missing).send().await.unwrap();
    assert_eq!(response.status(), 502);
    let text = format!("{readiness} {failed} {}", response.text().await.unwrap());
    assert!(!text.contains(wrong) && !text.contains(SECRET_KEY), "{text}");
    assert!(!text.contains("X-Amz-Signature"), "no signed URL is shown: {text}");
}

#[tokio::test]
async fn the_binary_reads_the_aws_names_and_never_logs_the_secret() {
    let s3 = S3Server::start().await;
    let (_eleven, base) = FakeElevenLabs::start().await;
    let wrong = "wrong-secret-for-the-log-8d1e";
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    let mut gateway = crate::process::Gateway::start(
        &shipped_tool_specs(),
        &[
            ("GATEWAY_MEDIA_URL", "s3://media/gw/prod"),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", wrong),
            ("ELEVENLABS_BASE_URL", &base),
            ("ELEVENLABS_API_KEY", media_fakes::XI_KEY),
            ("LOG_LEVEL", "trace"),
        ],
    );
    let client = reqwest::Client::new();
    let readiness: Value = client.get(format!("{}/ready", gateway.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(readiness["media"]["reachable"], false, "{readiness}");
    let body = json!({"tool_name": "elevenlabs_voice", "params": {"text": "logged", "wait_for_completion": true}});
    let response = client.post(format!("{}/mcp/tools/call", gateway.base)).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 502);
    gateway.wait_for_line("the failed call is logged", |l| {
        l.contains("request finished") && l.contains("/mcp/tools/call")
    });
    gateway.terminate();
    let (_, log) = tokio::task::spawn_blocking(move || gateway.wait_exit()).await.unwrap();
    assert!(log.contains("refused the gateway's credentials"), "the failure is logged:\n{log}");
    assert!(!log.contains(wrong), "the secret key leaked into the log");
}
