//! Reading Server-Sent Events out of a response body as it arrives; shared by the server's
//! router tests and the CLI's tests of the real binary (included by path in both).

use serde_json::Value;

/// One Server-Sent Event: its name, id and JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

/// Takes the next whole event out of `buffer`, skipping keep-alive comments (they carry no
/// data); None until the buffer holds one.
pub fn take_event(buffer: &mut String) -> Option<SseEvent> {
    while let Some(end) = buffer.find("\n\n") {
        let block: String = buffer.drain(..end + 2).collect();
        let mut event = SseEvent { event: "message".into(), id: None, data: Value::Null };
        let mut data = None;
        for line in block.lines() {
            if let Some(name) = line.strip_prefix("event: ") {
                event.event = name.to_owned();
            } else if let Some(id) = line.strip_prefix("id: ") {
                event.id = Some(id.to_owned());
            } else if let Some(text) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(text).expect("SSE data is JSON"));
            }
        }
        if let Some(data) = data {
            event.data = data;
            return Some(event);
        }
    }
    None
}
