//! Thoth's shared vocabulary: the enumerations more than one stage names (messages, custom
//! resources, the store, reconciliation), each declared once with its spelling derived.
//!
//! A leaf module: it imports nothing of the operator, so every other module — `store`
//! included — may use it. Each enum's string form is derived (strum for plain strings,
//! serde for JSON, schemars for the CRD schema) from the one `serialize_all`/`rename_all`
//! attribute pair on it, never written out as a match table; the tests below pin that
//! the three spellings agree.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strum::{AsRefStr, Display, EnumIter, EnumString, IntoStaticStr, VariantArray};

/// The three custom resources this operator owns, spelled as their Kubernetes kind (and as
/// the store's `resource_kind` column holds them).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    AsRefStr,
    Display,
    EnumIter,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
pub enum ResourceKind {
    SolverRun,
    SecurityIndicatorRun,
    AdviceRequest,
}

impl ResourceKind {
    /// The kind as Kubernetes and the store spell it, e.g. `SolverRun`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind a string names exactly (case-sensitive, as Kubernetes kinds are); `None`
    /// for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// The phases of an Argo Workflow this operator acts on, as Argo spells them and as the
/// store's `workflow_attempt.phase` column holds them. An unset phase is recorded as
/// `Pending`; a phase Argo may add later is kept beside these by
/// [`crate::api::argo::ArgoPhase::Other`], and [`crate::api::argo::ArgoPhase::known`]
/// is the one conversion between the two.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    AsRefStr,
    Display,
    EnumIter,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
pub enum WorkflowPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Error,
}

impl WorkflowPhase {
    /// The phase as Argo spells it, e.g. `Succeeded`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The phase a string names exactly; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }

    /// Succeeded, Failed and Error: Argo moves a Workflow out of none of them.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Error)
    }
}

/// Where a custom resource stands (its `status.phase`). `Queued` means admitted by us but
/// held back because its target namespace is at its limit of active Workflows; the
/// others follow the resource's current Workflow ([`Phase::attempt_phase`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    AsRefStr,
    Display,
    EnumIter,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
pub enum Phase {
    Pending,
    Queued,
    Running,
    Succeeded,
    Failed,
    Error,
}

impl Phase {
    /// The phase as the resource's status spells it, e.g. `Queued`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Succeeded, Failed and Error are final: nothing moves a resource out of them
    /// except an explicit re-run.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Error)
    }

    /// The phase of the Workflow attempt a resource in this phase stands for: a queued
    /// resource's attempt has not started, so it is `Pending`.
    pub fn attempt_phase(self) -> WorkflowPhase {
        match self {
            Self::Pending | Self::Queued => WorkflowPhase::Pending,
            Self::Running => WorkflowPhase::Running,
            Self::Succeeded => WorkflowPhase::Succeeded,
            Self::Failed => WorkflowPhase::Failed,
            Self::Error => WorkflowPhase::Error,
        }
    }
}

/// Where an advise request came from; Thoth (`thoth.common.enums.ThothAdviserIntegrationEnum`)
/// refuses any other spelling, and so do our parser and the AdviceRequest CRD.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    AsRefStr,
    Display,
    EnumIter,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum SourceType {
    Cli,
    Kebechet,
    S2i,
    JupyterNotebook,
}

impl SourceType {
    /// The source a string names exactly (`CLI`, `KEBECHET`, `S2I`, `JUPYTER_NOTEBOOK`).
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// What the adviser optimises for (Thoth's `RecommendationType`), spelled in lower case
/// in the CRD; messages may use any case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    AsRefStr,
    Display,
    EnumIter,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum RecommendationType {
    Latest,
    Performance,
    Security,
    Stable,
    Testing,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    /// strum's spelling, serde's and (where there is one) the CRD schema's agree for every
    /// variant, and each spelling reads back as its variant.
    fn spellings_agree<T>(variants: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + AsRef<str> + std::fmt::Display,
        T: Serialize + DeserializeOwned + std::str::FromStr,
    {
        for v in variants {
            let text = v.as_ref();
            assert_eq!(v.to_string(), text);
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(text));
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(text)).unwrap(),
                *v
            );
            assert!(matches!(text.parse::<T>(), Ok(p) if p == *v), "{text}");
        }
    }

    fn schema_values<T: JsonSchema>() -> Vec<String> {
        let schema = schemars::schema_for!(T);
        let values = schema.get("enum").and_then(|e| e.as_array()).unwrap();
        values
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn each_enum_has_one_spelling_everywhere() {
        spellings_agree(ResourceKind::VARIANTS);
        spellings_agree(WorkflowPhase::VARIANTS);
        spellings_agree(Phase::VARIANTS);
        spellings_agree(SourceType::VARIANTS);
        spellings_agree(RecommendationType::VARIANTS);
        let spelled = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            schema_values::<SourceType>(),
            spelled(&["CLI", "KEBECHET", "S2I", "JUPYTER_NOTEBOOK"])
        );
        assert_eq!(
            schema_values::<RecommendationType>(),
            spelled(&["latest", "performance", "security", "stable", "testing"])
        );
        assert_eq!(
            schema_values::<Phase>(),
            spelled(&[
                "Pending",
                "Queued",
                "Running",
                "Succeeded",
                "Failed",
                "Error"
            ])
        );
    }

    #[test]
    fn parsing_is_exact_except_where_thoth_is_lenient() {
        assert_eq!(
            ResourceKind::parse("SolverRun"),
            Some(ResourceKind::SolverRun)
        );
        assert_eq!(ResourceKind::parse("solverrun"), None);
        assert_eq!(WorkflowPhase::parse("Omitted"), None);
        assert_eq!(SourceType::parse("kebechet"), None);
        assert_eq!(
            SourceType::parse("JUPYTER_NOTEBOOK"),
            Some(SourceType::JupyterNotebook)
        );
        assert_eq!(
            "LATEST".parse::<RecommendationType>(),
            Ok(RecommendationType::Latest)
        );
        assert!("newest".parse::<RecommendationType>().is_err());
    }

    #[test]
    fn a_queued_resource_stands_for_a_pending_attempt() {
        assert_eq!(Phase::Queued.attempt_phase(), WorkflowPhase::Pending);
        for phase in Phase::VARIANTS {
            if *phase != Phase::Queued {
                assert_eq!(phase.attempt_phase().as_str(), phase.as_str());
            }
        }
    }
}
