//! sluice's jenkins task, `jenkins.build`: trigger a job ([`build`]), follow its queue item to a
//! build number ([`queue`]), stream its console into the task's log ([`console`]) and end with
//! the build's result. [`client`] is the connection: basic auth with an API token, the CSRF
//! crumb fetched when the server asks for one, retries, the task's own deadline, and Jenkins'
//! errors.

mod build;
mod client;
mod console;
mod queue;

sluice_plugin::plugin! {
    name: "jenkins",
    version: env!("CARGO_PKG_VERSION"),
    description: "Run Jenkins jobs: trigger, follow the queue, stream the console, end with the build's result.",
    tasks: [build::BuildTask],
}
