//! One error type for every handler, answered as RFC 9457 `application/problem+json`. Store
//! and engine failures become a 500 whose detail says nothing about the internals (they are
//! logged instead); everything a client can cause is a 4xx.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use sluice_engine::StoreError;
use sluice_flow::{Diagnostic, SourceMap};

/// A problem in a flow file, where it is and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowError {
    /// 1-based; None for problems about the whole document.
    pub line: Option<usize>,
    pub column: Option<usize>,
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
    /// The server is not configured to answer this (a webhook's signing secret is not set):
    /// not the client's fault, so a 5xx, but one that says what is missing.
    #[error("{0}")]
    Unavailable(String),
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
            other => ApiError::Internal(other.to_string()),
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
                let position = d.position.or_else(|| source.locate(&d.pointer, d.at_key).map(|s| s.start));
                FlowError {
                    line: position.map(|p| p.0),
                    column: position.map(|p| p.1),
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
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            ApiError::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::InvalidFlow { .. } => ("invalid-flow", "Invalid flow"),
            ApiError::InvalidInputs(_) => ("invalid-inputs", "Invalid inputs"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
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
            | ApiError::Unavailable(detail) => doc["detail"] = json!(detail),
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
            ApiError::Unavailable(message) => tracing::error!("cannot answer: {message}"),
            _ => {}
        }
        let mut response = (self.status(), self.problem().to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
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
