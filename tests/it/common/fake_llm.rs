//! An in-process OpenAI-compatible chat-completions server that follows reference/providers.md: `POST
//! /v1/chat/completions`, `{choices[{message{role, content, tool_calls?}, finish_reason}], usage}` answers and
//! `{"error": {message, type, param, code}}` failures. It answers from a script (then repeats its last line)
//! and records what it received.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A status, a JSON body and extra headers.
    Json(u16, Value, Vec<(&'static str, &'static str)>),
    /// A status and a body that is not JSON.
    Raw(u16, &'static str),
    /// Never answer.
    Hang,
}

/// A completion whose message is the text `answer`.
#[must_use]
pub fn text(answer: &str) -> Reply {
    Reply::Json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "fake-model",
               "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        Vec::new(),
    )
}

/// A completion asking for one function call.
#[must_use]
pub fn tool_call(id: &str, name: &str, arguments: &Value) -> Reply {
    Reply::Json(
        200,
        json!({"id": "chatcmpl-2", "object": "chat.completion", "model": "fake-model",
               "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                 "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}}]}}],
               "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}}),
        Vec::new(),
    )
}

/// An OpenAI error body with `status`.
#[must_use]
pub fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Reply {
    Reply::Json(status, json!({"error": {"message": message, "type": kind, "param": null, "code": code}}), Vec::new())
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Clone)]
pub struct FakeLlm {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl FakeLlm {
    /// Serve `script` on `127.0.0.1:0`; returns the fake and its base URL (without `/v1`).
    pub async fn serve(script: Vec<Reply>) -> (Self, String) {
        let fake = Self { seen: Arc::default(), script: Arc::new(Mutex::new(script.into())) };
        let app = Router::new().route("/v1/chat/completions", post(complete)).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake LLM");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the fake LLM serves") });
        (fake, format!("http://{address}"))
    }

    /// Every request received so far.
    #[must_use]
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("the fake's lock").clone()
    }

    #[must_use]
    pub fn count(&self) -> usize {
        self.seen.lock().expect("the fake's lock").len()
    }
}

async fn complete(State(fake): State<FakeLlm>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    fake.seen.lock().expect("the fake's lock").push(Seen { authorization, body: body.0 });
    let reply = {
        let mut script = fake.script.lock().expect("the fake's lock");
        if script.len() > 1 { script.pop_front() } else { script.front().cloned() }
    };
    match reply {
        Some(Reply::Json(status, body, headers)) => {
            let mut response = (StatusCode::from_u16(status).expect("a status"), axum::Json(body)).into_response();
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().expect("a header value"));
            }
            response
        }
        Some(Reply::Raw(status, body)) => (StatusCode::from_u16(status).expect("a status"), body).into_response(),
        Some(Reply::Hang) => std::future::pending().await,
        None => (StatusCode::INTERNAL_SERVER_ERROR, "the fake has no script").into_response(),
    }
}
