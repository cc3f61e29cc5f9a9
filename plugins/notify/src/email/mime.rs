//! The message as RFC 5322 + MIME, built with mail-builder: From, To, Cc (Bcc only in the
//! envelope), a Subject and display names encoded per RFC 2047 when they are not ASCII, a
//! Message-ID and a Date; the text and HTML parts as multipart/alternative, and attachments
//! (workspace files) in a multipart/mixed, each base64 so its bytes arrive exactly.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::mime::{BodyPart, MimePart};
use sluice_plugin::TaskError;

/// A mailbox: `Name <local@domain>` or `local@domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    /// Parses `Name <a@b>`, `"Name, Jr." <a@b>`, `<a@b>` or `a@b`; `field` names the config
    /// field in the error.
    pub fn parse(text: &str, field: &str) -> Result<Mailbox, TaskError> {
        let invalid =
            |why: &str| TaskError::invalid_config(format!("`{field}`: {text:?} is not an address: {why}"));
        let text = text.trim();
        if text.contains(['\r', '\n']) {
            return Err(invalid("it has a line break"));
        }
        let (name, address) = match text.rsplit_once('<') {
            Some((name, rest)) => {
                let address = rest.strip_suffix('>').ok_or_else(|| invalid("`<` without a closing `>`"))?;
                let name = name.trim().trim_matches('"').trim();
                ((!name.is_empty()).then(|| name.to_string()), address.trim())
            }
            None => (None, text),
        };
        let (local, domain) = address.rsplit_once('@').ok_or_else(|| invalid("no `@`"))?;
        if local.is_empty() || domain.is_empty() {
            return Err(invalid("an address is `local@domain`"));
        }
        if !address.is_ascii() || address.bytes().any(|b| b.is_ascii_whitespace() || b"<>(),;\\".contains(&b))
        {
            return Err(invalid("the address part must be ASCII without spaces, `<>(),;` or `\\`"));
        }
        Ok(Mailbox { name, address: address.to_string() })
    }

    fn header(&self) -> Address<'static> {
        Address::new_address(self.name.clone(), self.address.clone())
    }

    /// The domain, for the Message-ID.
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("localhost", |(_, domain)| domain)
    }
}

/// A file to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The name the recipient sees.
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What goes into the message.
pub struct Content<'a> {
    pub from: &'a Mailbox,
    pub to: &'a [Mailbox],
    pub cc: &'a [Mailbox],
    pub reply_to: Option<&'a Mailbox>,
    pub subject: &'a str,
    pub text: Option<&'a str>,
    pub html: Option<&'a str>,
    pub attachments: &'a [Attachment],
}

/// A new Message-ID (without the angle brackets): random, and the sender's domain.
pub fn new_message_id(from: &Mailbox) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    // `RandomState` is seeded from the system's random source (WASI's random in a component).
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(now);
    let random = hasher.finish();
    format!("{now:x}.{random:016x}@{}", from.domain())
}

/// The whole message, CRLF line endings, ready for DATA.
pub fn build(content: &Content<'_>, message_id: &str) -> Vec<u8> {
    let list = |boxes: &[Mailbox]| Address::new_list(boxes.iter().map(Mailbox::header).collect());
    let mut builder = MessageBuilder::new()
        .from(content.from.header())
        .subject(content.subject.to_string())
        .message_id(MessageId::new(message_id.to_string()));
    if !content.to.is_empty() {
        builder = builder.to(list(content.to));
    }
    if !content.cc.is_empty() {
        builder = builder.cc(list(content.cc));
    }
    if let Some(reply_to) = content.reply_to {
        builder = builder.reply_to(reply_to.header());
    }
    builder = builder.header("X-Mailer", mail_builder::headers::raw::Raw::new("sluice notify.email"));
    if let Some(text) = content.text {
        builder = builder.text_body(text.to_string());
    }
    if let Some(html) = content.html {
        builder = builder.html_body(html.to_string());
    }
    for attachment in content.attachments {
        builder = builder.body_attachment(attachment);
    }
    let mut message = Vec::new();
    builder.serialize(&mut message);
    message
}

trait WithAttachment {
    fn body_attachment(self, attachment: &Attachment) -> Self;
}

