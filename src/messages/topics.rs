//! Topic names: `<THOTH_DEPLOYMENT_NAME>.<base name>`, or the bare base name
//! when no deployment name is set, so that several Thoth deployments can share
//! one Kafka cluster.

use std::fmt;

use super::catalogue::{MessageKind, RetiredKind};

/// The environment variable Thoth reads the deployment name from.
pub const DEPLOYMENT_NAME_ENV: &str = "THOTH_DEPLOYMENT_NAME";

/// The operator's own topic for records it could not handle (`<prefix>.thoth.operator.dead-letter`):
/// the original bytes, with headers saying why and where they came from.
pub const DEAD_LETTER_BASE_TOPIC: &str = "thoth.operator.dead-letter";

/// Kafka's own limit on a topic name.
const MAX_TOPIC_LEN: usize = 249;
/// The longest base name in the catalogue (live or retired), so that every
/// prefixed topic (prefix, dot, base name) stays within Kafka's limit.
const LONGEST_BASE_TOPIC: usize = 44;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicPrefixError {
    #[error(
        "deployment name {0:?} has characters Kafka does not allow in a topic name (allowed: letters, digits, '.', '_', '-')"
    )]
    InvalidCharacters(String),
    #[error(
        "deployment name {0:?} is too long: with a base topic name the topic would exceed Kafka's {MAX_TOPIC_LEN} characters"
    )]
    TooLong(String),
    /// Set but empty or blank (issue 8): Thoth's producers would publish to `.thoth.…`.
    #[error(
        "the deployment name (THOTH_DEPLOYMENT_NAME, --deployment-name) is set but empty: Thoth's producers would publish to \".thoth.…\" topics; unset it for bare topic names"
    )]
    EmptyDeploymentName,
}

/// The deployment name that prefixes every topic; `None` means bare base names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicPrefix(Option<String>);

/// What a topic name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicMatch {
    Live(MessageKind),
    Retired(RetiredKind),
    Unknown,
}

impl TopicPrefix {
    /// Bare base names, as when `THOTH_DEPLOYMENT_NAME` is unset.
    pub fn none() -> Self {
        Self(None)
    }

    /// A deployment name such as `smaug-prod` (surrounding blanks ignored); no prefix is
    /// [`TopicPrefix::none`], never an empty name. Also the parser of every command's
    /// `--deployment-name` / THOTH_DEPLOYMENT_NAME, whose absence means no prefix.
    ///
    /// # Errors
    /// [`TopicPrefixError::EmptyDeploymentName`] for an empty or blank name (Thoth's
    /// producers build `f"{deployment_name}.{base}"`, so they would publish to `.thoth.…`
    /// while we read `thoth.…`, and every message would be lost without an error); the
    /// other variants for a name Kafka refuses in a topic name.
    pub fn new(deployment_name: &str) -> Result<Self, TopicPrefixError> {
        let name = deployment_name.trim();
        if name.is_empty() {
            return Err(TopicPrefixError::EmptyDeploymentName);
        }
        let valid = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(TopicPrefixError::InvalidCharacters(name.to_string()));
        }
        if name.len() + 1 + LONGEST_BASE_TOPIC > MAX_TOPIC_LEN {
            return Err(TopicPrefixError::TooLong(name.to_string()));
        }
        Ok(Self(Some(name.to_string())))
    }

    /// Reads `THOTH_DEPLOYMENT_NAME`; unset means bare base names.
    ///
    /// Set but empty (or blank) is refused (issue 8): thoth-messaging builds topic names
    /// as `f"{deployment_name}.{base}"`, so its producers would publish to `.thoth.…` while
    /// we consumed `thoth.…`, and every message would be lost without an error.
    ///
    /// # Errors
    /// [`TopicPrefixError::EmptyDeploymentName`], or what [`TopicPrefix::new`] refuses.
    pub fn from_env() -> Result<Self, TopicPrefixError> {
        Self::from_env_value(std::env::var(DEPLOYMENT_NAME_ENV).ok().as_deref())
    }

    /// [`TopicPrefix::from_env`] for a given value of the variable (`None`: unset).
    ///
    /// # Errors
    /// As [`TopicPrefix::from_env`].
    pub fn from_env_value(value: Option<&str>) -> Result<Self, TopicPrefixError> {
        match value {
            None => Ok(Self(None)),
            Some(name) => Self::new(name),
        }
    }

    pub fn deployment_name(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The full topic name for a base name.
    pub fn topic(&self, base: &str) -> String {
        match &self.0 {
            Some(prefix) => format!("{prefix}.{base}"),
            None => base.to_string(),
        }
    }

    pub fn topic_for(&self, kind: MessageKind) -> String {
        self.topic(kind.base_topic())
    }

    /// Every live topic, for a consumer to subscribe to.
    pub fn live_topics(&self) -> Vec<String> {
        MessageKind::ALL
            .iter()
            .map(|kind| self.topic_for(*kind))
            .collect()
    }

    /// The dead-letter topic of this deployment.
    pub fn dead_letter_topic(&self) -> String {
        self.topic(DEAD_LETTER_BASE_TOPIC)
    }

    /// The base name of a full topic name, if the topic belongs to this deployment.
    pub fn strip<'t>(&self, topic: &'t str) -> Option<&'t str> {
        match &self.0 {
            Some(prefix) => topic.strip_prefix(prefix.as_str())?.strip_prefix('.'),
            None => Some(topic),
        }
    }

    /// What a full topic name refers to. A topic of another deployment (another
    /// prefix, or no prefix when we have one) is unknown to us.
    pub fn resolve(&self, topic: &str) -> TopicMatch {
        let Some(base) = self.strip(topic) else {
            return TopicMatch::Unknown;
        };
        if let Some(kind) = MessageKind::from_base_topic(base) {
            TopicMatch::Live(kind)
        } else if let Some(kind) = RetiredKind::from_base_topic(base) {
            TopicMatch::Retired(kind)
        } else {
            TopicMatch::Unknown
        }
    }
}

