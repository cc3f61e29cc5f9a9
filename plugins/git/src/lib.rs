//! sluice's git tasks: `git.clone` and `git.push`, speaking smart HTTP over wasi:http.
//!
//! One module per step of the protocol: [`remote`] (HTTP requests and their errors), [`pktline`]
//! (framing), [`refs`] (ref discovery), [`fetch`] (negotiation and pack receive), [`pack`] and
//! [`delta`] (pack decoding and encoding), [`object`] (trees and commits), [`checkout`]
//! (writing files), [`gitdir`] (the `.git` directory), [`clone`] and [`push`] (the tasks).

mod checkout;
mod clone;
mod delta;
mod fetch;
mod fsio;
mod gitdir;
mod object;
mod oid;
mod pack;
mod pktline;
mod push;
mod refs;
mod remote;
mod submodules;

/// What the plugin calls itself on the wire.
pub(crate) const AGENT: &str = concat!("sluice-git/", env!("CARGO_PKG_VERSION"));

sluice_plugin::plugin! {
    name: "git",
    version: env!("CARGO_PKG_VERSION"),
    description: "Clone and push git repositories over smart HTTP, entirely inside the sandbox.",
    tasks: [clone::CloneTask, push::PushTask],
}
