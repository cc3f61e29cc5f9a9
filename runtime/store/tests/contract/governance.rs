//! Governance: API tokens kept by hash with one live token per name, and the audit log, whose
//! chain shows an entry edited, removed or swapped behind the store's back.

use chrono::{DateTime, Utc};
use serde_json::json;
use sluice_engine::StoreError;
use sluice_governance::audit::{self, GENESIS};
use sluice_governance::{AuditFilter, GovernanceStore, Grant, Grants, NewAuditEntry, NewToken};

use crate::common::*;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 123_456_789).unwrap()
}

fn grants(texts: &[&str]) -> Grants {
    Grants(texts.iter().map(|t| Grant::parse(t).unwrap()).collect())
}

#[tokio::test]
async fn tokens_are_found_by_hash_and_a_name_has_one_live_token() {
    let (_db, store) = open_store().await;
    assert!(!store.has_tokens().await.unwrap());
    let ci = NewToken::generate("ci", grants(&["editor:acme.*", "viewer"]), at(0), Some(at(3600))).unwrap();
    store.create_token(&ci.record).await.unwrap();
    assert!(store.has_tokens().await.unwrap());
    assert_eq!(store.token(&ci.record.hash).await.unwrap().as_ref(), Some(&ci.record));
    assert_eq!(store.token(&"0".repeat(64)).await.unwrap(), None);

    let again = NewToken::generate("ci", Grants::default(), at(1), None).unwrap();
    match store.create_token(&again.record).await {
        Err(StoreError::Conflict(message)) => {
            assert!(message.contains("a token named `ci` exists already"), "{message}");
        }
        other => panic!("a second live `ci`: {other:?}"),
    }

    assert!(store.revoke_token("ci", at(10)).await.unwrap());
    assert!(!store.revoke_token("ci", at(11)).await.unwrap(), "revoked once only");
    assert!(!store.revoke_token("nobody", at(11)).await.unwrap());
    let revoked = store.token(&ci.record.hash).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(10)));
    assert!(!revoked.is_live(at(20)));
    // The name is free again; the revoked token stays on record (and keeps auth on).
    store.create_token(&again.record).await.unwrap();
    let names: Vec<(String, bool)> =
        store.tokens().await.unwrap().into_iter().map(|t| (t.name, t.revoked_at.is_some())).collect();
    assert_eq!(names, [("ci".to_owned(), true), ("ci".to_owned(), false)]);
    assert!(store.has_tokens().await.unwrap());
}

fn entry(seconds: i64, actor: &str, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: at(seconds),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        source: "127.0.0.1:50000".to_owned(),
        details: json!({"revision": {"before": null, "after": seconds}}),
    }
}

async fn five_entries(store: &TestStore) {
    let actions = ["flow.create", "flow.update", "execution.start", "execution.kill", "token.create"];
    for (i, action) in actions.into_iter().enumerate() {
        let actor = if i % 2 == 0 { "token:ci" } else { "token:ops" };
        let target = if action.starts_with("flow") { "flow:acme.build" } else { "execution:e1" };
        store.append_audit(entry(i as i64, actor, action, target)).await.unwrap();
    }
}

