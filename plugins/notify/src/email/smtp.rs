//! An SMTP client (RFC 5321) over any byte stream: the greeting, EHLO (HELO when the server
//! does not know it), STARTTLS (RFC 3207), AUTH PLAIN or LOGIN (RFC 4954), MAIL FROM, RCPT TO
//! and DATA with dot-stuffing, QUIT. Every refusal carries the server's own reply.
//!
//! Written against [`Transport`] so unit tests drive it with a scripted server; in a component
//! the transport is the host's `tcp` connection.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A byte stream that can switch to TLS in place.
pub trait Transport: Read + Write {
    /// Starts TLS on the connection (after the server's `220` to `STARTTLS`).
    fn start_tls(&mut self) -> Result<(), String>;
}

impl Transport for sluice_plugin::tcp::Connection {
    fn start_tls(&mut self) -> Result<(), String> {
        sluice_plugin::tcp::Connection::start_tls(self).map_err(|e| e.to_string())
    }
}

/// The most bytes of one reply (all its lines) kept: RFC 5321 lines are at most 512.
const MAX_REPLY: usize = 64 << 10;

/// A server reply: its code and its lines' text, joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl std::fmt::Display for Reply {
    /// As the server sent it, one line: `550 5.1.1 <x@y>: Recipient address rejected`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code)?;
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == 0 { " " } else { " / " };
            write!(f, "{sep}{line}")?;
        }
        Ok(())
    }
}

/// Why the conversation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The server answered a command with a refusal: the command (no secret in it) and the reply.
    Refused { command: String, reply: Reply },
    /// The server does not offer what the config needs (STARTTLS, an AUTH mechanism).
    Unsupported(String),
    /// The connection failed, or the server broke the protocol.
    Transport(String),
    /// The TLS handshake after STARTTLS failed (an unknown issuer, a name mismatch).
    Tls(String),
}

/// What the server said it supports after EHLO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    pub starttls: bool,
    /// The AUTH mechanisms, upper case.
    pub auth: Vec<String>,
    /// The SIZE limit, when announced with one.
    pub size: Option<u64>,
}

impl Extensions {
    fn parse(reply: &Reply) -> Extensions {
        let mut extensions = Extensions::default();
        // The first line is the server's greeting to us, not an extension.
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
            match keyword.as_str() {
                "STARTTLS" => extensions.starttls = true,
                "AUTH" => extensions.auth.extend(words.map(str::to_ascii_uppercase)),
                "SIZE" => extensions.size = words.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0),
                _ => {}
            }
        }
        extensions
    }
}

/// An SMTP session on a transport.
pub struct Session<T: Transport> {
    io: T,
    /// Bytes read past the last reply (nothing may be there at STARTTLS).
    buffer: Vec<u8>,
}

impl<T: Transport> Session<T> {
    /// Reads the server's greeting (220).
    pub fn open(io: T) -> Result<Session<T>, Error> {
        let mut session = Session { io, buffer: Vec::new() };
        // Commands carrying a credential are named by a fixed text in errors, never by the line.
        let greeting = session.reply()?;
        session.expect(greeting, "the greeting", 220)?;
        Ok(session)
    }

    /// EHLO (HELO if the server does not know EHLO, which then offers no extension).
    pub fn hello(&mut self, name: &str) -> Result<Extensions, Error> {
        let reply = self.command(&format!("EHLO {name}"))?;
        if reply.code == 250 {
            return Ok(Extensions::parse(&reply));
        }
        if matches!(reply.code, 500 | 502) {
            let reply = self.command(&format!("HELO {name}"))?;
            self.expect(reply, &format!("HELO {name}"), 250)?;
            return Ok(Extensions::default());
        }
        Err(Error::Refused { command: format!("EHLO {name}"), reply })
    }

