//! Wall-clock timestamps for wire formats and records (RFC 3339, UTC).

use time::format_description::well_known::Rfc3339;

/// The current UTC time as RFC 3339.
#[must_use]
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}
