//! The output contract between Thoth's WorkflowTemplates and this operator: which
//! Workflow output parameters a template publishes and what their values look like.
//! `docs/workflow-contract.md` is the prose of this module; keep the two in step.
//!
//! Templates publish each result as a global output parameter (an output parameter
//! with `globalName`), which Argo copies into `status.outputs.parameters` of the
//! Workflow. Values are strings; the structured ones are JSON.
//!
//! | parameter | kinds | value |
//! | --- | --- | --- |
//! | `document-id` | all | id of the result document, e.g. the Workflow name |
//! | `solver-results` | SolverRun | JSON list of [`SolverVersionResult`] |
//! | `security-indicators-result` | SecurityIndicatorRun | one of [`SecurityIndicatorsOutcome`]'s values |
//! | `unresolved-packages` | AdviceRequest | JSON list of [`AdviceUnresolvedEntry`] (`[]` when none) |
//!
//! A Succeeded Workflow must publish both parameters of its kind. A Failed or Errored
//! Workflow may publish them (the solver, for instance, reports which versions failed);
//! when it publishes neither, the run counts as an error of the package.

use serde::{Deserialize, Serialize};
use strum::{AsRefStr, EnumString, IntoStaticStr, VariantArray};

/// Output parameter holding the id of the result document the Workflow wrote
/// (Thoth's document id; graph-sync and the user API look results up by it).
pub const DOCUMENT_ID: &str = "document-id";
/// Output parameter of solver Workflows: a JSON list of [`SolverVersionResult`].
pub const SOLVER_RESULTS: &str = "solver-results";
/// Output parameter of security-indicator Workflows: a [`SecurityIndicatorsOutcome`] value.
pub const SECURITY_INDICATORS_RESULT: &str = "security-indicators-result";
/// Output parameter of adviser Workflows: a JSON list of [`AdviceUnresolvedEntry`].
pub const UNRESOLVED_PACKAGES: &str = "unresolved-packages";

/// What the solver found for one version of the package it was asked about.
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
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SolverVersionStatus {
    /// The version and its direct dependencies resolved.
    Solved,
    /// Its dependencies cannot be satisfied from the indexes.
    Unsolvable,
    /// Its metadata (requirements) could not be parsed.
    Unparseable,
    /// Anything else went wrong (download, build, crash).
    Error,
}

/// One element of `solver-results`: `{"version": "5.3.1", "status": "solved"}`, with
/// an optional `"message"` saying what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SolverVersionResult {
    pub version: String,
    pub status: SolverVersionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The value of `security-indicators-result`.
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
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SecurityIndicatorsOutcome {
    /// bandit and cloc ran and the aggregated document was written.
    Done,
    /// The version has only wheels; there is no source to analyse.
    NoSourceDistribution,
    /// The index no longer serves this version.
    MissingVersion,
    /// The analysis failed.
    Error,
}

/// One element of `unresolved-packages`, the wire form of a [`crate::store::AdviceUnresolved`]
/// row: a package the adviser could not resolve because the knowledge graph lacks it, e.g.
/// `{"name": "flask", "version": "2.0.1", "index": "https://pypi.org/simple"}`.
/// `version` and `index` may be null or absent (any version, any index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdviceUnresolvedEntry {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub index: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_are_spelled_the_same_in_json_and_as_plain_strings() {
        for status in SolverVersionStatus::VARIANTS {
            let json = serde_json::to_value(status).expect("serialises");
            assert_eq!(json, json!(status.as_ref()));
        }
        for outcome in SecurityIndicatorsOutcome::VARIANTS {
            let json = serde_json::to_value(outcome).expect("serialises");
            assert_eq!(json, json!(outcome.as_ref()));
            assert_eq!(
                outcome.as_ref().parse::<SecurityIndicatorsOutcome>(),
                Ok(*outcome)
            );
        }
        assert_eq!(
            SecurityIndicatorsOutcome::NoSourceDistribution.as_ref(),
            "no_source_distribution"
        );
    }

    #[test]
    fn unresolved_entries_may_omit_version_and_index() {
        let entry: AdviceUnresolvedEntry =
            serde_json::from_value(json!({"name": "flask"})).expect("parses");
        assert_eq!(entry.version, None);
        assert_eq!(entry.index, None);
    }
}
