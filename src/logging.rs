//! `[log]`: how the service writes its log, and starting the log at start-up.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `json` (one object per line, for log collectors) or `text`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `tunnus=debug,info`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

impl LogSettings {
    /// Rejects a filter that tracing cannot read, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        tracing_subscriber::EnvFilter::try_new(&self.level)
            .map(|_| ())
            .map_err(|problem| ConfigError::invalid("log.level", problem.to_string()))
    }

    /// Sends the process's log lines to standard output in the configured format and level.
    pub fn init(&self) -> Result<(), ConfigError> {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.level)
            .map_err(|problem| ConfigError::invalid("log.level", problem.to_string()))?;
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        let result = match self.format {
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
            LogFormat::Text => builder.try_init(),
        };
        result.map_err(|problem| {
            ConfigError::invalid("log", format!("cannot start logging: {problem}"))
        })
    }
}
