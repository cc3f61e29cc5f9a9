//! `?label=key:value` filters; several are comma-separated (`label=team:ci,env:prod`) and must
//! all match.

use serde::Deserialize;

use crate::error::ApiError;

/// The raw `label` query value.
#[derive(Debug, Default, Deserialize)]
pub struct LabelQuery {
    #[serde(default)]
    label: Option<String>,
}

/// `key:value` pairs; a value without a colon is a 400.
pub fn parse_labels(query: &LabelQuery) -> Result<Vec<(String, String)>, ApiError> {
    let mut labels = Vec::new();
    for pair in query.label.iter().flat_map(|l| l.split(',')) {
        let (key, value) = pair
            .split_once(':')
            .ok_or_else(|| ApiError::BadRequest(format!("label `{pair}` must be `key:value`")))?;
        labels.push((key.to_owned(), value.to_owned()));
    }
    Ok(labels)
}
