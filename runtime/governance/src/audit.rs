//! The audit log: one entry per change or action, each holding the hash of the one before, so
//! that altering, removing or reordering entries breaks the chain where it was done.
//!
//! An entry's hash is the SHA-256 of its fields, each length-prefixed, and of the previous
//! entry's hash (64 zeros for the first). Entries are numbered 1, 2, 3... without gaps. What
//! the chain cannot show alone is the newest entries cut off: [`verify`] reports the head
//! (number and hash), which an operator records elsewhere (an export) to check against later.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sluice_engine::Timestamp;

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append; the store numbers and chains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    /// Who: `token:<name>`, `trigger:<namespace>.<flow>/<trigger id>`, `open` (a server
    /// without auth), `engine`.
    pub actor: String,
    /// What, as `<thing>.<verb>`: `flow.create`, `execution.kill`, `token.revoke`...
    pub action: String,
    /// On what: `flow:<namespace>.<id>`, `execution:<id>`, `token:<name>`, `plugin:<name>`.
    pub target: String,
    /// Where the request came from (the peer address), empty for the server's own actions.
    pub source: String,
    /// Anything else worth keeping (flow revisions before and after, the new state...), as a
    /// JSON object.
    pub details: serde_json::Value,
}

impl NewAuditEntry {
    /// An entry for what `actor` does now, from no address (the server's own actions; a
    /// request's caller sets `source`).
    pub fn now(actor: String, action: &str, target: String, details: serde_json::Value) -> NewAuditEntry {
        NewAuditEntry {
            at: chrono::Utc::now(),
            actor,
            action: action.to_owned(),
            target,
            source: String::new(),
            details,
        }
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source: String,
    /// The details' JSON text, exactly as hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The entry `new` becomes when it follows the entry numbered `seq - 1` whose hash is
    /// `prev_hash`.
    pub fn chain(seq: u64, new: NewAuditEntry, prev_hash: String) -> AuditEntry {
        let mut entry = AuditEntry {
            seq,
            at: new.at,
            actor: new.actor,
            action: new.action,
            target: new.target,
            source: new.source,
            details: new.details.to_string(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        entry
    }

    /// The entry `new` becomes after `last` (the newest entry's number and hash, None for an
    /// empty log).
    pub fn after(last: Option<(u64, String)>, new: NewAuditEntry) -> AuditEntry {
        match last {
            Some((seq, hash)) => AuditEntry::chain(seq + 1, new, hash),
            None => AuditEntry::chain(1, new, GENESIS.to_owned()),
        }
    }

    /// The hash its fields give (which equals [`AuditEntry::hash`] unless it was altered).
    pub fn computed_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let nanos = self.at.timestamp_nanos_opt().unwrap_or(i64::MIN);
        let fields: [&[u8]; 9] = [
            b"sluice-audit-1",
            &self.seq.to_le_bytes(),
            &nanos.to_le_bytes(),
            self.actor.as_bytes(),
            self.action.as_bytes(),
            self.target.as_bytes(),
            self.source.as_bytes(),
            self.details.as_bytes(),
            self.prev_hash.as_bytes(),
        ];
        for field in fields {
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field);
        }
        hex::encode(hasher.finalize())
    }

    /// As one line of `sluice audit export` and an item of the API's list: the details as
    /// JSON rather than text.
    pub fn to_json(&self) -> serde_json::Value {
        let details = serde_json::from_str(&self.details)
            .unwrap_or_else(|_| serde_json::Value::String(self.details.clone()));
        serde_json::json!({
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "source": self.source,
            "details": details,
            "prevHash": self.prev_hash,
            "hash": self.hash,
        })
    }
}

/// Which entries to read, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries numbered above this one (to page on, or to verify in chunks).
    pub after_seq: Option<u64>,
    pub actor: Option<String>,
    /// An action (`flow.create`) or a kind of action (`flow.`).
    pub action: Option<String>,
    pub target: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: Option<u32>,
}

