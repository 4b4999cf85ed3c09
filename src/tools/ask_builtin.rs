//! The `ask` builtin: a tool that asks its client questions in rounds (elicitation, sampling, roots), then
//! answers with what it learnt. Each round asks its questions at once; the next round starts when every answer
//! of the previous one is in. Over the 2026-07-28 protocol each round is one `input_required` result; over the
//! handshake era each question is a server→client request.
//!
//! ```json
//! {"kind": "builtin", "name": "ask", "options": {
//!   "rounds": [{"user_name": {"elicitation": {"message": "Your name?", "requestedSchema": {...}}}},
//!              {"greeting": {"sampling": {"messages": [...], "maxTokens": 50}, "optional": true}}],
//!   "text": "Hello, {user_name}!"}}
//! ```
//!
//! A question marked `optional` is skipped when the client cannot answer it (it did not declare the
//! capability). In `text`, `{key}` stands for the answer to `key` in words: an accepted elicitation's values,
//! the sampled text, the root URIs. The structured result is `{"answers": {key: answer}}`.
//!
//! For a task tool (`execution.taskSupport`), `rounds_before_task: N` asks the first N rounds over the request
//! itself (2026-07-28 `input_required` rounds, before any task exists) and only then makes the call a task;
//! later rounds wait inside the task (`input_required` on `tasks/get`, answered with `tasks/update`). Without
//! it a task call is a task from its start.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client::{Ask, Question};
use super::context::CallCtx;
use super::output::ToolOutput;
use super::spec::PathError;
use crate::error::GatewayError;

/// The most rounds and questions an `ask` tool may declare.
const MAX_ROUNDS: usize = 8;
const MAX_QUESTIONS: usize = 8;

/// The checked options of an `ask` tool.
#[derive(Debug)]
pub struct AskOptions {
    rounds: Vec<Vec<(String, Question, bool)>>,
    text: String,
    rounds_before_task: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptions {
    rounds: Vec<Map<String, Value>>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    rounds_before_task: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    elicitation: Option<Value>,
    sampling: Option<Value>,
    roots: Option<Value>,
    #[serde(default)]
    optional: bool,
}

impl AskOptions {
    /// Parse `$.binding.options`.
    pub fn parse(raw: &Value) -> Result<Self, PathError> {
        let at = "$.binding.options";
        let options = RawOptions::deserialize(raw).map_err(|e| PathError::new(at, format!("builtin `ask`: {e}")))?;
        if options.rounds.is_empty() || options.rounds.len() > MAX_ROUNDS {
            return Err(PathError::new(format!("{at}.rounds"), format!("give 1 to {MAX_ROUNDS} rounds")));
        }
        let mut seen = std::collections::HashSet::new();
        let mut rounds = Vec::with_capacity(options.rounds.len());
        for (r, round) in options.rounds.into_iter().enumerate() {
            if round.is_empty() || round.len() > MAX_QUESTIONS {
                let path = format!("{at}.rounds[{r}]");
                return Err(PathError::new(path, format!("a round asks 1 to {MAX_QUESTIONS} questions")));
            }
            let mut questions = Vec::with_capacity(round.len());
            for (key, raw) in round {
                let path = format!("{at}.rounds[{r}].{key}");
                if !seen.insert(key.clone()) {
                    return Err(PathError::new(path, "a question key is used twice"));
                }
                let ask = parse_question(key, &raw, &path)?;
                questions.push((ask.key, ask.question, ask.optional));
            }
            rounds.push(questions);
        }
        if options.rounds_before_task > rounds.len() {
            let path = format!("{at}.rounds_before_task");
            return Err(PathError::new(path, "cannot exceed the number of rounds"));
        }
        Ok(Self {
            rounds,
            text: options.text.unwrap_or_else(|| "done".into()),
            rounds_before_task: options.rounds_before_task,
        })
    }

    /// Whether a task call of this tool asks over the request before it becomes a task.
    #[must_use]
    pub fn asks_before_task(&self) -> bool {
        self.rounds_before_task > 0
    }