#[tokio::test]
async fn audit_entries_are_numbered_chained_and_filtered() {
    let (_db, store) = open_store().await;
    let first = store.append_audit(entry(0, "token:ci", "flow.create", "flow:acme.build")).await.unwrap();
    assert_eq!((first.seq, first.prev_hash.as_str()), (1, GENESIS));
    assert_eq!(first.details, r#"{"revision":{"after":0,"before":null}}"#);
    let second = store.append_audit(entry(1, "token:ops", "flow.update", "flow:acme.build")).await.unwrap();
    assert_eq!((second.seq, &second.prev_hash), (2, &first.hash));

    let all = store.audit_entries(&AuditFilter::default()).await.unwrap();
    assert_eq!(all, [first.clone(), second.clone()]);
    assert_eq!(audit::verify(&all).unwrap().head(), Some((2, second.hash.as_str())));

    // Concurrent appenders (two stores on one database, as two servers) make one chain.
    let (db, store) = open_store().await;
    let other = db.open_again().await;
    let mut appends = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { store.clone() } else { other.clone() };
        appends.spawn(async move {
            store.append_audit(entry(i, "token:ci", "execution.start", "execution:e1")).await
        });
    }
    while let Some(appended) = appends.join_next().await {
        appended.unwrap().unwrap();
    }
    let all = store.audit_entries(&AuditFilter::default()).await.unwrap();
    assert_eq!(all.len(), 20);
    audit::verify(&all).unwrap();

    let (_db, store) = open_store().await;
    five_entries(&store).await;
    let seqs = |filter: AuditFilter| {
        let store = store.clone();
        async move { store.audit_entries(&filter).await.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>() }
    };
    assert_eq!(seqs(AuditFilter { actor: Some("token:ops".into()), ..Default::default() }).await, [2, 4]);
    assert_eq!(seqs(AuditFilter { action: Some("flow.".into()), ..Default::default() }).await, [1, 2]);
    assert_eq!(
        seqs(AuditFilter { action: Some("flow".into()), ..Default::default() }).await,
        Vec::<u64>::new()
    );
    assert_eq!(seqs(AuditFilter { action: Some("execution.kill".into()), ..Default::default() }).await, [4]);
    assert_eq!(
        seqs(AuditFilter { target: Some("execution:e1".into()), ..Default::default() }).await,
        [3, 4, 5]
    );
    let window = AuditFilter { since: Some(at(1)), until: Some(at(3)), ..Default::default() };
    assert_eq!(seqs(window).await, [2, 3, 4]);
    assert_eq!(seqs(AuditFilter { after_seq: Some(3), limit: Some(1), ..Default::default() }).await, [4]);
}

/// What `verify` says about the log after `tamper` ran on the database.
async fn verify_after(tamper: &[&str]) -> audit::ChainBreak {
    let (db, store) = open_store().await;
    five_entries(&store).await;
    for sql in tamper {
        db.execute(sql).await;
    }
    let entries = store.audit_entries(&AuditFilter::default()).await.unwrap();
    audit::verify(&entries).expect_err("the tampering is caught")
}

#[tokio::test]
async fn an_edited_a_removed_and_swapped_audit_entries_are_each_named() {
    let edited = verify_after(&["UPDATE audit_log SET actor = 'token:mallory' WHERE seq = 2"]).await;
    assert_eq!(edited.seq, 2, "{edited}");
    assert!(edited.problem.contains("does not match its hash"), "{edited}");

    let removed = verify_after(&["DELETE FROM audit_log WHERE seq = 3"]).await;
    assert_eq!(removed.to_string(), "audit entry 4: entry 3 is missing (removed from the log)");

    let swapped = verify_after(&[
        "UPDATE audit_log SET seq = CASE seq WHEN 2 THEN -3 ELSE -2 END WHERE seq IN (2, 3)",
        "UPDATE audit_log SET seq = -seq WHERE seq < 0",
    ])
    .await;
    assert_eq!(swapped.seq, 2, "{swapped}");

    // A forger who recomputes the edited entry's hash still breaks the link to the next one.
    let (db, store) = open_store().await;
    five_entries(&store).await;
    let mut entries = store.audit_entries(&AuditFilter::default()).await.unwrap();
    entries[1].actor = "token:mallory".into();
    let forged = entries[1].computed_hash();
    db.execute(&format!("UPDATE audit_log SET actor = 'token:mallory', hash = '{forged}' WHERE seq = 2"))
        .await;
    let entries = store.audit_entries(&AuditFilter::default()).await.unwrap();
    let error = audit::verify(&entries).unwrap_err();
    assert_eq!(error.seq, 3, "{error}");
}