    /// STARTTLS, then TLS on the same connection. The caller says EHLO again (RFC 3207 4.2).
    pub fn start_tls(&mut self) -> Result<(), Error> {
        let reply = self.command("STARTTLS")?;
        self.expect(reply, "STARTTLS", 220)?;
        // Anything already read would have come before TLS, unauthenticated (a "STARTTLS
        // injection"): refuse rather than take it as the server's.
        if !self.buffer.is_empty() {
            return Err(Error::Transport("the server sent data after its reply to STARTTLS".into()));
        }
        self.io.start_tls().map_err(Error::Tls)
    }

    /// AUTH with the first of PLAIN and LOGIN that the server offers.
    pub fn authenticate(&mut self, offered: &[String], username: &str, password: &str) -> Result<(), Error> {
        if offered.iter().any(|m| m == "PLAIN") {
            let token = BASE64.encode(format!("\0{username}\0{password}"));
            let reply = self.command(&format!("AUTH PLAIN {token}"))?;
            return self.expect(reply, "AUTH PLAIN", 235);
        }
        if offered.iter().any(|m| m == "LOGIN") {
            let reply = self.command("AUTH LOGIN")?;
            self.expect(reply, "AUTH LOGIN", 334)?;
            let reply = self.command(&BASE64.encode(username))?;
            self.expect(reply, "AUTH LOGIN (username)", 334)?;
            let reply = self.command(&BASE64.encode(password))?;
            return self.expect(reply, "AUTH LOGIN", 235);
        }
        let offers = if offered.is_empty() { "none".to_string() } else { offered.join(" ") };
        Err(Error::Unsupported(format!(
            "the server offers no AUTH mechanism sluice speaks (PLAIN or LOGIN); it offers: {offers}"
        )))
    }

    /// MAIL FROM, then RCPT TO for each recipient; the first refusal ends it (after RSET).
    pub fn envelope(&mut self, from: &str, recipients: &[&str]) -> Result<(), Error> {
        let command = format!("MAIL FROM:<{from}>");
        let reply = self.command(&command)?;
        self.expect(reply, &command, 250)?;
        for recipient in recipients {
            let command = format!("RCPT TO:<{recipient}>");
            let reply = self.command(&command)?;
            if !matches!(reply.code, 250 | 251) {
                let _ = self.command("RSET");
                return Err(Error::Refused { command, reply });
            }
        }
        Ok(())
    }

    /// DATA: the message, dot-stuffed with CRLF line endings, then `.`; the server's reply to
    /// the end of data (its queue id is usually in it).
    pub fn data(&mut self, message: &[u8]) -> Result<Reply, Error> {
        let reply = self.command("DATA")?;
        self.expect(reply, "DATA", 354)?;
        let body = dot_stuffed(message);
        self.io.write_all(&body).map_err(transport)?;
        self.io.flush().map_err(transport)?;
        let reply = self.reply()?;
        if reply.code != 250 {
            return Err(Error::Refused { command: "the message (end of DATA)".into(), reply });
        }
        Ok(reply)
    }

    /// QUIT; the answer does not matter any more.
    pub fn quit(mut self) {
        let _ = self.command("QUIT");
    }

    fn command(&mut self, line: &str) -> Result<Reply, Error> {
        self.io.write_all(format!("{line}\r\n").as_bytes()).map_err(transport)?;
        self.reply()
    }

    fn expect(&self, reply: Reply, command: &str, code: u16) -> Result<(), Error> {
        if reply.code == code { Ok(()) } else { Err(Error::Refused { command: command.to_string(), reply }) }
    }

