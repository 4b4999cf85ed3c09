//! Protocol versions: which ones the gateway speaks, negotiation at `initialize`, and the
//! `MCP-Protocol-Version` header rules.
//!
//! The handshake era (2024-11-05 through 2025-11-25) is served by this crate's dispatcher. The stateless
//! "modern" protocol (2026-07-28) is recognised separately, so that it can become its own module; today a
//! modern request gets the fallback answer from [`super::modern`].

/// A handshake-era protocol version the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProtocolVersion {
    V2024_11_05,
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
}

/// The modern, stateless protocol version.
pub const MODERN: &str = "2026-07-28";

impl ProtocolVersion {
    /// Newest first.
    pub const SUPPORTED: [Self; 4] = [Self::V2025_11_25, Self::V2025_06_18, Self::V2025_03_26, Self::V2024_11_05];
    pub const LATEST: Self = Self::V2025_11_25;
    /// Assumed when a request after initialization carries no version header.
    pub const HEADERLESS_DEFAULT: Self = Self::V2025_03_26;

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::SUPPORTED.into_iter().find(|v| v.as_str() == text)
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2024_11_05 => "2024-11-05",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
        }
    }

    /// Echo the client's version when spoken, otherwise offer the newest.
    #[must_use]
    pub fn negotiate(requested: Option<&str>) -> Self {
        requested.and_then(Self::parse).unwrap_or(Self::LATEST)
    }

    /// JSON-RPC batches exist only in 2025-03-26 (and the legacy 2024-11-05 transport).
    #[must_use]
    pub fn allows_batches(self) -> bool {
        matches!(self, Self::V2024_11_05 | Self::V2025_03_26)
    }

    /// A comma list of supported versions, for messages.
    #[must_use]
    pub fn supported_list() -> String {
        Self::SUPPORTED.map(Self::as_str).join(", ")
    }
}

/// What the `MCP-Protocol-Version` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionHeader {
    Missing,
    Handshake(ProtocolVersion),
    Modern,
    Unsupported(String),
}

impl VersionHeader {
    #[must_use]
    pub fn read(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None | Some("") => Self::Missing,
            Some(MODERN) => Self::Modern,
            Some(v) => ProtocolVersion::parse(v).map_or_else(|| Self::Unsupported(v.to_owned()), Self::Handshake),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_known_and_offers_latest_otherwise() {
        assert_eq!(ProtocolVersion::negotiate(Some("2025-06-18")), ProtocolVersion::V2025_06_18);
        assert_eq!(ProtocolVersion::negotiate(Some("2099-01-01")), ProtocolVersion::LATEST);
        assert_eq!(ProtocolVersion::negotiate(None), ProtocolVersion::LATEST);
    }

    #[test]
    fn header_distinguishes_modern_and_unsupported() {
        assert_eq!(VersionHeader::read(Some("2026-07-28")), VersionHeader::Modern);
        assert_eq!(VersionHeader::read(Some("1999-01-01")), VersionHeader::Unsupported("1999-01-01".into()));
        assert_eq!(VersionHeader::read(None), VersionHeader::Missing);
        assert!(ProtocolVersion::V2025_03_26.allows_batches());
        assert!(!ProtocolVersion::V2025_06_18.allows_batches());
    }
}
