//! Multi-round-trip requests (2026-07-28, basic/patterns/mrtr): the client link of a 2026 request.
//!
//! A call that asks its client something cannot wait for an answer on this request: [`RoundTripLink::ask`]
//! answers from the request's `inputResponses` (and the answers earlier rounds sealed into `requestState`), and
//! when one is missing it records the question and fails the call with `input_required`. The request then
//! answers an `InputRequiredResult` carrying the questions (`inputRequests`) and a new sealed state with every
//! answer the call used and every step result it recorded; the client asks its user or model and repeats the
//! request with the answers. The call runs again from its start: answered questions return at once, recorded
//! workflow steps are recalled instead of run again.
//!
//! Only questions the request's `clientCapabilities` allow are asked; a required question the client cannot
//! answer is a `MissingRequiredClientCapability` error (-32021). Progress and log lines go on the request's
//! own SSE stream when it has one (and log lines only when `_meta` chose a `logLevel`).

use std::sync::Mutex;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::super::peer::{log_notification, progress_notification, request_of};
use crate::error::{ErrorCode, GatewayError};
use crate::tools::{Ask, ChannelFuture, ClientChannel, LogLevel, Progress, Question};

/// The client link of one 2026 request.
#[derive(Debug)]
pub struct RoundTripLink {
    /// Answers given: the request's `inputResponses` over those of earlier rounds.
    answers: Map<String, Value>,
    /// What the request's `_meta` says the client can answer.
    capabilities: Value,
    /// Step results of earlier rounds, by key.
    recalled: Map<String, Value>,
    outgoing: Option<mpsc::Sender<Value>>,
    progress_token: Option<Value>,
    log_level: Option<LogLevel>,
    round: Mutex<Round>,
}

/// What this round of the call used, asked and recorded.
#[derive(Debug, Default)]
struct Round {
    used: Map<String, Value>,
    asked: Map<String, Value>,
    remembered: Map<String, Value>,
}

/// Where the round left off, for the next `requestState`.
#[derive(Debug)]
pub struct Carried {
    /// The questions to answer (`inputRequests`).
    pub asked: Map<String, Value>,
    /// Every answer and step result the call used, for the sealed state.
    pub state: Map<String, Value>,
}

/// Step results go into the state under this prefix, beside the answers (question keys never start with it).
const MEMO_PREFIX: &str = "\u{1}memo:";

impl RoundTripLink {
    /// `carried` is what an earlier round sealed (answers and step results); `responses` the request's
    /// `inputResponses`.
    #[must_use]
    pub fn new(
        carried: Map<String, Value>,
        responses: Map<String, Value>,
        capabilities: Value,
        outgoing: Option<mpsc::Sender<Value>>,
        progress_token: Option<Value>,
        log_level: Option<LogLevel>,
    ) -> Self {
        let mut answers = Map::new();
        let mut recalled = Map::new();
        for (key, value) in carried {
            match key.strip_prefix(MEMO_PREFIX) {
                Some(memo) => {
                    recalled.insert(memo.to_owned(), value);
                }
                None => {
                    answers.insert(key, value);
                }
            }
        }
        answers.extend(responses.into_iter().filter(|(key, _)| !key.starts_with(MEMO_PREFIX)));
        Self {
            answers,
            capabilities,
            recalled,
            outgoing,
            progress_token,
            log_level,
            round: Mutex::new(Round::default()),
        }
    }

