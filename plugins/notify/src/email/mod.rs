//! `notify.email`: a message over SMTP, through the host's `tcp` interface.
//!
//! ```text
//! config (subject/text/html, or the default from the execution: `default_message`)
//!   -> mime: the RFC 5322 + MIME message (mail-builder), attachments read from the workspace
//!   -> deliver: connect (implicit TLS on 465, else plain), then smtp: EHLO, STARTTLS, AUTH,
//!      MAIL/RCPT, DATA; a `4xx` or a lost connection sent again, bounded
//!   -> outputs: the Message-ID, the accepted recipients, the server's final reply
//! ```
//!
//! The destination must be granted as written (`smtp://host:587`, `smtps://host:465`): no grant
//! is implied from the config, so a flow's reviewer sees where mail goes. The password is a
//! credential: it goes only into the AUTH exchange, never into a log line, an error or an
//! output (errors name the command, `AUTH PLAIN`, never its line).

mod deliver;
mod mime;
mod smtp;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::tcp::Tls;
use sluice_plugin::{Task, TaskError};

use crate::send::Retry;
use deliver::Delivery;
use mime::{Attachment, Content, Mailbox};

pub struct EmailTask;

/// How the connection to the server is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain TCP, then STARTTLS before anything else is sent (port 587 by default). A server
    /// that does not offer STARTTLS fails the task.
    #[default]
    Starttls,
    /// TLS from the first byte ("implicit TLS", port 465 by default; grant `smtps://`).
    Tls,
    /// No TLS at all (port 25 by default): only for a relay on a trusted network, such as a
    /// local one. AUTH is refused over it, so no password goes in clear.
    None,
}

/// An attachment: a workspace path, or the path with the name and type the recipient sees.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AttachmentConfig {
    /// A file in the workspace; its name is the file name, its type guessed from the extension.
    Path(String),
    /// A file in the workspace, named and typed.
    #[serde(rename_all = "camelCase")]
    File {
        /// The file, relative to the workspace.
        path: String,
        /// The name the recipient sees (default: the file's name).
        #[serde(default)]
        filename: Option<String>,
        /// The MIME type (default: from the extension, else `application/octet-stream`).
        #[serde(default)]
        content_type: Option<String>,
    },
}

/// Config of `notify.email`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name (or IP address). Grant it: `smtp://host:587`
    /// (`security: starttls`), `smtps://host:465` (`tls`) or `smtp://host:25` (`none`).
    host: String,
    /// The port (default 587 for `starttls`, 465 for `tls`, 25 for `none`).
    #[serde(default)]
    port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default)]
    security: Security,
    /// The user for AUTH (PLAIN or LOGIN, whichever the server offers); no AUTH without it.
    #[serde(default)]
    username: Option<String>,
    /// The password for AUTH: give it as a secret (`{{ secret('SMTP_PASSWORD') }}`).
    #[serde(default)]
    password: Option<String>,
    /// The sender: `address` or `Name <address>`; also the envelope's MAIL FROM.
    from: String,
    /// Recipients (`address` or `Name <address>`).
    #[serde(default)]
    to: Vec<String>,
    /// Copy recipients, in the `Cc` header.
    #[serde(default)]
    cc: Vec<String>,
    /// Blind copy recipients: in the envelope only, never in a header.
    #[serde(default)]
    bcc: Vec<String>,
    /// The `Reply-To` address.
    #[serde(default)]
    reply_to: Option<String>,
    /// The subject (default: the execution's title, `✅ ns.flow SUCCESS`). Non-ASCII text is
    /// encoded (RFC 2047).
    #[serde(default)]
    subject: Option<String>,
    /// The plain-text part (default, when `html` is not given either: made from the execution).
    #[serde(default)]
    text: Option<String>,
    /// The HTML part; with `text`, the two go as multipart/alternative.
    #[serde(default)]
    html: Option<String>,
    /// Workspace files to attach (base64, in a multipart/mixed).
    #[serde(default)]
    attachments: Vec<AttachmentConfig>,
    /// CA certificates (PEM) to verify the server's certificate with, instead of the public
    /// roots: for a relay with a private CA.
    #[serde(default)]
    ca_certificates: Option<String>,
    /// The name this client gives in EHLO (default `localhost`).
    #[serde(default)]
    helo: Option<String>,
    /// Seconds to wait for the connection and for each reply (default 30).
    #[serde(default)]
    timeout_seconds: Option<u64>,
    /// Sends in all when the server answers `4xx` ("try later") or the connection fails
    /// before the message is accepted (default 5).
    #[serde(default)]
    max_attempts: Option<u32>,
    /// The most seconds to wait between sends in total (default 60).
    #[serde(default)]
    max_retry_wait: Option<u64>,
}

/// Outputs of `notify.email`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailOutput {
    /// The message's Message-ID, without angle brackets.
    message_id: String,
    /// The recipients the server accepted (to, cc and bcc), in that order.
    accepted: Vec<String>,
    /// The server's reply to the message (its queue id is usually in it).
    response: String,
}

