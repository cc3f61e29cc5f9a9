//! The [`plugin!`](crate::plugin) macro and the glue it expands to.

/// Declare the plugin: implements the component's exports for a list of [`Task`](crate::Task)s.
///
/// ```ignore
/// sluice_plugin::plugin! {
///     name: "core",
///     version: env!("CARGO_PKG_VERSION"),
///     description: "Logging, HTTP and assertions.",
///     tasks: [LogTask, HttpTask],
/// }
/// ```
///
/// `describe` reports each task with the JSON Schemas (draft 2020-12) of its config and output;
/// `run` picks the task by name, parses the config (a parse error is `invalid-config`), runs it
/// and serializes the output. Use it once per crate, at the crate root or in any module.
#[macro_export]
macro_rules! plugin {
    (
        name: $name:expr,
        version: $version:expr,
        description: $description:expr,
        tasks: [$($task:ty),* $(,)?] $(,)?
    ) => {
        #[doc(hidden)]
        pub struct __SluicePlugin;

        impl $crate::bindings::exports::sluice::plugin::task::Guest for __SluicePlugin {
            fn describe() -> $crate::bindings::sluice::plugin::types::PluginInfo {
                $crate::__private::plugin_info(
                    $name,
                    $version,
                    $description,
                    ::std::vec![$($crate::__private::task_info::<$task>()),*],
                )
            }

            fn run(
                task: ::std::string::String,
                config: ::std::string::String,
            ) -> ::core::result::Result<
                ::std::string::String,
                $crate::bindings::sluice::plugin::types::TaskError,
            > {
                $(
                    if task == <$task as $crate::Task>::NAME {
                        return $crate::__private::run::<$task>(&config);
                    }
                )*
                ::core::result::Result::Err($crate::__private::unknown_task(
                    &task,
                    &[$(<$task as $crate::Task>::NAME),*],
                ))
            }
        }

        $crate::bindings::export!(__SluicePlugin with_types_in $crate::bindings);
    };
}

/// What the macro expands to; not a stable API.
#[doc(hidden)]
pub mod __private {
    use schemars::JsonSchema;
    use schemars::generate::SchemaSettings;

    use crate::bindings::sluice::plugin::types::{PluginInfo, TaskError, TaskInfo};
    use crate::{Task, TaskError as SdkError};

    pub fn plugin_info(name: &str, version: &str, description: &str, tasks: Vec<TaskInfo>) -> PluginInfo {
        PluginInfo {
            name: name.to_string(),
            version: version.to_string(),
            description: description.to_string(),
            tasks,
        }
    }

    pub fn task_info<T: Task>() -> TaskInfo {
        TaskInfo {
            name: T::NAME.to_string(),
            description: T::DESCRIPTION.to_string(),
            config_schema: schema::<T::Config>(SchemaSettings::draft2020_12().for_deserialize()),
            output_schema: schema::<T::Output>(SchemaSettings::draft2020_12().for_serialize()),
            capabilities: T::capabilities().into_iter().map(Into::into).collect(),
        }
    }

    fn schema<S: JsonSchema>(settings: SchemaSettings) -> String {
        let schema = settings.into_generator().into_root_schema_for::<S>();
        // A `Schema` is a JSON value; serializing it cannot fail.
        serde_json::to_string(&schema).unwrap_or_else(|_| "{}".to_string())
    }

    pub fn run<T: Task>(config: &str) -> Result<String, TaskError> {
        let config: T::Config =
            serde_json::from_str(config).map_err(|err| SdkError::invalid_config(without_position(&err)))?;
        let output = T::run(config)?;
        serde_json::to_string(&output)
            .map_err(|err| SdkError::failed(format!("could not serialize the task's output: {err}")).into())
    }

    pub fn unknown_task(task: &str, known: &[&str]) -> TaskError {
        let known: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
        SdkError::invalid_config(format!("unknown task `{task}`: this plugin offers {}", known.join(", ")))
            .into()
    }

    /// serde_json ends messages with "at line 1 column 42", which means nothing to a flow author
    /// (the host wrote that JSON); the message itself already names the field.
    fn without_position(err: &serde_json::Error) -> String {
        let message = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        match message.strip_suffix(&suffix) {
            Some(stripped) if err.line() != 0 => stripped.to_string(),
            _ => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::__private::{run, task_info, unknown_task};
    use crate::bindings::sluice::plugin::types::TaskError;
    use crate::{Capability, Task, TaskError as SdkError};

    struct Greet;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct GreetConfig {
        name: String,
    }

    #[derive(Serialize, JsonSchema)]
    struct Greeting {
        text: String,
    }

    impl Task for Greet {
        const NAME: &'static str = "greet";
        const DESCRIPTION: &'static str = "Greets.";
        type Config = GreetConfig;
        type Output = Greeting;

        fn capabilities() -> Vec<Capability> {
            vec![Capability::Docker]
        }

        fn run(config: GreetConfig) -> Result<Greeting, SdkError> {
            if config.name.is_empty() {
                return Err(SdkError::failed("no name"));
            }
            Ok(Greeting { text: format!("hello {}", config.name) })
        }
    }

    fn message(err: TaskError) -> (&'static str, String) {
        match err {
            TaskError::InvalidConfig(m) => ("invalid-config", m),
            TaskError::Denied(m) => ("denied", m),
            TaskError::Failed(m) => ("failed", m),
        }
    }

    #[test]
    fn runs_and_maps_errors() {
        assert_eq!(run::<Greet>(r#"{"name":"you"}"#).ok(), Some(r#"{"text":"hello you"}"#.to_string()));
        let err = run::<Greet>(r#"{"nme":"you"}"#).err().map(message);
        assert_eq!(err, Some(("invalid-config", "unknown field `nme`, expected `name`".to_string())));
        let err = run::<Greet>(r#"{"name":""}"#).err().map(message);
        assert_eq!(err, Some(("failed", "no name".to_string())));
        assert_eq!(
            message(unknown_task("nope", &["a", "b"])),
            ("invalid-config", "unknown task `nope`: this plugin offers `a`, `b`".to_string())
        );
    }

    #[test]
    fn describes_with_2020_12_schemas() {
        let info = task_info::<Greet>();
        let config: serde_json::Value =
            serde_json::from_str(&info.config_schema).expect("config schema is JSON");
        assert_eq!(config["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(config["additionalProperties"], false);
        assert_eq!(config["required"], serde_json::json!(["name"]));
        let output: serde_json::Value =
            serde_json::from_str(&info.output_schema).expect("output schema is JSON");
        assert_eq!(output["properties"]["text"]["type"], "string");
        assert_eq!(info.capabilities.len(), 1);
    }
}