/// An [`AuditFilter::action`] as the stores match it: an exact action, or (ending with a dot)
/// the prefix of a kind of action.
pub fn action_match(action: Option<&str>) -> (Option<&str>, Option<&str>) {
    match action {
        Some(kind) if kind.ends_with('.') => (None, Some(kind)),
        exact => (exact, None),
    }
}

/// Where the chain is broken: the first entry that does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: u64,
    pub problem: String,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit entry {}: {}", self.seq, self.problem)
    }
}

/// Walks a chain from its start, in stored order, one entry at a time (so a long log need not
/// be held at once).
#[derive(Debug)]
pub struct Verifier {
    next_seq: u64,
    prev_hash: String,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier { next_seq: 1, prev_hash: GENESIS.to_owned() }
    }
}

impl Verifier {
    pub fn check(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        let problem = |problem: String| ChainBreak { seq: entry.seq, problem };
        if entry.seq != self.next_seq {
            return Err(if entry.seq > self.next_seq {
                let missing = if entry.seq - self.next_seq == 1 {
                    format!("entry {} is missing", self.next_seq)
                } else {
                    format!("entries {} to {} are missing", self.next_seq, entry.seq - 1)
                };
                problem(format!("{missing} (removed from the log)"))
            } else {
                problem(format!("it comes after entry {}: the log is out of order", self.next_seq - 1))
            });
        }
        if entry.computed_hash() != entry.hash {
            return Err(problem(
                "its content does not match its hash: it was altered, or moved from another place".to_owned(),
            ));
        }
        if entry.prev_hash != self.prev_hash {
            return Err(problem(format!(
                "it does not follow entry {}: an entry before it was replaced, or the log was reordered",
                entry.seq - 1
            )));
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// The number and hash of the last entry checked (None before the first).
    pub fn head(&self) -> Option<(u64, &str)> {
        (self.next_seq > 1).then(|| (self.next_seq - 1, self.prev_hash.as_str()))
    }
}

/// Checks a whole chain.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Result<Verifier, ChainBreak> {
    let mut verifier = Verifier::default();
    for entry in entries {
        verifier.check(entry)?;
    }
    Ok(verifier)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for seq in 1..=n {
            let prev = entries.last().map_or(GENESIS.to_owned(), |e| e.hash.clone());
            let new = NewAuditEntry {
                at: chrono::DateTime::from_timestamp_nanos(1_700_000_000_000_000_000 + seq as i64),
                actor: "token:ci".into(),
                action: "flow.update".into(),
                target: format!("flow:acme.f{seq}"),
                source: "127.0.0.1".into(),
                details: serde_json::json!({"revision": seq}),
            };
            entries.push(AuditEntry::chain(seq, new, prev));
        }
        entries
    }

    #[test]
    fn an_intact_chain_verifies_to_its_head() {
        let entries = chain(5);
        let verifier = verify(&entries).unwrap();
        assert_eq!(verifier.head(), Some((5, entries[4].hash.as_str())));
        assert_eq!(verify(&[]).unwrap().head(), None);
    }

    #[test]
    fn an_edit_a_removal_and_a_swap_are_each_caught_where_they_are() {
        let mut edited = chain(5);
        edited[2].actor = "token:someone-else".into();
        assert_eq!(verify(&edited).unwrap_err().seq, 3);

        let mut removed = chain(5);
        removed.remove(1);
        let error = verify(&removed).unwrap_err();
        assert_eq!((error.seq, error.problem.as_str()), (3, "entry 2 is missing (removed from the log)"));

        // Swapping two entries' numbers: each is then hashed at the wrong place.
        let mut swapped = chain(5);
        swapped.swap(1, 3);
        (swapped[1].seq, swapped[3].seq) = (2, 4);
        assert_eq!(verify(&swapped).unwrap_err().seq, 2);

        // An entry rewritten with a hash that fits its new content still breaks the next link.
        let mut forged = chain(5);
        forged[1].actor = "token:forger".into();
        forged[1].hash = forged[1].computed_hash();
        let error = verify(&forged).unwrap_err();
        assert_eq!(error.seq, 3);
        assert!(error.problem.contains("does not follow entry 2"), "{}", error.problem);
    }
}