impl fmt::Display for TopicPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("(none)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_deployment_name_in_the_environment_is_refused() {
        assert_eq!(TopicPrefix::from_env_value(None), Ok(TopicPrefix::none()));
        for empty in ["", " ", "\t"] {
            assert_eq!(
                TopicPrefix::from_env_value(Some(empty)),
                Err(TopicPrefixError::EmptyDeploymentName),
                "{empty:?}"
            );
        }
        for empty in ["", " "] {
            assert_eq!(
                TopicPrefix::new(empty),
                Err(TopicPrefixError::EmptyDeploymentName)
            );
        }
        let message = TopicPrefixError::EmptyDeploymentName.to_string();
        assert!(
            message.contains("THOTH_DEPLOYMENT_NAME") && message.contains("--deployment-name"),
            "{message}"
        );
        assert_eq!(
            TopicPrefix::from_env_value(Some("ocp4-stage"))
                .unwrap()
                .topic("thoth.solver.solved-package"),
            "ocp4-stage.thoth.solver.solved-package"
        );
    }

    #[test]
    fn longest_base_topic_is_the_constant() {
        let longest = MessageKind::ALL
            .iter()
            .map(|k| k.base_topic().len())
            .chain(RetiredKind::ALL.iter().map(|k| k.base_topic().len()))
            .max()
            .unwrap();
        assert_eq!(longest, LONGEST_BASE_TOPIC);
    }

    #[test]
    fn prefixed_topics_resolve_only_with_their_prefix() {
        let prod = TopicPrefix::new("smaug-prod").unwrap();
        assert_eq!(
            prod.topic_for(MessageKind::SolvedPackage),
            "smaug-prod.thoth.solver.solved-package"
        );
        assert_eq!(
            prod.resolve("smaug-prod.thoth.solver.solved-package"),
            TopicMatch::Live(MessageKind::SolvedPackage)
        );
        assert_eq!(
            prod.resolve("thoth.solver.solved-package"),
            TopicMatch::Unknown
        );
        assert_eq!(
            prod.resolve("smaug-stage.thoth.solver.solved-package"),
            TopicMatch::Unknown
        );
        assert_eq!(
            prod.resolve("smaug-prodthoth.solver.solved-package"),
            TopicMatch::Unknown
        );
        assert_eq!(
            prod.dead_letter_topic(),
            "smaug-prod.thoth.operator.dead-letter"
        );
        assert_eq!(
            prod.resolve("smaug-prod.thoth.qebhwt-trigger"),
            TopicMatch::Retired(RetiredKind::QebHwtTrigger)
        );
    }

    #[test]
    fn an_unset_deployment_means_bare_topics() {
        for prefix in [
            TopicPrefix::none(),
            TopicPrefix::from_env_value(None).unwrap(),
        ] {
            assert_eq!(prefix.deployment_name(), None);
            assert_eq!(
                prefix.topic_for(MessageKind::AdviserTrigger),
                "thoth.adviser-trigger"
            );
            assert_eq!(
                prefix.resolve("thoth.adviser-trigger"),
                TopicMatch::Live(MessageKind::AdviserTrigger)
            );
            assert_eq!(
                prefix.resolve("smaug-prod.thoth.adviser-trigger"),
                TopicMatch::Unknown
            );
        }
        assert_eq!(TopicPrefix::none().live_topics().len(), 19);
        assert_eq!(
            TopicPrefix::none().dead_letter_topic(),
            "thoth.operator.dead-letter"
        );
    }

    #[test]
    fn the_longest_deployment_name_that_fits_every_topic_is_accepted() {
        let longest = MAX_TOPIC_LEN - 1 - LONGEST_BASE_TOPIC;
        let prefix = TopicPrefix::new(&"a".repeat(longest)).unwrap();
        let topics = prefix.live_topics();
        assert_eq!(
            topics.iter().map(|t| t.len()).max(),
            Some(MAX_TOPIC_LEN),
            "the longest topic is exactly Kafka's limit"
        );
        assert!(matches!(
            TopicPrefix::new(&"a".repeat(longest + 1)),
            Err(TopicPrefixError::TooLong(_))
        ));
    }

    #[test]
    fn deployment_names_kafka_cannot_carry_are_refused() {
        assert!(matches!(
            TopicPrefix::new("smaug prod"),
            Err(TopicPrefixError::InvalidCharacters(_))
        ));
        assert!(matches!(
            TopicPrefix::new(&"a".repeat(MAX_TOPIC_LEN)),
            Err(TopicPrefixError::TooLong(_))
        ));
    }
}