    /// One reply: `250-first`, `250-more`, ..., `250 last`.
    fn reply(&mut self) -> Result<Reply, Error> {
        let mut lines = Vec::new();
        let mut size = 0;
        loop {
            let line = self.line()?;
            size += line.len();
            if size > MAX_REPLY {
                return Err(Error::Transport(format!("a reply longer than {MAX_REPLY} bytes")));
            }
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
            let Some(code) = code else {
                return Err(Error::Transport(format!("not an SMTP reply: {:?}", preview(&line))));
            };
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or_default().to_string());
            if !more {
                return Ok(Reply { code, lines });
            }
        }
    }

    fn line(&mut self) -> Result<String, Error> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let rest = self.buffer.split_off(end + 1);
                let mut line = std::mem::replace(&mut self.buffer, rest);
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buffer.len() > MAX_REPLY {
                return Err(Error::Transport(format!("a reply line longer than {MAX_REPLY} bytes")));
            }
            let mut chunk = [0; 4096];
            let n = self.io.read(&mut chunk).map_err(transport)?;
            if n == 0 {
                return Err(Error::Transport("the server closed the connection".into()));
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

fn transport(err: std::io::Error) -> Error {
    Error::Transport(err.to_string())
}

fn preview(line: &str) -> String {
    line.chars().take(80).collect()
}

/// The DATA body: CRLF line endings (a lone CR or LF becomes CRLF), a `.` doubled at the start
/// of a line (RFC 5321 4.5.2), and the final `CRLF.CRLF`.
pub fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut at_line_start = true;
    let mut bytes = message.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        match byte {
            b'\r' | b'\n' => {
                if byte == b'\r' && bytes.peek() == Some(&b'\n') {
                    bytes.next();
                }
                out.extend_from_slice(b"\r\n");
                at_line_start = true;
            }
            b'.' if at_line_start => {
                out.extend_from_slice(b"..");
                at_line_start = false;
            }
            other => {
                out.push(other);
                at_line_start = false;
            }
        }
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io;

    /// A server that answers each line the client sends with the next scripted reply.
    struct Scripted {
        replies: VecDeque<&'static str>,
        pending: Vec<u8>,
        sent: Vec<u8>,
        tls: bool,
        in_data: bool,
    }

    impl Scripted {
        fn new(greeting: &'static str, replies: &[&'static str]) -> Scripted {
            Scripted {
                replies: replies.iter().copied().collect(),
                pending: greeting.into(),
                sent: Vec::new(),
                tls: false,
                in_data: false,
            }
        }

        fn sent(&self) -> String {
            String::from_utf8_lossy(&self.sent).into_owned()
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Ok(n)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.sent.extend_from_slice(buf);
            // A reply per line received, except inside DATA until its end.
            let replies = if self.in_data { self.sent.ends_with(b"\r\n.\r\n") } else { buf.ends_with(b"\n") };
            if self.in_data && replies {
                self.in_data = false;
            } else if buf == b"DATA\r\n" {
                self.in_data = true;
            }
            if replies && let Some(reply) = self.replies.pop_front() {
                self.pending.extend_from_slice(reply.as_bytes());
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for &mut Scripted {
        fn start_tls(&mut self) -> Result<(), String> {
            self.tls = true;
            Ok(())
        }
    }

    const EHLO: &str =
        "250-mail.example Hello\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n";

    #[test]
    fn a_whole_conversation() {
        let mut server = Scripted::new(
            "220 mail.example ESMTP\r\n",
            &[
                EHLO,
                "220 go ahead\r\n",
                EHLO,
                "235 ok\r\n",
                "250 ok\r\n",
                "250 ok\r\n",
                "251 forwarded\r\n",
                "354 go\r\n",
                "250 queued as ABC\r\n",
                "221 bye\r\n",
            ],
        );
        let mut session = Session::open(&mut server).expect("greeting");
        let extensions = session.hello("client").expect("ehlo");
        assert_eq!(
            extensions,
            Extensions { starttls: true, auth: vec!["LOGIN".into(), "PLAIN".into()], size: Some(1000) }
        );
        session.start_tls().expect("starttls");
        session.hello("client").expect("ehlo again");
        session.authenticate(&extensions.auth, "user", "pw").expect("auth");
        session.envelope("a@x", &["b@y", "c@z"]).expect("envelope");
        let reply = session.data(b"Subject: hi\r\n\r\n.leading dot\nbare lf\r\nend").expect("data");
        assert_eq!(reply.to_string(), "250 queued as ABC");
        session.quit();
        assert!(server.tls);
        let expected = "EHLO client\r\nSTARTTLS\r\nEHLO client\r\nAUTH PLAIN AHVzZXIAcHc=\r\nMAIL FROM:<a@x>\r\n\
            RCPT TO:<b@y>\r\nRCPT TO:<c@z>\r\nDATA\r\nSubject: hi\r\n\r\n..leading dot\r\nbare lf\r\nend\r\n.\r\nQUIT\r\n";
        assert_eq!(server.sent(), expected);
    }

    #[test]
    fn login_when_plain_is_not_offered_and_refusals_carry_the_reply() {
        let mut server = Scripted::new(
            "220 hi\r\n",
            &[
                "334 VXNlcm5hbWU6\r\n",
                "334 UGFzc3dvcmQ6\r\n",
                "535 5.7.8 Authentication credentials invalid\r\n",
            ],
        );
        let mut session = Session::open(&mut server).expect("greeting");
        let err = session.authenticate(&["LOGIN".into()], "user", "hunter2").expect_err("refused");
        let Error::Refused { command, reply } = err else { panic!("{err:?}") };
        assert_eq!(
            (command.as_str(), reply.to_string().as_str()),
            ("AUTH LOGIN", "535 5.7.8 Authentication credentials invalid")
        );
        assert_eq!(server.sent(), "AUTH LOGIN\r\ndXNlcg==\r\naHVudGVyMg==\r\n");
        let mut server = Scripted::new("220 hi\r\n", &[]);
        let mut session = Session::open(&mut server).expect("greeting");
        assert!(
            matches!(session.authenticate(&["CRAM-MD5".into()], "u", "p"), Err(Error::Unsupported(m)) if m.ends_with("CRAM-MD5"))
        );
    }

    #[test]
    fn a_rejected_recipient_ends_the_envelope() {
        let mut server = Scripted::new(
            "220 hi\r\n",
            &["250 ok\r\n", "250 ok\r\n", "550 5.1.1 <x@y>: Recipient address rejected\r\n", "250 reset\r\n"],
        );
        let mut session = Session::open(&mut server).expect("greeting");
        let err = session.envelope("a@b", &["ok@y", "x@y", "never@y"]).expect_err("rejected");
        let Error::Refused { command, reply } = err else { panic!("{err:?}") };
        assert_eq!(command, "RCPT TO:<x@y>");
        assert_eq!(reply.to_string(), "550 5.1.1 <x@y>: Recipient address rejected");
        assert!(!server.sent().contains("never@y") && server.sent().ends_with("RSET\r\n"));
    }

    #[test]
    fn helo_when_ehlo_is_unknown_and_garbage_is_not_a_reply() {
        let mut server = Scripted::new("220 old\r\n", &["502 what\r\n", "250 hello\r\n"]);
        let mut session = Session::open(&mut server).expect("greeting");
        assert_eq!(session.hello("me").expect("helo"), Extensions::default());
        let mut server = Scripted::new("HTTP/1.1 400 Bad Request\r\n", &[]);
        assert!(
            matches!(Session::open(&mut server), Err(Error::Transport(m)) if m.starts_with("not an SMTP reply"))
        );
        let mut server = Scripted::new("554 go away\r\n", &[]);
        let Err(Error::Refused { reply, .. }) = Session::open(&mut server) else { panic!() };
        assert_eq!(reply.to_string(), "554 go away");
    }

    #[test]
    fn data_injected_before_tls_is_refused() {
        let mut server = Scripted::new("220 hi\r\n", &["220 go ahead\r\n250 injected\r\n"]);
        let mut session = Session::open(&mut server).expect("greeting");
        assert!(
            matches!(session.start_tls(), Err(Error::Transport(m)) if m.contains("after its reply to STARTTLS"))
        );
        assert!(!server.tls);
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuffed(b"."), b"..\r\n.\r\n");
        assert_eq!(dot_stuffed(b"a\r\n.\r\nb\r\n"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(dot_stuffed(b"a.b\r..c"), b"a.b\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuffed(b""), b".\r\n");
    }
}