    fn supports(&self, capability: &str) -> bool {
        self.capabilities.get(capability).is_some_and(|c| !c.is_null())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Round> {
        self.round.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the round asked, used and recorded; `None` when it asked nothing.
    #[must_use]
    pub fn carried(&self) -> Option<Carried> {
        let mut round = self.lock();
        if round.asked.is_empty() {
            return None;
        }
        let mut state = std::mem::take(&mut round.used);
        for (key, value) in std::mem::take(&mut round.remembered) {
            state.insert(format!("{MEMO_PREFIX}{key}"), value);
        }
        Some(Carried { asked: std::mem::take(&mut round.asked), state })
    }

    async fn send(&self, message: Value) {
        if let Some(tx) = &self.outgoing {
            // The stream is best effort; a client that left is handled by the transport.
            let _ = tx.send(message).await;
        }
    }
}

/// Whether `answer` has the shape of a result to `question` (an elicitation's `action`, a sampled message's
/// `content`, a `roots` list). A malformed answer counts as none: the question is asked again.
pub(super) fn is_answer(question: &Question, answer: &Value) -> bool {
    match question {
        Question::Elicitation(_) => answer.get("action").is_some_and(Value::is_string),
        Question::Sampling(_) => answer.get("content").is_some_and(|c| c.is_object() || c.is_array()),
        Question::Roots => answer.get("roots").is_some_and(Value::is_array),
    }
}

/// The error of a required question the client declared it cannot answer.
pub(super) fn missing_capability(capability: &str) -> GatewayError {
    let mut required = Map::new();
    required.insert(capability.to_owned(), json!({}));
    GatewayError::new(
        ErrorCode::Unsupported,
        format!("the tool needs the `{capability}` client capability, which this request does not declare"),
    )
    .with_details(json!({"requiredCapabilities": required}))
}

impl ClientChannel for RoundTripLink {
    fn progress<'a>(&'a self, update: Progress<'a>) -> ChannelFuture<'a, ()> {
        Box::pin(async move {
            let Some(token) = &self.progress_token else { return };
            self.send(progress_notification(token, &update)).await;
        })
    }

    fn log<'a>(&'a self, level: LogLevel, logger: &'a str, data: Value) -> ChannelFuture<'a, ()> {
        Box::pin(async move {
            if self.log_level.is_none_or(|chosen| level < chosen) {
                return;
            }
            self.send(log_notification(level, logger, data)).await;
        })
    }

    fn ask(&self, questions: Vec<Ask>) -> ChannelFuture<'_, Result<Vec<Value>, GatewayError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(questions.len());
            let mut waiting = false;
            let mut round = self.lock();
            for Ask { key, question, optional } in questions {
                if !self.supports(question.kind()) {
                    if optional {
                        out.push(Value::Null);
                        continue;
                    }
                    return Err(missing_capability(question.kind()));
                }
                match self.answers.get(&key) {
                    Some(answer) if is_answer(&question, answer) => {
                        round.used.insert(key, answer.clone());
                        out.push(answer.clone());
                    }
                    _ => {
                        let (method, params, _) = request_of(question);
                        round.asked.insert(key, json!({"method": method, "params": params}));
                        waiting = true;
                    }
                }
            }
            if waiting {
                return Err(GatewayError::new(
                    ErrorCode::InputRequired,
                    "the call needs answers from the client; it repeats the request with them",
                ));
            }
            Ok(out)
        })
    }

    fn recall(&self, key: &str) -> Option<Value> {
        let value = self.recalled.get(key).cloned()?;
        // Recalled results go into the next state too, or a third round would run the step again.
        self.lock().remembered.insert(key.to_owned(), value.clone());
        Some(value)
    }

    fn remember(&self, key: &str, value: Value) {
        self.lock().remembered.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Caller;
    use crate::tools::{CallCtx, ClientLink};

    fn elicit(key: &str) -> Ask {
        let params = json!({"message": "name?", "requestedSchema": {"type": "object", "properties": {}}});
        Ask { key: key.into(), question: Question::Elicitation(params), optional: false }
    }

    fn ctx(link: &std::sync::Arc<RoundTripLink>) -> CallCtx {
        let mut ctx = CallCtx::detached("r", Caller::Anonymous);
        ctx.client = Some(link.clone() as ClientLink);
        ctx
    }

    #[tokio::test]
    async fn an_unanswered_question_is_recorded_and_answered_ones_are_carried() {
        let mut given = Map::new();
        given.insert("name".into(), json!({"action": "accept", "content": {"name": "Alice"}}));
        given.insert("junk".into(), json!({"ignored": true}));
        let link =
            std::sync::Arc::new(RoundTripLink::new(Map::new(), given, json!({"elicitation": {}}), None, None, None));
        let err = ctx(&link).ask_all(vec![elicit("name"), elicit("color")]).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InputRequired);
        let carried = link.carried().unwrap();
        assert_eq!(carried.asked["color"]["method"], "elicitation/create");
        assert!(carried.state.contains_key("name") && !carried.state.contains_key("junk"), "{:?}", carried.state);
    }

    #[tokio::test]
    async fn malformed_answers_are_asked_again_and_missing_capabilities_refused() {
        let mut given = Map::new();
        given.insert("name".into(), json!(12345));
        let link =
            std::sync::Arc::new(RoundTripLink::new(Map::new(), given, json!({"sampling": {}}), None, None, None));
        let err = ctx(&link).ask_client("name", Question::Roots).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Unsupported);
        assert_eq!(err.details["requiredCapabilities"]["roots"], json!({}));
        let link = std::sync::Arc::new(RoundTripLink::new(
            Map::new(),
            [("name".to_owned(), json!(12345))].into_iter().collect(),
            json!({"elicitation": {}}),
            None,
            None,
            None,
        ));
        assert_eq!(ctx(&link).ask_all(vec![elicit("name")]).await.unwrap_err().code, ErrorCode::InputRequired);
        let optional = Ask { optional: true, ..elicit("x") };
        let link = std::sync::Arc::new(RoundTripLink::new(Map::new(), Map::new(), json!({}), None, None, None));
        assert_eq!(ctx(&link).ask_all(vec![optional]).await.unwrap(), vec![Value::Null]);
    }

    #[tokio::test]
    async fn remembered_steps_are_recalled_in_the_next_round() {
        let link = std::sync::Arc::new(RoundTripLink::new(
            Map::new(),
            Map::new(),
            json!({"elicitation": {}}),
            None,
            None,
            None,
        ));
        let c = ctx(&link);
        c.remember("step-a", json!({"value": 1}));
        assert!(c.ask_client("q", elicit("q").question).await.is_err());
        let carried = link.carried().unwrap();
        let next = RoundTripLink::new(carried.state, Map::new(), json!({"elicitation": {}}), None, None, None);
        assert_eq!(next.recall("step-a"), Some(json!({"value": 1})));
        assert_eq!(next.recall("step-b"), None);
    }
}
