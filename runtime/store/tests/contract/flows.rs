//! Flow revisions: when a save makes one, deletion, listing by namespace prefix, and concurrent
//! savers.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::common::*;
use sluice_engine::{CommitBatch, FlowRevision, Store};

fn revision_numbers(flows: &[FlowRevision]) -> Vec<u32> {
    flows.iter().map(|f| f.revision).collect()
}

#[tokio::test]
async fn identical_source_keeps_the_revision_and_a_change_makes_a_new_one() {
    let (_db, store) = open_store().await;
    let first = store.save_flow("ns", "build", "tasks: [a]").await.unwrap();
    let again = store.save_flow("ns", "build", "tasks: [a]").await.unwrap();
    assert_eq!(again, first, "byte-identical source returns the newest revision unchanged");

    let second = store.save_flow("ns", "build", "tasks: [a, b]").await.unwrap();
    assert_eq!(second.revision, 2);
    // Whitespace is a change too: revisions are of the text.
    let third = store.save_flow("ns", "build", "tasks: [a, b] ").await.unwrap();
    assert_eq!(third.revision, 3);
    // Going back to an older text is a new revision, not the old one.
    let fourth = store.save_flow("ns", "build", "tasks: [a]").await.unwrap();
    assert_eq!(fourth.revision, 4);

    let revisions = store.flow_revisions("ns", "build").await.unwrap();
    assert_eq!(revisions, vec![first.clone(), second.clone(), third, fourth.clone()]);
    assert_eq!(store.get_flow("ns", "build", None).await.unwrap(), Some(fourth));
    assert_eq!(store.get_flow("ns", "build", Some(2)).await.unwrap(), Some(second));
    assert_eq!(store.get_flow("ns", "build", Some(9)).await.unwrap(), None);
    assert_eq!(store.get_flow("ns", "other", None).await.unwrap(), None);
    assert_eq!(store.get_flow("other", "build", Some(1)).await.unwrap(), None);
}

#[tokio::test]
async fn deleting_hides_the_flow_but_keeps_pinned_revisions_readable() {
    let (_db, store) = open_store().await;
    store.save_flow("ns", "deploy", "v1").await.unwrap();
    store.save_flow("ns", "deploy", "v2").await.unwrap();
    let mut pinned = execution("e1", "ns", "deploy", at(0, 0));
    pinned.revision = 1;
    store.commit(CommitBatch { executions: vec![pinned], ..CommitBatch::default() }).await.unwrap();

    assert!(store.delete_flow("ns", "deploy").await.unwrap());
    assert!(!store.delete_flow("ns", "deploy").await.unwrap(), "already deleted");
    assert!(!store.delete_flow("ns", "never-saved").await.unwrap());

    assert_eq!(store.get_flow("ns", "deploy", None).await.unwrap(), None);
    assert_eq!(store.list_flows(None).await.unwrap(), vec![]);
    let execution = store.get_execution("e1").await.unwrap().unwrap();
    let revision = store.get_flow("ns", "deploy", Some(execution.revision)).await.unwrap().unwrap();
    assert_eq!((revision.revision, revision.source.as_str(), revision.deleted), (1, "v1", true));
    let revisions = store.flow_revisions("ns", "deploy").await.unwrap();
    assert_eq!(revision_numbers(&revisions), vec![1, 2]);
    assert!(revisions.iter().all(|r| r.deleted));
}

#[tokio::test]
async fn saving_a_deleted_flow_undeletes_it_with_a_new_revision() {
    let (_db, store) = open_store().await;
    store.save_flow("ns", "deploy", "v1").await.unwrap();
    store.delete_flow("ns", "deploy").await.unwrap();

    // Even the same text: the flow comes back as a new revision.
    let back = store.save_flow("ns", "deploy", "v1").await.unwrap();
    assert_eq!((back.revision, back.deleted), (2, false));
    assert_eq!(store.get_flow("ns", "deploy", None).await.unwrap(), Some(back.clone()));
    assert_eq!(store.list_flows(None).await.unwrap(), vec![back]);
    let revisions = store.flow_revisions("ns", "deploy").await.unwrap();
    assert_eq!(revision_numbers(&revisions), vec![1, 2]);
    assert!(revisions.iter().all(|r| !r.deleted));
}

