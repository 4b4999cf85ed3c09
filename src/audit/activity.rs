//! Activity over a recent window of the audit log, the numbers behind the control panel's charts
//! (`GET /admin/activity`): for every tool and in total, the calls, the errors (every outcome but `ok`,
//! `tool_error` included), the error rate, p50 and p99 latency, the count of each outcome, and the same per time
//! bucket.
//!
//! Percentiles are nearest-rank over the calls' durations: with the `n` durations sorted ascending, the p-th
//! percentile is the one at rank `ceil(p / 100 * n)` (1-based), so it is always a duration that was measured.
//!
//! Buckets are aligned to multiples of their length since the Unix epoch; the last one holds the current time
//! (it is partial), and the window is the run of buckets that ends with it. The work is bounded: a window of at
//! most a day in at most [`MAX_BUCKETS`] buckets, and at most [`MAX_ROWS`] rows read (the newest, through the
//! `audit_time` index); a window holding more is `truncated`, and `covered_from` says where the rows read start.
//! At most [`MAX_TOOLS`] tools are listed (the busiest); `tools_omitted` counts the rest, which the totals include.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::format_ms;

/// The longest window, in seconds.
pub const MAX_WINDOW_SECS: u32 = 86_400;
/// The most buckets in a window.
pub const MAX_BUCKETS: u32 = 1_440;
/// The most audit rows one summary reads.
pub const MAX_ROWS: usize = 200_000;
/// The most tools a summary lists.
pub const MAX_TOOLS: usize = 100;

/// The window to summarise: `buckets` buckets of `bucket_ms` starting at `from_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityQuery {
    /// Milliseconds since the Unix epoch, inclusive.
    pub from_ms: i64,
    /// Milliseconds since the Unix epoch, exclusive: the end of the last bucket.
    pub until_ms: i64,
    pub bucket_ms: i64,
    pub buckets: usize,
    /// Rows read at most ([`MAX_ROWS`] outside tests).
    pub max_rows: usize,
}

impl ActivityQuery {
    /// The window of `window_secs` whose last bucket of `bucket_secs` holds `now_ms`. The window must be a
    /// multiple of the bucket, at most [`MAX_WINDOW_SECS`] long and at most [`MAX_BUCKETS`] buckets.
    pub fn ending_at(now_ms: i64, window_secs: u32, bucket_secs: u32) -> Result<Self, String> {
        if bucket_secs == 0 || window_secs < bucket_secs || window_secs % bucket_secs != 0 {
            return Err(format!("`window` ({window_secs} s) must be a multiple of `bucket` ({bucket_secs} s)"));
        }
        if window_secs > MAX_WINDOW_SECS {
            return Err(format!("`window` must be at most {MAX_WINDOW_SECS} s"));
        }
        let buckets = window_secs / bucket_secs;
        if buckets > MAX_BUCKETS {
            return Err(format!("`window` / `bucket` makes {buckets} buckets; at most {MAX_BUCKETS}"));
        }
        let bucket_ms = i64::from(bucket_secs) * 1000;
        let end_ms = (now_ms.div_euclid(bucket_ms) + 1) * bucket_ms;
        let buckets = usize::try_from(buckets).map_err(|e| e.to_string())?;
        let from_ms = end_ms - i64::from(window_secs) * 1000;
        Ok(Self { from_ms, until_ms: end_ms, bucket_ms, buckets, max_rows: MAX_ROWS })
    }

    /// The rows a backend reads at most: one past the cap, so a window holding more is seen to.
    pub(super) fn row_limit(&self) -> i64 {
        i64::try_from(self.max_rows.saturating_add(1)).unwrap_or(i64::MAX)
    }
}

/// The summary of a window, as `GET /admin/activity` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    /// Start of the first bucket (RFC 3339).
    pub from: String,
    /// End of the last bucket (RFC 3339, exclusive; the current bucket is partial).
    pub until: String,
    pub window_secs: i64,
    pub bucket_secs: i64,
    pub buckets: usize,
    /// Audit rows summarised.
    pub rows: usize,
    /// The window held more than [`MAX_ROWS`] rows: only the newest were read.
    pub truncated: bool,
    /// When truncated: the time of the oldest row read (RFC 3339); earlier buckets are incomplete.
    pub covered_from: Option<String>,
    /// Every call in the window.
    pub totals: Summary,
    /// The busiest tools first (then by name).
    pub tools: Vec<ToolActivity>,
    /// Tools past [`MAX_TOOLS`], left out of `tools` (their calls are in `totals`).
    pub tools_omitted: usize,
}