    /// Ask every round in turn, then answer.
    pub async fn run(&self, ctx: &CallCtx) -> Result<ToolOutput, GatewayError> {
        let mut answers = Map::new();
        for (number, round) in self.rounds.iter().enumerate() {
            if number == self.rounds_before_task && number > 0 {
                ctx.become_task().await?;
            }
            let asks = round
                .iter()
                .map(|(key, question, optional)| Ask {
                    key: key.clone(),
                    question: question.clone(),
                    optional: *optional,
                })
                .collect();
            let got = ctx.ask_all(asks).await?;
            for ((key, _, _), answer) in round.iter().zip(got) {
                answers.insert(key.clone(), answer);
            }
        }
        if self.rounds_before_task == self.rounds.len() {
            ctx.become_task().await?;
        }
        let text = render(&self.text, &answers);
        Ok(ToolOutput {
            content: vec![json!({"type": "text", "text": text})],
            value: json!({"answers": answers}),
            is_error: false,
        })
    }
}

/// One question of a spec: `{"elicitation": params}`, `{"sampling": params}` or `{"roots": {}}`, optionally
/// `"optional": true`.
pub fn parse_question(key: String, raw: &Value, path: &str) -> Result<Ask, PathError> {
    let q = RawQuestion::deserialize(raw).map_err(|e| PathError::new(path, e.to_string()))?;
    let question = match (q.elicitation, q.sampling, q.roots) {
        (Some(params), None, None) => elicitation(params, path)?,
        (None, Some(params), None) => sampling(params, path)?,
        (None, None, Some(_)) => Question::Roots,
        _ => return Err(PathError::new(path, "give exactly one of `elicitation`, `sampling` or `roots`")),
    };
    Ok(Ask { key, question, optional: q.optional })
}

fn elicitation(params: Value, path: &str) -> Result<Question, PathError> {
    let valid = params.get("message").is_some_and(Value::is_string)
        && params.pointer("/requestedSchema/type").and_then(Value::as_str) == Some("object");
    if valid {
        Ok(Question::Elicitation(params))
    } else {
        Err(PathError::new(path, "an elicitation needs a `message` and an object `requestedSchema`"))
    }
}

fn sampling(params: Value, path: &str) -> Result<Question, PathError> {
    if params.get("messages").is_some_and(Value::is_array) && params.get("maxTokens").is_some_and(Value::is_u64) {
        Ok(Question::Sampling(params))
    } else {
        Err(PathError::new(path, "a sampling request needs `messages` and `maxTokens`"))
    }
}

/// `text` with each `{key}` replaced by that answer in words.
fn render(text: &str, answers: &Map<String, Value>) -> String {
    let mut out = text.to_owned();
    for (key, answer) in answers {
        out = out.replace(&format!("{{{key}}}"), &in_words(answer));
    }
    out
}

/// An answer as a person would read it.
pub fn in_words(answer: &Value) -> String {
    if let Some(action) = answer.get("action").and_then(Value::as_str) {
        return match (action, answer.get("content").and_then(Value::as_object)) {
            ("accept", Some(content)) => content.values().map(scalar_text).collect::<Vec<_>>().join(", "),
            (other, _) => other.to_owned(),
        };
    }
    if let Some(text) = answer.pointer("/content/text").and_then(Value::as_str) {
        return text.to_owned();
    }
    if let Some(roots) = answer.get("roots").and_then(Value::as_array) {
        return roots.iter().filter_map(|r| r.get("uri").and_then(Value::as_str)).collect::<Vec<_>>().join(", ");
    }
    if answer.is_null() { "(not asked)".into() } else { scalar_text(answer) }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_when_the_spec_loads() {
        let ok = json!({"rounds": [{"name": {"elicitation": {"message": "?", "requestedSchema": {"type": "object"}}}},
                                   {"roots": {"roots": {}, "optional": true}}], "text": "hi {name}"});
        assert!(!AskOptions::parse(&ok).unwrap().asks_before_task());
        let first = json!({"rounds": [{"a": {"roots": {}}}], "rounds_before_task": 1});
        assert!(AskOptions::parse(&first).unwrap().asks_before_task());
        for bad in [
            json!({"rounds": []}),
            json!({"rounds": [{}]}),
            json!({"rounds": [{"a": {"elicitation": {"message": "?"}}}]}),
            json!({"rounds": [{"a": {"sampling": {"messages": []}}}]}),
            json!({"rounds": [{"a": {"roots": {}, "sampling": {}}}]}),
            json!({"rounds": [{"a": {"roots": {}}}, {"a": {"roots": {}}}]}),
            json!({"rounds": [{"a": {"roots": {}, "typo": 1}}]}),
            json!({"rounds": [{"a": {"roots": {}}}], "rounds_before_task": 2}),
        ] {
            assert!(AskOptions::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_read_as_words() {
        let mut answers = Map::new();
        answers.insert("name".into(), json!({"action": "accept", "content": {"name": "Alice"}}));
        answers.insert("no".into(), json!({"action": "decline"}));
        answers.insert("llm".into(), json!({"role": "assistant", "content": {"type": "text", "text": "Paris"}}));
        answers.insert("roots".into(), json!({"roots": [{"uri": "file:///a"}, {"uri": "file:///b"}]}));
        assert_eq!(
            render("{name}|{no}|{llm}|{roots}|{other}", &answers),
            "Alice|decline|Paris|file:///a, file:///b|{other}"
        );
    }
}
