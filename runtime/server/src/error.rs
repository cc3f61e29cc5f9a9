//! One error type for every handler, answered as RFC 9457 `application/problem+json`. Store
//! and engine failures become a 500 whose detail says nothing about the internals (they are
//! logged instead); everything a client can cause is a 4xx. The one deliberate 5xx a client
//! sees is 503 while the server drains for a shutdown.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use sluice_engine::StoreError;
use sluice_flow::{Diagnostic, SourceMap, Span};
use tokio_stream::StreamExt;

/// A problem in a flow file, where it is and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowError {
    /// 1-based; None for problems about the whole document.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The column just past what `sluice validate` underlines on `line` (at least one character).
    #[serde(rename = "endColumn")]
    pub end_column: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A webhook request whose signature is missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// A request without a token (or with one that is unknown, expired or revoked) on a server
    /// that needs one: a 401 that says how to authenticate (`WWW-Authenticate: Bearer`).
    #[error("{0}")]
    NeedsToken(String),
    /// A webhook that cannot take any request until the operator configures it (its signing
    /// secret is not set): refused as a 4xx, since nothing is wrong with the server itself, and
    /// logged for the operator.
    #[error("{0}")]
    Forbidden(String),
    /// A body over the route's limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The server is draining for a shutdown (or not ready yet): try again later.
    #[error("{0}")]
    Unavailable(String),
    /// A request axum refused before a handler ran (or any other plain error answer), with
    /// its status and words.
    #[error("{detail}")]
    Rejected { status: StatusCode, detail: String },
    /// A flow that does not parse or validate: positioned errors plus the text `sluice
    /// validate` prints.
    #[error("the flow is invalid")]
    InvalidFlow { errors: Vec<FlowError>, rendered: String },
    /// Inputs (of a start or a resume) that do not match their declarations, one line each.
    #[error("invalid inputs")]
    InvalidInputs(Vec<String>),
    /// Something wrong on our side; the message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sluice_engine::scheduler::StartError> for ApiError {
    fn from(error: sluice_engine::scheduler::StartError) -> Self {
        use sluice_engine::scheduler::StartError;
        match error {
            StartError::Inputs(errors) => {
                ApiError::InvalidInputs(errors.iter().map(ToString::to_string).collect())
            }
            StartError::Disabled(name) => {
                ApiError::Conflict(format!("flow {name} is disabled (`disabled: true`); enable it to run it"))
            }
            StartError::ShuttingDown => ApiError::Unavailable(StartError::ShuttingDown.to_string()),
            error @ StartError::SecretInputsElsewhere { .. } => ApiError::Conflict(error.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<sluice_engine::scheduler::ResumeError> for ApiError {
    /// Inputs that do not match are a 422, one line per input; anything else (not running,
    /// nothing paused, not that run) is a conflict with the state of the execution.
    fn from(error: sluice_engine::scheduler::ResumeError) -> Self {
        use sluice_engine::scheduler::ResumeError;
        match error {
            ResumeError::Inputs(errors) => {
                ApiError::InvalidInputs(errors.iter().map(ToString::to_string).collect())
            }
            ResumeError::NotRunning(_)
            | ResumeError::Ended(_)
            | ResumeError::NotPaused(_)
            | ResumeError::NothingPaused
            | ResumeError::SeveralPaused(_) => ApiError::Conflict(error.to_string()),
            ResumeError::Store(error) => error.into(),
        }
    }
}

/// The file name flow bodies are reported under.
pub const BODY_FILE_NAME: &str = "flow.yaml";

impl ApiError {
    pub fn invalid_flow(diagnostics: &[Diagnostic], text: &str) -> ApiError {
        let source = SourceMap::new(BODY_FILE_NAME, text);
        let mut errors: Vec<FlowError> = diagnostics
            .iter()
            .map(|d| {
                let span = match d.position {
                    Some(position) => Some(Span::at(position)),
                    None => source.locate(&d.pointer, d.at_key),
                };
                let columns = span.map(|s| match source.line(s.start.0) {
                    Some(line) => sluice_flow::underlined_columns(line.trim_end(), s),
                    None => (s.start.1, s.start.1 + 1),
                });
                FlowError {
                    line: span.map(|s| s.start.0),
                    column: columns.map(|c| c.0),
                    end_column: columns.map(|c| c.1),
                    message: d.message.clone(),
                    hint: d.hint.clone(),
                }
            })
            .collect();
        // The order `render` prints them in: document-wide first, then by position.
        errors.sort_by_key(|e| e.line.zip(e.column));
        ApiError::InvalidFlow { errors, rendered: sluice_flow::render_source(diagnostics, &source) }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized(_) | ApiError::NeedsToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Rejected { status, .. } => *status,
            ApiError::InvalidFlow { .. } | ApiError::InvalidInputs(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document.
    pub fn problem(&self) -> Value {
        let status = self.status();
        let (kind, title) = match self {
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::Unauthorized(_) | ApiError::NeedsToken(_) => ("unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "Payload too large"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::InvalidFlow { .. } => ("invalid-flow", "Invalid flow"),
            ApiError::InvalidInputs(_) => ("invalid-inputs", "Invalid inputs"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
            ApiError::Rejected { status, .. } => status_kind(*status),
        };
        let mut doc = json!({
            "type": format!("https://sluice.dev/problems/{kind}"),
            "title": title,
            "status": status.as_u16(),
        });
        match self {
            ApiError::BadRequest(detail)
            | ApiError::NotFound(detail)
            | ApiError::Conflict(detail)
            | ApiError::MethodNotAllowed(detail)
            | ApiError::Unauthorized(detail)
            | ApiError::NeedsToken(detail)
            | ApiError::Forbidden(detail)
            | ApiError::PayloadTooLarge(detail)
            | ApiError::Unavailable(detail)
            | ApiError::Rejected { detail, .. } => doc["detail"] = json!(detail),
            ApiError::InvalidFlow { errors, rendered } => {
                let count = errors.len();
                doc["detail"] =
                    json!(format!("the flow has {count} error{}", if count == 1 { "" } else { "s" }));
                doc["errors"] = json!(errors);
                doc["rendered"] = json!(rendered);
            }
            ApiError::InvalidInputs(errors) => {
                doc["detail"] = json!(errors.join("\n"));
                doc["errors"] = json!(errors);
            }
            ApiError::Internal(_) => doc["detail"] = json!("the server failed to answer; see its log"),
        }
        doc
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(message) => tracing::error!("request failed: {message}"),
            ApiError::Rejected { status, detail } if status.is_server_error() => {
                tracing::error!("request failed: {detail}")
            }
            _ => {}
        }
        let mut response = (self.status(), self.problem().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if matches!(self, ApiError::NeedsToken(_)) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sluice\""));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    /// Every store failure is ours, the disk's under the workspaces included: a 500; a database
    /// that cannot be reached now is a 503 (try again).
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ApiError::Unavailable(error.to_string()),
            // Another server drives the execution now: the request raced a takeover.
            StoreError::LeaseLost(_) => ApiError::Conflict(error.to_string()),
            StoreError::NotFound(_)
            | StoreError::Conflict(_)
            | StoreError::Corrupt(_)
            | StoreError::Database(_)
            | StoreError::Workspace { .. } => ApiError::Internal(error.to_string()),
        }
    }
}

/// The `type` slug and title of a problem known only by its status.
fn status_kind(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad-request", "Bad request"),
        401 => ("unauthorized", "Unauthorized"),
        403 => ("forbidden", "Forbidden"),
        404 => ("not-found", "Not found"),
        405 => ("method-not-allowed", "Method not allowed"),
        406 => ("not-acceptable", "Not acceptable"),
        408 => ("request-timeout", "Request timeout"),
        409 => ("conflict", "Conflict"),
        411 => ("length-required", "Length required"),
        413 => ("payload-too-large", "Payload too large"),
        414 => ("uri-too-long", "URI too long"),
        415 => ("unsupported-media-type", "Unsupported media type"),
        422 => ("unprocessable", "Unprocessable content"),
        431 => ("headers-too-large", "Request header fields too large"),
        503 => ("unavailable", "Service unavailable"),
        code if code >= 500 => ("internal", "Internal server error"),
        _ => ("client-error", "Client error"),
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        // Only a route written wrong fails to find its own parameters: that one is ours.
        if rejection.status().is_server_error() {
            return ApiError::Internal(rejection.body_text());
        }
        ApiError::BadRequest(rejection.body_text())
    }
}

/// `bytes` in the largest unit that divides it evenly (`1 MiB`, `25 MiB`, `1500 bytes`).
pub fn human_size(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

/// The whole body, refused with a 413 as soon as it is known to be over `limit` bytes (from
/// its announced length when there is one, else once that much has arrived). `what` names the
/// body in the refusal (`a flow`, `a webhook request`).
pub async fn read_body(body: Body, limit: usize, what: &str) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the body is too large: {what} may be at most {}",
            human_size(limit as u64)
        ))
    };
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// Makes every error answer a problem document: those the handlers give already are; the rest
/// (axum's own refusals, anything a layer answers in plain text) are rewritten with their status
/// and their text as the detail.
pub async fn problem_for_every_error(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let ui_page = response.extensions().get::<crate::ui::UiPage>().is_some();
    if !(status.is_client_error() || status.is_server_error()) || is_problem || ui_page {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return ApiError::Internal(text).into_response();
    }
    let detail = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { text };
    ApiError::Rejected { status, detail }.into_response()
}

/// The body as UTF-8 text.
pub fn text_body(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("the body is not UTF-8 text".into()))
}

/// The body as a JSON object of inputs; an empty body is no inputs.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest("the body must be a JSON object of inputs".into())),
        Err(err) => Err(ApiError::BadRequest(format!("the body is not JSON: {err}"))),
    }
}