/// One tool's share of the window.
#[derive(Debug, Clone, Serialize)]
pub struct ToolActivity {
    pub tool: String,
    #[serde(flatten)]
    pub summary: Summary,
}

/// Calls, errors and latency of a set of calls, overall and per bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub calls: u64,
    /// Calls whose outcome is not `ok`.
    pub errors: u64,
    /// `errors / calls`; null without calls.
    pub error_rate: Option<f64>,
    /// Nearest-rank percentiles of the durations in milliseconds; null without calls.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Calls per outcome (`ok`, `tool_error`, error codes).
    pub outcomes: BTreeMap<String, u64>,
    /// The same, one entry per bucket, oldest first.
    pub series: Series,
}

/// Per-bucket numbers, oldest bucket first.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub calls: Vec<u64>,
    pub errors: Vec<u64>,
    pub p50_ms: Vec<Option<f64>>,
    pub p99_ms: Vec<Option<f64>>,
}

/// One call as the summary needs it.
#[derive(Debug, Clone, Copy)]
struct Sample {
    bucket: usize,
    duration_ms: f64,
    error: bool,
}

/// The calls of one tool (or of all), gathered while rows are read. Memory grows with the rows, never with
/// tools x buckets: a window full of distinct (say unknown) tool names costs what its rows cost.
#[derive(Debug, Default)]
struct Tally {
    samples: Vec<Sample>,
    outcomes: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, sample: Sample, outcome: &str) {
        self.samples.push(sample);
        match self.outcomes.get_mut(outcome) {
            Some(count) => *count += 1,
            None => {
                self.outcomes.insert(outcome.to_owned(), 1);
            }
        }
    }

    fn finish(mut self, buckets: usize) -> Summary {
        let mut series = Series {
            calls: vec![0; buckets],
            errors: vec![0; buckets],
            p50_ms: vec![None; buckets],
            p99_ms: vec![None; buckets],
        };
        self.samples.sort_by(|a, b| a.bucket.cmp(&b.bucket).then(a.duration_ms.total_cmp(&b.duration_ms)));
        for run in self.samples.chunk_by(|a, b| a.bucket == b.bucket) {
            let (bucket, durations) = (run[0].bucket, run.iter().map(|s| s.duration_ms).collect::<Vec<_>>());
            series.calls[bucket] = run.len() as u64;
            series.errors[bucket] = run.iter().filter(|s| s.error).count() as u64;
            series.p50_ms[bucket] = nearest_rank(&durations, 50);
            series.p99_ms[bucket] = nearest_rank(&durations, 99);
        }
        let mut all: Vec<f64> = self.samples.iter().map(|s| s.duration_ms).collect();
        all.sort_by(f64::total_cmp);
        let calls = all.len() as u64;
        let errors: u64 = series.errors.iter().sum();
        Summary {
            calls,
            errors,
            error_rate: (calls > 0).then(|| errors as f64 / calls as f64),
            p50_ms: nearest_rank(&all, 50),
            p99_ms: nearest_rank(&all, 99),
            outcomes: self.outcomes,
            series,
        }
    }
}

/// The nearest-rank `p`-th percentile of `sorted` (ascending): the value at rank `ceil(p / 100 * n)`.
fn nearest_rank(sorted: &[f64], p: usize) -> Option<f64> {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A window's rows, newest first, folded into its summary as they are read (each backend reads them its own
/// way, at most [`ActivityQuery::row_limit`] of them).
pub(super) struct Summariser<'q> {
    query: &'q ActivityQuery,
    totals: Tally,
    tools: HashMap<String, Tally>,
    read: usize,
    truncated: bool,
    oldest: Option<i64>,
}

impl<'q> Summariser<'q> {
    pub(super) fn new(query: &'q ActivityQuery) -> Self {
        Self { query, totals: Tally::default(), tools: HashMap::new(), read: 0, truncated: false, oldest: None }
    }

    /// Count one row; false once the window holds more than the cap (this row is not counted: stop reading).
    pub(super) fn add(&mut self, time_ms: i64, tool: String, outcome: &str, duration_ms: f64) -> bool {
        if self.read == self.query.max_rows {
            self.truncated = true;
            return false;
        }
        let bucket = usize::try_from((time_ms - self.query.from_ms) / self.query.bucket_ms).unwrap_or(0);
        let sample = Sample { bucket: bucket.min(self.query.buckets - 1), duration_ms, error: outcome != "ok" };
        self.totals.add(sample, outcome);
        self.tools.entry(tool).or_default().add(sample, outcome);
        self.read += 1;
        self.oldest = Some(time_ms);
        true
    }

