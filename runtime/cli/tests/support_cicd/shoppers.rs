//! Shoppers: steady traffic to the shop's Service while releases happen, as users make it. Each
//! request is a fresh connection (the double's Service proxy picks a pod per connection, as
//! kube-proxy does), so every pod behind the Service gets its share, and Prometheus sees the
//! canary's errors in the counters it scrapes from the pods.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the shoppers got: the count of answers by what they said (`shop 1a2b3c4` for a
/// version's 200s, `500` for errors, `unreachable` when no answer came).
#[derive(Clone, Default)]
pub struct Shoppers {
    seen: Arc<Mutex<BTreeMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Shoppers {
    /// Starts a request to `url/?item=<n>` every 25 ms, items 1, 2, 3, ... in turn.
    pub fn start(url: &str) -> Shoppers {
        let shoppers = Shoppers::default();
        let (seen, stop, url) = (shoppers.seen.clone(), shoppers.stop.clone(), url.to_string());
        std::thread::spawn(move || {
            let mut item = 0u64;
            while !stop.load(Ordering::SeqCst) {
                item += 1;
                let answer = crate::support_kube::http_get_status(&format!("{url}/?item={item}"));
                *seen.lock().unwrap().entry(label(answer)).or_default() += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        shoppers
    }

    /// Stops the requests (the thread ends after the one under way).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The answers so far, and starts counting afresh.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn label(answer: Option<(u16, String)>) -> String {
    match answer {
        Some((200, body)) => body.split(':').next().unwrap_or_default().trim().to_string(),
        Some((status, _)) => status.to_string(),
        None => "unreachable".to_string(),
    }
}