impl Task for EmailTask {
    const NAME: &'static str = "email";
    const DESCRIPTION: &'static str = "Sends an email over SMTP to `host` (granted as \
        `smtp://host:port` or `smtps://host:465`): STARTTLS (default, port 587), implicit TLS \
        (`security: tls`, 465) or none (a local relay), AUTH PLAIN or LOGIN with \
        `username`/`password`, to `to`, `cc` and `bcc`, with a `text` and/or `html` part \
        (default: made from the execution) and workspace files as `attachments`. Outputs the \
        Message-ID and the accepted recipients.";
    type Config = EmailConfig;
    type Output = EmailOutput;

    fn run(config: EmailConfig) -> Result<EmailOutput, TaskError> {
        let letter = Letter::from_config(&config, default_message)?;
        send(&config, &letter)
    }
}

/// The default subject and text when the config gives none: the execution's summary (the
/// `context` interface, through the plugin's `message` module, which every notifier shares).
/// This is the one hook between email and the default message.
fn default_message() -> Result<(String, String), TaskError> {
    let execution = crate::message::current("text")?;
    let summary = crate::message::summary(&execution);
    Ok((summary.title.clone(), summary.text()))
}

/// The message, checked, before it is built.
struct Letter {
    from: Mailbox,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    bcc: Vec<Mailbox>,
    reply_to: Option<Mailbox>,
    subject: String,
    text: Option<String>,
    html: Option<String>,
    attachments: Vec<Attachment>,
}

impl Letter {
    /// The config's message; `default` gives the subject and text it leaves out.
    fn from_config(
        config: &EmailConfig,
        default: impl FnOnce() -> Result<(String, String), TaskError>,
    ) -> Result<Letter, TaskError> {
        let list = |items: &[String], field: &str| {
            items.iter().map(|item| Mailbox::parse(item, field)).collect::<Result<Vec<_>, _>>()
        };
        let (to, cc, bcc) = (list(&config.to, "to")?, list(&config.cc, "cc")?, list(&config.bcc, "bcc")?);
        if to.is_empty() && cc.is_empty() && bcc.is_empty() {
            return Err(TaskError::invalid_config("give at least one recipient in `to`, `cc` or `bcc`"));
        }
        let (mut subject, mut text) = (config.subject.clone(), config.text.clone());
        if subject.is_none() || (text.is_none() && config.html.is_none()) {
            let (default_subject, default_text) = default()?;
            subject.get_or_insert(default_subject);
            if config.html.is_none() {
                text.get_or_insert(default_text);
            }
        }
        let attachments = config.attachments.iter().map(read_attachment).collect::<Result<_, _>>()?;
        Ok(Letter {
            from: Mailbox::parse(&config.from, "from")?,
            to,
            cc,
            bcc,
            reply_to: config.reply_to.as_deref().map(|r| Mailbox::parse(r, "replyTo")).transpose()?,
            subject: subject.unwrap_or_default(),
            text,
            html: config.html.clone(),
            attachments,
        })
    }

    fn recipients(&self) -> Vec<&str> {
        self.to.iter().chain(&self.cc).chain(&self.bcc).map(|m| m.address.as_str()).collect()
    }
}

fn read_attachment(config: &AttachmentConfig) -> Result<Attachment, TaskError> {
    let (path, filename, content_type) = match config {
        AttachmentConfig::Path(path) => (path, None, None),
        AttachmentConfig::File { path, filename, content_type } => {
            (path, filename.clone(), content_type.clone())
        }
    };
    let bytes = std::fs::read(path).map_err(|e| {
        TaskError::failed(format!("attachment `{path}`: cannot read it from the workspace: {e}"))
    })?;
    let filename = filename.unwrap_or_else(|| path.rsplit('/').next().unwrap_or(path).to_string());
    let content_type = content_type.unwrap_or_else(|| mime::content_type_of(&filename).to_string());
    Ok(Attachment { filename, content_type, bytes })
}

