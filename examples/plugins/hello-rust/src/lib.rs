use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Task, TaskError};

struct Greet;

/// Config of `hello.greet`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GreetConfig {
    /// Who to greet.
    name: String,
}

#[derive(Serialize, JsonSchema)]
struct Greeting {
    text: String,
}

impl Task for Greet {
    const NAME: &'static str = "greet";
    const DESCRIPTION: &'static str = "Greets `name` in the log and outputs the greeting.";
    type Config = GreetConfig;
    type Output = Greeting;

    fn run(config: GreetConfig) -> Result<Greeting, TaskError> {
        let text = format!("hello, {}", config.name);
        sluice_plugin::info!("{text}");
        Ok(Greeting { text })
    }
}

sluice_plugin::plugin! {
    name: "hello",
    version: env!("CARGO_PKG_VERSION"),
    description: "Greets people.",
    tasks: [Greet],
}