    pub(super) fn finish(self) -> Activity {
        let query = self.query;
        let mut tools: Vec<(String, Tally)> = self.tools.into_iter().collect();
        tools
            .sort_by(|(a_name, a), (b_name, b)| b.samples.len().cmp(&a.samples.len()).then_with(|| a_name.cmp(b_name)));
        let tools_omitted = tools.len().saturating_sub(MAX_TOOLS);
        tools.truncate(MAX_TOOLS);
        Activity {
            from: format_ms(query.from_ms),
            until: format_ms(query.until_ms),
            window_secs: (query.until_ms - query.from_ms) / 1000,
            bucket_secs: query.bucket_ms / 1000,
            buckets: query.buckets,
            rows: self.read,
            truncated: self.truncated,
            covered_from: if self.truncated { self.oldest.map(format_ms) } else { None },
            totals: self.totals.finish(query.buckets),
            tools: tools
                .into_iter()
                .map(|(tool, tally)| ToolActivity { tool, summary: tally.finish(query.buckets) })
                .collect(),
            tools_omitted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::entry;
    use super::super::{AuditEntry, AuditLog, parse_rfc3339_ms};
    use super::*;

    const HOUR: &str = "2026-03-01T10:00:00Z";

    fn at(offset_secs: i64) -> i64 {
        parse_rfc3339_ms(HOUR).unwrap() + offset_secs * 1000
    }

    fn call(tool: &str, offset_secs: i64, outcome: &str, duration_ms: f64) -> AuditEntry {
        AuditEntry { time_ms: at(offset_secs), duration_ms, ..entry(tool, HOUR, outcome) }
    }

    fn log_with(entries: Vec<AuditEntry>) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.db"), 36_500).unwrap();
        for e in entries {
            assert!(log.record(e));
        }
        log.close();
        (dir, log)
    }

    /// The hour starting at [`HOUR`] in minutes, as seen at its last second.
    fn the_hour() -> ActivityQuery {
        ActivityQuery::ending_at(at(3599), 3600, 60).unwrap()
    }

    #[test]
    fn nearest_rank_picks_a_measured_value() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(nearest_rank(&ten, 50), Some(5.0));
        assert_eq!(nearest_rank(&ten, 99), Some(10.0));
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&hundred, 50), Some(50.0));
        assert_eq!(nearest_rank(&hundred, 99), Some(99.0));
        assert_eq!(nearest_rank(&[7.5], 50), Some(7.5));
        assert_eq!(nearest_rank(&[7.5], 99), Some(7.5));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn windows_are_whole_buckets_ending_with_the_current_one() {
        let q = the_hour();
        assert_eq!((q.from_ms, q.until_ms, q.buckets), (at(0), at(3600), 60));
        let q = ActivityQuery::ending_at(at(90), 300, 60).unwrap();
        assert_eq!((q.from_ms, q.until_ms, q.buckets), (at(-180), at(120), 5));
        for (window, bucket) in [(3600, 0), (3600, 7), (30, 60), (172_800, 3600), (86_400, 10)] {
            assert!(ActivityQuery::ending_at(at(0), window, bucket).is_err(), "window {window} bucket {bucket}");
        }
    }

    #[tokio::test]
    async fn calls_errors_and_percentiles_per_tool_and_per_bucket() {
        let mut entries = Vec::new();
        // ping: 10 calls in the first minute, 1..=10 ms, all ok.
        for i in 1..=10 {
            entries.push(call("ping", 5, "ok", f64::from(i)));
        }
        // search: 3 in minute 2 (one tool_error), 1 in minute 59 (upstream_error).
        entries.push(call("search", 125, "ok", 40.0));
        entries.push(call("search", 130, "tool_error", 10.0));
        entries.push(call("search", 170, "ok", 20.0));
        entries.push(call("search", 3590, "upstream_error", 80.0));
        // Outside the window on both sides.
        entries.push(call("ping", -1, "ok", 500.0));
        entries.push(call("ping", 3600, "ok", 500.0));
        let (_dir, log) = log_with(entries);
        let activity = log.activity(&the_hour()).await.unwrap();
        assert_eq!((activity.from.as_str(), activity.until.as_str()), ("2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"));
        assert_eq!((activity.rows, activity.truncated, activity.tools_omitted), (14, false, 0));
        let t = &activity.totals;
        assert_eq!((t.calls, t.errors, t.error_rate), (14, 2, Some(2.0 / 14.0)));
        // All 14 sorted: 1..=10, 10, 20, 40, 80 -> rank 7 is 7, rank 14 is 80.
        assert_eq!((t.p50_ms, t.p99_ms), (Some(7.0), Some(80.0)));
        assert_eq!(
            t.outcomes,
            BTreeMap::from([("ok".into(), 12), ("tool_error".into(), 1), ("upstream_error".into(), 1)])
        );

        let names: Vec<&str> = activity.tools.iter().map(|t| t.tool.as_str()).collect();
        assert_eq!(names, ["ping", "search"], "busiest first");
        let ping = &activity.tools[0].summary;
        assert_eq!(
            (ping.calls, ping.errors, ping.error_rate, ping.p50_ms, ping.p99_ms),
            (10, 0, Some(0.0), Some(5.0), Some(10.0))
        );
        assert_eq!(ping.series.calls.len(), 60);
        assert_eq!((ping.series.calls[0], ping.series.p50_ms[0], ping.series.p99_ms[0]), (10, Some(5.0), Some(10.0)));
        assert_eq!((ping.series.calls[1], ping.series.p50_ms[1]), (0, None));
        let search = &activity.tools[1].summary;
        assert_eq!((search.calls, search.errors, search.error_rate), (4, 2, Some(0.5)));
        // Sorted 10, 20, 40, 80: p50 is rank 2, p99 rank 4.
        assert_eq!((search.p50_ms, search.p99_ms), (Some(20.0), Some(80.0)));
        assert_eq!((search.series.calls[2], search.series.errors[2]), (3, 1));
        assert_eq!((search.series.p50_ms[2], search.series.p99_ms[2]), (Some(20.0), Some(40.0)));
        assert_eq!((search.series.calls[59], search.series.errors[59], search.series.p99_ms[59]), (1, 1, Some(80.0)));
        assert_eq!(search.series.calls.iter().sum::<u64>(), 4);
    }

    #[tokio::test]
    async fn an_empty_window_has_zero_calls_and_no_percentiles() {
        let (_dir, log) = log_with(vec![call("ping", -10, "ok", 1.0)]);
        let activity = log.activity(&the_hour()).await.unwrap();
        assert_eq!((activity.rows, activity.totals.calls, activity.totals.errors), (0, 0, 0));
        assert_eq!((activity.totals.error_rate, activity.totals.p50_ms, activity.totals.p99_ms), (None, None, None));
        assert!(activity.tools.is_empty());
        assert_eq!(activity.totals.series.calls, vec![0; 60]);
    }

    #[tokio::test]
    async fn a_window_past_the_row_cap_reads_the_newest_rows_and_says_so() {
        let entries = (0..5).map(|i| call("ping", i * 60, "ok", 1.0)).collect();
        let (_dir, log) = log_with(entries);
        let activity = log.activity(&ActivityQuery { max_rows: 3, ..the_hour() }).await.unwrap();
        assert_eq!((activity.rows, activity.truncated, activity.totals.calls), (3, true, 3));
        assert_eq!(activity.covered_from.as_deref(), Some("2026-03-01T10:02:00Z"));
        assert_eq!(&activity.totals.series.calls[..5], &[0, 0, 1, 1, 1]);
        let exact = log.activity(&ActivityQuery { max_rows: 5, ..the_hour() }).await.unwrap();
        assert_eq!((exact.rows, exact.truncated, exact.covered_from), (5, false, None));
    }

    #[tokio::test]
    async fn tools_past_the_cap_are_counted_not_listed() {
        let entries = (0..=MAX_TOOLS).map(|i| call(&format!("tool_{i:03}"), 1, "ok", 1.0)).collect();
        let (_dir, log) = log_with(entries);
        let activity = log.activity(&the_hour()).await.unwrap();
        assert_eq!((activity.tools.len(), activity.tools_omitted), (MAX_TOOLS, 1));
        assert_eq!(activity.totals.calls, MAX_TOOLS as u64 + 1);
        assert_eq!(activity.tools[0].tool, "tool_000", "ties in name order");
    }
}
