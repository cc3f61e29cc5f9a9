//! How large a request body each kind of route accepts. A body over its limit is refused with a
//! 413 problem before it is read further.

use crate::error::human_size;

/// A flow's YAML (deploy, update, validate).
pub const FLOW_BODY_LIMIT: usize = 1 << 20;
/// A JSON object of inputs (a start, a resume), and each text part of a multipart start.
pub const INPUTS_BODY_LIMIT: usize = 1 << 20;
/// A webhook request: GitHub sends payloads of up to 25 MB.
pub const WEBHOOK_BODY_LIMIT: usize = 25 << 20;
/// The default of `--max-upload-size`: a whole multipart start, files included.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 100 << 20;

/// The limits that a server's operator may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// A multipart start request, every part together (files are streamed to disk).
    pub upload: u64,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits { upload: DEFAULT_UPLOAD_LIMIT }
    }
}

impl BodyLimits {
    /// The upload limit as axum takes it (saturating on 32-bit targets).
    pub fn upload_bytes(&self) -> usize {
        usize::try_from(self.upload).unwrap_or(usize::MAX)
    }

    pub fn upload_text(&self) -> String {
        human_size(self.upload)
    }
}
