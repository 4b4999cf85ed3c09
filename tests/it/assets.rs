//! `GET /assets/{project}/{type}/{file}`: stored media with its content type, range requests (206, 416), and
//! traversal attempts (`..`, encoded dots, backslashes, absolute paths, NUL) refused without touching files
//! outside the media folder. Raw requests go over a TCP socket so no client normalises the path first.

use crate::common;
use crate::media_fakes;

use common::{TestApp, shipped_tool_specs};
use media_fakes::{FakeElevenLabs, MP3, asset_path, configure, rest_call};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An app with one stored audio asset; returns the app and the asset's `/assets/...` path.
async fn app_with_asset() -> (TestApp, String) {
    let (_fake, base) = FakeElevenLabs::start().await;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| configure(config, Some(&base), None)).await;
    let (_, body) = rest_call(&app, "elevenlabs_voice", json!({"text": "asset", "wait_for_completion": true})).await;
    let path = asset_path(body["result"]["url"].as_str().expect("a stored asset"));
    (app, path)
}

/// Send `GET {target}` as written and return the status code and the whole response text.
pub async fn raw_get(app: &TestApp, target: &str) -> (u16, String) {
    let address = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Paths that try to leave the media (with `file`, a real asset's name), for every media store's tests.
pub fn traversal_attempts(file: &str) -> Vec<String> {
    vec![
        "/assets/../secret.txt".to_owned(),
        "/assets/default/audio/../../../secret.txt".to_owned(),
        "/assets/%2e%2e/%2e%2e/secret.txt".to_owned(),
        "/assets/default/%2e%2e/secret.txt".to_owned(),
        "/assets/default/audio/..%2f..%2f..%2fsecret.txt".to_owned(),
        "/assets/default/audio/..%5c..%5csecret.txt".to_owned(),
        "/assets/default\\..\\..\\/audio/secret.txt".to_owned(),
        "/assets/%2fetc/audio/passwd".to_owned(),
        "/assets/default/audio/%2fetc%2fpasswd".to_owned(),
        format!("/assets/default/audio/{file}%00.txt"),
        format!("/assets/default/audio%00/{file}"),
        "/assets/default/secrets/x.mp3".to_owned(),
    ]
}

#[tokio::test]
async fn assets_are_served_with_their_type_and_answer_range_requests() {
    let (app, path) = app_with_asset().await;
    let whole = app.get(&path).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "audio/mpeg");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().await.unwrap().as_ref(), MP3);

    let part = app.get(&path).header("range", "bytes=4-9").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 4-9/{}", MP3.len()));
    assert_eq!(part.bytes().await.unwrap().as_ref(), &MP3[4..10]);

    let beyond = app.get(&path).header("range", format!("bytes={}-", MP3.len() + 10)).send().await.unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], format!("bytes */{}", MP3.len()));

    let missing = path.rsplit_once('/').unwrap().0.to_owned() + "/3f2b9c1e-8a4d-4e0f-9b7a-1c2d3e4f5a6b.mp3";
    let response = app.get(&missing).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn traversal_attempts_are_refused_and_never_reach_other_files() {
    let (app, path) = app_with_asset().await;
    let data_dir = app.state.config.data_dir.clone();
    std::fs::write(data_dir.join("secret.txt"), "TOP-SECRET-CONTENT").unwrap();
    let file = path.rsplit('/').next().unwrap().to_owned();
    let mut attempts = traversal_attempts(&file);
    attempts.push("/assets/default/audio/%2e%2e%2f%2e%2e%2fjobs.db".to_owned());
    for target in &attempts {
        let (status, text) = raw_get(&app, target).await;
        assert!(matches!(status, 400 | 404), "{target} answered {status}: {text}");
        assert!(!text.contains("TOP-SECRET") && !text.contains("SQLite format"), "{target} leaked: {text}");
    }
    let (status, _) = raw_get(&app, &path).await;
    assert_eq!(status, 200, "the real asset is still served");
}