impl WithAttachment for MessageBuilder<'static> {
    /// Base64 of our own, so every attachment (a text file too) arrives byte for byte:
    /// mail-builder would send a text/* attachment as text, where line endings may change.
    fn body_attachment(mut self, attachment: &Attachment) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&attachment.bytes);
        let mut lines = String::with_capacity(encoded.len() + encoded.len() / 38 + 2);
        for chunk in encoded.as_bytes().chunks(76) {
            lines.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            lines.push_str("\r\n");
        }
        let part = MimePart::new(attachment.content_type.clone(), BodyPart::Text(lines.into()))
            .attachment(attachment.filename.clone())
            .transfer_encoding("base64");
        self.attachments.get_or_insert_with(Vec::new).push(part);
        self
    }
}

/// The content type of a file by its extension; `application/octet-stream` when unknown.
pub fn content_type_of(filename: &str) -> &'static str {
    let extension = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "txt" | "log" | "md" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(text: &str) -> Mailbox {
        Mailbox::parse(text, "to").unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn mailboxes() {
        assert_eq!(mailbox("a@b.example"), Mailbox { name: None, address: "a@b.example".into() });
        assert_eq!(mailbox(" Ops Team <ops@b.example> ").name.as_deref(), Some("Ops Team"));
        assert_eq!(mailbox("\"Doe, Jane\" <jane@b.example>").name.as_deref(), Some("Doe, Jane"));
        assert_eq!(mailbox("<x@y>").address, "x@y");
        for bad in ["nobody", "a@", "@b", "A <a@b", "a b@c", "x@y\r\nBcc: z@w", "José <jösé@b>"] {
            assert!(matches!(Mailbox::parse(bad, "to"), Err(TaskError::InvalidConfig(_))), "{bad}");
        }
    }

    #[test]
    fn a_message_has_its_headers_parts_and_base64_attachments() {
        let from = mailbox("Sluice Bot <bot@ci.example>");
        let to = [mailbox("Zoë Ops <ops@ci.example>")];
        let cc = [mailbox("dev@ci.example")];
        let attachment = Attachment {
            filename: "report.txt".into(),
            content_type: "text/plain".into(),
            bytes: b"a\nb\r\n.c".to_vec(),
        };
        let content = Content {
            from: &from,
            to: &to,
            cc: &cc,
            reply_to: None,
            subject: "Déploiement réussi ✓",
            text: Some("plain"),
            html: Some("<p>html</p>"),
            attachments: std::slice::from_ref(&attachment),
        };
        let id = new_message_id(&from);
        assert!(id.ends_with("@ci.example"), "{id}");
        assert_ne!(id, new_message_id(&from));
        let message = String::from_utf8(build(&content, &id)).expect("ASCII");
        assert!(message.contains(&format!("Message-ID: <{id}>\r\n")), "{message}");
        assert!(message.contains("\r\nDate: "), "{message}");
        for header in [
            "From: \"Sluice Bot\" <bot@ci.example>\r\n",
            "Subject: =?utf-8?B?RMOpcGxvaWVtZW50IHLDqXVzc2kg4pyT?=\r\n",
            "To: =?utf-8?B?Wm/DqyBPcHM=?= <ops@ci.example>\r\n",
            "Cc: <dev@ci.example>\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed;",
            "Content-Type: multipart/alternative;",
            "Content-Disposition: attachment; filename=\"report.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\nYQpiDQouYw==\r\n",
        ] {
            assert!(message.contains(header), "{header:?} in {message}");
        }
        assert!(!message.contains("Bcc"), "{message}");
        assert!(message.is_ascii());
    }

    #[test]
    fn a_line_break_in_the_subject_starts_no_header() {
        let from = mailbox("bot@ci.example");
        let to = [mailbox("ops@ci.example")];
        let content = Content {
            from: &from,
            to: &to,
            cc: &[],
            reply_to: None,
            subject: "hi\r\nBcc: evil@example.com",
            text: Some("x"),
            html: None,
            attachments: &[],
        };
        let message = String::from_utf8(build(&content, "id@ci.example")).expect("ASCII");
        assert!(!message.contains("\r\nBcc:"), "{message}");
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type_of("build.LOG"), "text/plain");
        assert_eq!(content_type_of("a.tar.gz"), "application/gzip");
        assert_eq!(content_type_of("noext"), "application/octet-stream");
    }
}