/// Checks what the config asks for, builds the message and hands it to [`Delivery`].
fn send(config: &EmailConfig, letter: &Letter) -> Result<EmailOutput, TaskError> {
    let port = config.port.unwrap_or(match config.security {
        Security::Starttls => 587,
        Security::Tls => 465,
        Security::None => 25,
    });
    let credentials = match (&config.username, &config.password) {
        (Some(user), Some(password)) => Some((user.as_str(), password.as_str())),
        (None, None) => None,
        _ => return Err(TaskError::invalid_config("give both `username` and `password`, or neither")),
    };
    if credentials.is_some() && config.security == Security::None {
        return Err(TaskError::invalid_config(
            "`security: none` sends everything in clear: AUTH is refused over it (use starttls or tls)",
        ));
    }
    let helo = config.helo.as_deref().unwrap_or("localhost");
    // The name goes into a command line: nothing that could end it or start another.
    if helo.is_empty() || !helo.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TaskError::invalid_config(format!("`helo`: {helo:?} is not a host name")));
    }
    let message_id = mime::new_message_id(&letter.from);
    let content = Content {
        from: &letter.from,
        to: &letter.to,
        cc: &letter.cc,
        reply_to: letter.reply_to.as_ref(),
        subject: &letter.subject,
        text: letter.text.as_deref(),
        html: letter.html.as_deref(),
        attachments: &letter.attachments,
    };
    let message = mime::build(&content, &message_id);
    let tls = if config.security == Security::Tls { Tls::Implicit } else { Tls::None };
    if let Some(ca) = &config.ca_certificates {
        let scheme = if tls == Tls::Implicit { "smtps" } else { "smtp" };
        let host = if config.host.contains(':') { format!("[{}]", config.host) } else { config.host.clone() };
        sluice_plugin::tls::trust_origin(&format!("{scheme}://{host}:{port}"), Some(ca), None)?;
    }
    let recipients = letter.recipients();
    let delivery = Delivery {
        host: &config.host,
        port,
        tls,
        starttls: config.security == Security::Starttls,
        timeout: Duration::from_secs(config.timeout_seconds.unwrap_or(30)),
        helo,
        credentials,
        from: &letter.from.address,
        recipients: &recipients,
        message: &message,
    };
    let reply = delivery.send(Retry::from_config(config.max_attempts, config.max_retry_wait))?;
    sluice_plugin::info!(
        "email {message_id} sent through {}:{port} to {} recipient(s): {reply}",
        config.host,
        recipients.len()
    );
    Ok(EmailOutput {
        message_id,
        accepted: recipients.into_iter().map(str::to_string).collect(),
        response: reply.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> EmailConfig {
        serde_json::from_value(json).expect("config")
    }

    fn no_default() -> Result<(String, String), TaskError> {
        panic!("the default message is not needed here")
    }

    #[test]
    fn the_default_message_fills_only_what_is_missing() {
        let base = serde_json::json!({"host": "h", "from": "a@b", "to": ["c@d"]});
        let letter =
            Letter::from_config(&config(base.clone()), || Ok(("S".into(), "T".into()))).expect("letter");
        assert_eq!((letter.subject.as_str(), letter.text.as_deref()), ("S", Some("T")));
        let mut html_only = base.clone();
        html_only["html"] = "<p>x</p>".into();
        let letter =
            Letter::from_config(&config(html_only), || Ok(("S".into(), "T".into()))).expect("letter");
        assert_eq!((letter.subject.as_str(), letter.text.as_deref()), ("S", None));
        let mut full = base;
        full["subject"] = "mine".into();
        full["text"] = "body".into();
        let letter = Letter::from_config(&config(full), no_default).expect("letter");
        assert_eq!((letter.subject.as_str(), letter.text.as_deref()), ("mine", Some("body")));
    }

    #[test]
    fn recipients_and_credentials_are_checked() {
        let none = config(serde_json::json!({"host": "h", "from": "a@b", "subject": "s", "text": "t"}));
        assert!(matches!(Letter::from_config(&none, no_default), Err(TaskError::InvalidConfig(_))));
        let bad = config(
            serde_json::json!({"host": "h", "from": "a@b", "to": ["nobody"], "subject": "s", "text": "t"}),
        );
        let Err(TaskError::InvalidConfig(message)) = Letter::from_config(&bad, no_default) else { panic!() };
        assert_eq!(message, "`to`: \"nobody\" is not an address: no `@`");
        let plain_auth =
            config(serde_json::json!({"host": "h", "from": "a@b", "to": ["c@d"], "subject": "s",
            "text": "t", "security": "none", "username": "u", "password": "hunter2"}));
        let letter = Letter::from_config(&plain_auth, no_default).expect("letter");
        let Err(TaskError::InvalidConfig(message)) = send(&plain_auth, &letter) else { panic!() };
        assert!(message.contains("AUTH is refused") && !message.contains("hunter2"), "{message}");
        let injected = config(serde_json::json!({"host": "h", "from": "a@b", "to": ["c@d"], "subject": "s",
            "text": "t", "helo": "me\r\nRCPT TO:<x@y>"}));
        let letter = Letter::from_config(&injected, no_default).expect("letter");
        assert!(
            matches!(send(&injected, &letter), Err(TaskError::InvalidConfig(m)) if m.starts_with("`helo`"))
        );
    }

    #[test]
    fn all_recipients_go_in_the_envelope_in_order() {
        let c = config(serde_json::json!({"host": "h", "from": "a@b", "to": ["T <t@x>"], "cc": ["c@x"],
            "bcc": ["b@x"], "subject": "s", "text": "t"}));
        let letter = Letter::from_config(&c, no_default).expect("letter");
        assert_eq!(letter.recipients(), ["t@x", "c@x", "b@x"]);
    }
}