#[tokio::test]
async fn list_flows_gives_the_newest_revision_within_a_namespace_prefix() {
    let (_db, store) = open_store().await;
    for (namespace, id) in
        [("a.b", "one"), ("a.b.c", "two"), ("a.bc", "three"), ("a", "four"), ("x", "five"), ("a.b", "six")]
    {
        store.save_flow(namespace, id, "v1").await.unwrap();
    }
    store.save_flow("a.b", "one", "v2").await.unwrap();
    store.save_flow("a.b", "six", "v2").await.unwrap();
    store.delete_flow("a.b", "six").await.unwrap();

    let names = |flows: Vec<FlowRevision>| -> Vec<(String, String, u32)> {
        flows.into_iter().map(|f| (f.namespace, f.id, f.revision)).collect()
    };
    let owned = |items: &[(&str, &str, u32)]| -> Vec<(String, String, u32)> {
        items.iter().map(|(n, i, r)| (n.to_string(), i.to_string(), *r)).collect()
    };
    assert_eq!(
        names(store.list_flows(Some("a.b")).await.unwrap()),
        owned(&[("a.b", "one", 2), ("a.b.c", "two", 1)])
    );
    assert_eq!(
        names(store.list_flows(Some("a")).await.unwrap()),
        owned(&[("a", "four", 1), ("a.b", "one", 2), ("a.b.c", "two", 1), ("a.bc", "three", 1)])
    );
    assert_eq!(names(store.list_flows(Some("a.b.c")).await.unwrap()), owned(&[("a.b.c", "two", 1)]));
    assert_eq!(names(store.list_flows(Some("a.")).await.unwrap()), owned(&[]));
    assert_eq!(names(store.list_flows(Some("nothing")).await.unwrap()), owned(&[]));
    assert_eq!(
        names(store.list_flows(None).await.unwrap()),
        owned(&[
            ("a", "four", 1),
            ("a.b", "one", 2),
            ("a.b.c", "two", 1),
            ("a.bc", "three", 1),
            ("x", "five", 1)
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_saves_get_consecutive_revisions() {
    let (_db, store) = open_store().await;
    let store = Arc::new(store);
    let savers: Vec<_> = (0..8)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.save_flow("ns", "race", &format!("source {n}")).await })
        })
        .collect();
    let mut saved = Vec::new();
    for saver in savers {
        saved.push(saver.await.unwrap().unwrap());
    }

    let mut numbers = revision_numbers(&saved);
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=8).collect::<Vec<u32>>());
    // What each saver was told is what was stored.
    let mut stored = store.flow_revisions("ns", "race").await.unwrap();
    saved.sort_by_key(|f| f.revision);
    assert_eq!(stored, saved);
    let sources: BTreeSet<_> = stored.drain(..).map(|f| f.source).collect();
    assert_eq!(sources.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_saves_of_one_text_make_one_revision() {
    let (_db, store) = open_store().await;
    let store = Arc::new(store);
    let savers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.save_flow("ns", "same", "tasks: []").await })
        })
        .collect();
    for saver in savers {
        assert_eq!(saver.await.unwrap().unwrap().revision, 1);
    }
    assert_eq!(revision_numbers(&store.flow_revisions("ns", "same").await.unwrap()), vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_do_not_collide() {
    // Two stores on one database stand for two processes: the lock is the database's, not the
    // store's.
    let (db, first) = open_store().await;
    let second = db.open_again().await;
    let mut savers = Vec::new();
    for n in 0..8 {
        let store = if n % 2 == 0 { first.clone() } else { second.clone() };
        savers.push(tokio::spawn(async move { store.save_flow("ns", "shared", &format!("v{n}")).await }));
    }
    for saver in savers {
        saver.await.unwrap().unwrap();
    }
    assert_eq!(
        revision_numbers(&first.flow_revisions("ns", "shared").await.unwrap()),
        (1..=8).collect::<Vec<_>>()
    );
}
