//! Reading a `text/event-stream` body as it arrives, bounded: events are cut at blank lines, `data:` lines are
//! joined, comments and `id:`/`retry:` fields are skipped, and an event larger than the bound is an error
//! rather than memory held without end.

/// One event: its `event:` type (`None` means `message`) and its joined data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// An event grew past the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge;

/// Splits a byte stream into events.
#[derive(Debug)]
pub struct SseDecoder {
    pending: Vec<u8>,
    max_event: usize,
}

impl SseDecoder {
    #[must_use]
    pub fn new(max_event: usize) -> Self {
        Self { pending: Vec::new(), max_event }
    }

    /// Feed the next chunk; the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some((end, skip)) = blank_line(&self.pending) {
            let block: Vec<u8> = self.pending.drain(..end + skip).take(end).collect();
            if let Some(event) = parse_block(&String::from_utf8_lossy(&block)) {
                events.push(event);
            }
        }
        if self.pending.len() > self.max_event {
            return Err(EventTooLarge);
        }
        Ok(events)
    }
}

/// Where the first blank line (the end of an event) starts, and how long the separator is.
fn blank_line(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' || bytes[i] == b'\r' {
            let first = if bytes[i..].starts_with(b"\r\n") { 2 } else { 1 };
            let rest = &bytes[i + first..];
            let second = if rest.starts_with(b"\r\n") {
                2
            } else if rest.starts_with(b"\n") || (rest.starts_with(b"\r") && rest.len() > 1) {
                1
            } else {
                0
            };
            if second > 0 {
                return Some((i, first + second));
            }
            i += first;
        } else {
            i += 1;
        }
    }
    None
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let mut event = None;
    let mut data: Option<String> = None;
    for line in block.lines() {
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => match &mut data {
                Some(joined) => {
                    joined.push('\n');
                    joined.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    data.filter(|d| !d.is_empty()).map(|data| SseEvent { event, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_line_endings() {
        let mut decoder = SseDecoder::new(1024);
        assert!(decoder.push(b"id: 1\ndata:\n\n: comment\n\nevent: mess").unwrap().is_empty());
        let events = decoder.push(b"age\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: x\n\n").unwrap();
        assert_eq!(
            events,
            [
                SseEvent { event: Some("message".into()), data: "{\"a\":\n1}".into() },
                SseEvent { event: None, data: "x".into() }
            ]
        );
    }

    #[test]
    fn an_event_past_the_bound_is_refused() {
        let mut decoder = SseDecoder::new(16);
        assert_eq!(decoder.push(&[b'a'; 32]), Err(EventTooLarge));
    }
}
