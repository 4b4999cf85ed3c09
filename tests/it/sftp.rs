//! The SFTP copy of stored media (seed 004's `STORAGE_FTP_ENABLED`) when the server cannot be used: the job still
//! completes with its local asset and link, and records the typed upload error without the password. Uploads
//! to a real OpenSSH server (success, refused login, untrusted host key, a server killed mid-upload) are
//! checked by `tests/sftp/check.sh`, which `scripts/test.sh` runs.

use crate::common;
use crate::media_fakes;

use std::time::Duration;

use axum::http::StatusCode;
use common::{TestApp, shipped_tool_specs};
use mcp_gateway::config::SftpSettings;
use media_fakes::{FakeElevenLabs, FakeHiggsfield, MP3, PNG, configure, fetch_asset, rest_call};
use serde_json::{Value, json};

const PASSWORD: &str = "sftp-pw-never-shown-6d2";

fn sftp_settings(port: u16) -> SftpSettings {
    SftpSettings {
        host: "127.0.0.1".into(),
        port,
        user: "media".into(),
        password: PASSWORD.into(),
        base_dir: "/srv/media".into(),
        public_base_url: "https://cdn.example.com/media".into(),
        known_hosts: None,
        host_key_sha256: Some([9; 32]),
        connect_timeout: Duration::from_secs(1),
        upload_timeout: Duration::from_secs(5),
    }
}

async fn app(elevenlabs: Option<&str>, higgsfield: Option<&str>, sftp_port: u16) -> TestApp {
    let (elevenlabs, higgsfield) = (elevenlabs.map(str::to_owned), higgsfield.map(str::to_owned));
    TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        configure(config, elevenlabs.as_deref(), higgsfield.as_deref());
        config.media.sftp = Some(sftp_settings(sftp_port));
    })
    .await
}

/// The job completed, its only link is the local one, the stored file is intact, and the upload error is
/// recorded with `code`; the password appears nowhere in what the caller got.
async fn assert_kept_locally(app: &TestApp, body: &Value, code: &str, bytes: &[u8], kind: &str) {
    let result = &body["result"];
    assert_eq!(result["status"], "completed", "{body}");
    let local = result["url"].as_str().unwrap();
    assert_eq!(result["links"], json!([local]), "no SFTP link without an upload: {result}");
    assert!(result["asset"].get("sftp_url").is_none(), "{result}");
    assert_eq!(result["upload_error"]["code"], code, "{result}");
    assert_eq!(result["asset"]["upload_error"], result["upload_error"]);
    let (status, _, served) = fetch_asset(app, local).await;
    assert_eq!((status, served.as_slice()), (200, bytes), "the local asset stays");
    let file = result["asset"]["file"].as_str().unwrap();
    let on_disk = app.state.config.data_dir.join(format!("Media/default/{kind}")).join(file);
    assert_eq!(std::fs::read(on_disk).unwrap(), bytes);
    assert!(!body.to_string().contains(PASSWORD), "{body}");
}

#[tokio::test]
async fn an_unreachable_sftp_server_records_the_upload_error_and_keeps_the_local_audio() {
    let (_fake, base) = FakeElevenLabs::start().await;
    let (_held, port) = common::closed_port();
    let app = app(Some(&base), None, port).await;
    let (status, body) =
        rest_call(&app, "elevenlabs_voice", json!({"text": "Bonjour", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_kept_locally(&app, &body, "upstream_unavailable", MP3, "audio").await;
    let error = &body["result"]["upload_error"];
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&format!("the SFTP server 127.0.0.1:{port} could not be reached")), "{message}");
    assert_eq!(error["retryable"], true);
    assert_eq!(error["details"], json!({"host": "127.0.0.1", "port": port}));

    let job_id = body["result"]["job_id"].as_str().unwrap();
    let (_, status_body) = rest_call(&app, "check_job_status", json!({"job_id": job_id})).await;
    assert_eq!(status_body["result"]["upload_error"], *error, "the error is kept in the job store");
    app.assert_healthy().await;
}

#[tokio::test(start_paused = true)]
async fn an_sftp_server_that_never_speaks_is_given_up_after_the_connect_timeout() {
    // Accepts connections and holds them without a word: no SSH identification ever arrives.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (_fake, base) = FakeHiggsfield::start(1).await;
    let app = app(None, Some(&base), port).await;
    let (status, body) =
        rest_call(&app, "higgsfield_image", json!({"prompt": "a red fox", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_kept_locally(&app, &body, "upstream_timeout", PNG, "image").await;
    let message = body["result"]["upload_error"]["message"].as_str().unwrap();
    assert!(message.contains("did not complete connecting and logging in within 1 s"), "{message}");
}

#[tokio::test]
async fn a_server_that_is_not_ssh_fails_the_handshake_and_the_job_still_completes() {
    let liar = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = liar.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = liar.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let (_fake, base) = FakeElevenLabs::start().await;
    let app = app(Some(&base), None, port).await;
    let (_, body) = rest_call(&app, "elevenlabs_voice", json!({"text": "Salut", "wait_for_completion": true})).await;
    assert_kept_locally(&app, &body, "upstream_unavailable", MP3, "audio").await;
}
