//! Inputs of a start request: a JSON object, or `multipart/form-data` when the flow takes
//! `file` inputs. In a multipart body each part is named after an input: a part with a file
//! name is a file (streamed to a private temporary directory; the engine copies it into the
//! execution's workspace and keeps it as an artifact), any other part is the input's text.

use std::collections::BTreeMap;

use axum::body::HttpBody;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use sluice_flow::inputs::RawInput;
use sluice_flow::{Input, InputType};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

use crate::error::{ApiError, human_size, json_object, read_body};
use crate::limits::{BodyLimits, INPUTS_BODY_LIMIT};

/// The inputs, and the directory holding uploaded files until the execution has copied them.
pub struct StartInputs {
    pub inputs: BTreeMap<String, RawInput>,
    /// The inputs that arrived as uploaded files.
    uploaded: Vec<String>,
    pub _uploads: Option<TempDir>,
}

impl StartInputs {
    /// Refuses a `file` input that is not an upload: a path in JSON or text would make the
    /// server read its own files into the execution.
    pub fn check_files(&self, declared: &[Input]) -> Result<(), ApiError> {
        let errors: Vec<String> = declared
            .iter()
            .filter(|d| d.kind == InputType::File)
            .filter(|d| self.inputs.contains_key(&d.id) && !self.uploaded.contains(&d.id))
            .map(|d| {
                format!(
                    "input `{}`: a file input must be uploaded as a multipart/form-data part with a file name",
                    d.id
                )
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(ApiError::InvalidInputs(errors)) }
    }
}

pub fn is_multipart(request: &Request) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Inputs from a JSON object body (a start or a resume).
pub fn json_inputs(body: &[u8]) -> Result<BTreeMap<String, RawInput>, ApiError> {
    Ok(json_object(body)?.into_iter().map(|(k, v)| (k, RawInput::Json(v))).collect())
}

/// Reads the inputs from the request body. Files are streamed to disk as they arrive; the
/// whole multipart body may be at most `limits.upload`, a JSON body or a text part at most
/// [`INPUTS_BODY_LIMIT`].
pub async fn start_inputs(request: Request, limits: &BodyLimits) -> Result<StartInputs, ApiError> {
    if !is_multipart(&request) {
        let body = read_body(request.into_body(), INPUTS_BODY_LIMIT, "a JSON object of inputs").await?;
        let inputs = json_inputs(&body)?;
        return Ok(StartInputs { inputs, uploaded: Vec::new(), _uploads: None });
    }
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the upload is too large: this server takes multipart starts of at most {} \
             (`sluice server --max-upload-size`)",
            limits.upload_text()
        ))
    };
    if request.body().size_hint().lower() > limits.upload {
        return Err(too_large());
    }
    // The route's `DefaultBodyLimit` (the upload limit) caps the stream.
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::BadRequest(format!("invalid multipart body: {}", e.body_text())))?;
    let bad = |e: MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::BadRequest(format!("invalid multipart body: {}", e.body_text()))
        }
    };
    let uploads = tempfile::Builder::new()
        .prefix("sluice-upload-")
        .tempdir()
        .map_err(|e| ApiError::Internal(format!("cannot create a directory for uploads: {e}")))?;
    let mut inputs = BTreeMap::new();
    let mut uploaded = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let Some(name) = field.name().map(str::to_owned) else {
            return Err(ApiError::BadRequest(
                "a multipart part has no name; name each part after its input".into(),
            ));
        };
        if inputs.contains_key(&name) {
            return Err(ApiError::BadRequest(format!("input `{name}` is given twice")));
        }
        let value = match field.file_name().map(safe_file_name) {
            Some(file_name) => {
                // One directory per input, so two inputs may upload files of the same name.
                let dir = uploads.path().join(&name);
                let path = dir.join(file_name);
                let io = |e: std::io::Error| {
                    ApiError::Internal(format!("cannot store the upload of `{name}`: {e}"))
                };
                tokio::fs::create_dir_all(&dir).await.map_err(io)?;
                let mut file = tokio::fs::File::create(&path).await.map_err(io)?;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    file.write_all(&chunk).await.map_err(io)?;
                }
                file.flush().await.map_err(io)?;
                uploaded.push(name.clone());
                RawInput::Text(path.to_string_lossy().into_owned())
            }
            None => {
                let mut text = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    if text.len() + chunk.len() > INPUTS_BODY_LIMIT {
                        return Err(ApiError::PayloadTooLarge(format!(
                            "input `{name}` is too large: a text part may be at most {}; send large content as a file",
                            human_size(INPUTS_BODY_LIMIT as u64)
                        )));
                    }
                    text.extend_from_slice(&chunk);
                }
                RawInput::Text(String::from_utf8(text).map_err(|_| {
                    ApiError::BadRequest(format!(
                        "input `{name}` is not UTF-8 text; send a file with a file name"
                    ))
                })?)
            }
        };
        inputs.insert(name, value);
    }
    Ok(StartInputs { inputs, uploaded, _uploads: Some(uploads) })
}

/// The last path component of a client-given file name, never empty, `.` or `..`.
fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    match last {
        "" | "." | ".." => "upload".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn file_names_cannot_leave_the_upload_directory() {
        assert_eq!(safe_file_name("report.xml"), "report.xml");
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\temp\\a.txt"), "a.txt");
        assert_eq!(safe_file_name(".."), "upload");
        assert_eq!(safe_file_name("dir/"), "upload");
    }
}
