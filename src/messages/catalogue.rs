//! The table of every message type: its Thoth name, base topic, schema
//! versions and Rust model. One macro invocation keeps the kind, the body enum
//! and the dispatch in step, so a type cannot be added to one and not the others.

use serde_json::Value;

use super::fields::InvalidField;
use super::package_messages::{
    CveProvided, HashMismatch, MissingPackage, MissingVersion, PackageReleased,
    SiUnanalyzedPackage, SolvedPackage, UnresolvedPackage, UnrevsolvedPackage,
    UpdateProvidesSourceDistro,
};
use super::trigger_messages::{
    AdviseJustification, AdviserTrigger, BuildAnalysisTrigger, InspectionCompleted,
    KebechetRunUrlTrigger, KebechetTrigger, PackageExtractTrigger, ProvenanceCheckerTrigger,
    ThothRepoInit,
};

/// Checks a well-typed message body for values the operator must not act on
/// (invalid package names, index URLs, ids, enumerations).
pub trait Validate {
    fn validate(&self) -> Result<(), InvalidField>;
}

macro_rules! catalogue {
    ($(
        $variant:ident($model:ty) {
            name: $name:literal,
            file_stem: $stem:literal,
            topic: $topic:literal,
            current: $current:literal,
            accepts: [$($accepted:literal),+ $(,)?] $(,)?
        }
    )+) => {
        /// Every live Thoth message type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum MessageKind {
            $($variant,)+
        }

        impl MessageKind {
            pub const ALL: &'static [MessageKind] = &[$(MessageKind::$variant,)+];

            /// Thoth's name for the type, without the `Message` suffix.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)+ }
            }

            /// The type's name in snake case (fixture files, metric labels).
            pub fn snake_name(self) -> &'static str {
                match self { $(Self::$variant => $stem,)+ }
            }

            /// The topic name without the deployment prefix.
            pub fn base_topic(self) -> &'static str {
                match self { $(Self::$variant => $topic,)+ }
            }

            /// The version Thoth's producers write today.
            pub fn current_version(self) -> &'static str {
                match self { $(Self::$variant => $current,)+ }
            }

            /// Every version Thoth's consumer handles, oldest first.
            pub fn accepted_versions(self) -> &'static [&'static str] {
                match self { $(Self::$variant => &[$($accepted),+],)+ }
            }

            pub fn accepts_version(self, version: &str) -> bool {
                self.accepted_versions().contains(&version)
            }

            pub fn from_base_topic(base: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|kind| kind.base_topic() == base)
            }
        }

        /// The body of a message (every field but the envelope), one variant per type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum MessageBody {
            $($variant($model),)+
        }

        impl MessageBody {
            pub fn kind(&self) -> MessageKind {
                match self { $(Self::$variant(_) => MessageKind::$variant,)+ }
            }

            pub(crate) fn deserialize(
                kind: MessageKind,
                body: &Value,
            ) -> Result<Self, serde_path_to_error::Error<serde_json::Error>> {
                match kind {
                    $(MessageKind::$variant => {
                        serde_path_to_error::deserialize::<_, $model>(body).map(Self::$variant)
                    })+
                }
            }

            pub(crate) fn to_value(&self) -> Result<Value, serde_json::Error> {
                match self { $(Self::$variant(model) => serde_json::to_value(model),)+ }
            }
        }

        impl Validate for MessageBody {
            fn validate(&self) -> Result<(), InvalidField> {
                match self { $(Self::$variant(model) => model.validate(),)+ }
            }
        }

        $(
            impl From<$model> for MessageBody {
                fn from(model: $model) -> Self {
                    Self::$variant(model)
                }
            }
        )+
    };
}

catalogue! {
    UnresolvedPackage(UnresolvedPackage) {
        name: "UnresolvedPackage", file_stem: "unresolved_package",
        topic: "thoth.investigator.unresolved-package", current: "v1", accepts: ["v1"],
    }
    UnrevsolvedPackage(UnrevsolvedPackage) {
        name: "UnrevsolvedPackage", file_stem: "unrevsolved_package",
        topic: "thoth.investigator.unrevsolved-package", current: "v1", accepts: ["v1"],
    }
    SiUnanalyzedPackage(SiUnanalyzedPackage) {
        name: "SIUnanalyzedPackage", file_stem: "si_unanalyzed_package",
        topic: "thoth.investigator.si-unanalyzed-package", current: "v1", accepts: ["v1"],
    }
    SolvedPackage(SolvedPackage) {
        name: "SolvedPackage", file_stem: "solved_package",
        topic: "thoth.solver.solved-package", current: "v1", accepts: ["v1"],
    }
    PackageReleased(PackageReleased) {
        name: "PackageReleased", file_stem: "package_released",
        topic: "thoth.package-release.package-released", current: "v1", accepts: ["v1"],
    }
    HashMismatch(HashMismatch) {
        name: "HashMismatch", file_stem: "hash_mismatch",
        topic: "thoth.package-update.hash-mismatch", current: "v1", accepts: ["v1"],
    }
    MissingPackage(MissingPackage) {
        name: "MissingPackage", file_stem: "missing_package",
        topic: "thoth.package-update.missing-package", current: "v1", accepts: ["v1"],
    }
    MissingVersion(MissingVersion) {
        name: "MissingVersion", file_stem: "missing_version",
        topic: "thoth.package-update.missing-package-version", current: "v1", accepts: ["v1"],
    }
    UpdateProvidesSourceDistro(UpdateProvidesSourceDistro) {
        name: "UpdateProvidesSourceDistro", file_stem: "update_provides_source_distro",
        topic: "thoth.update-provides-source-distro", current: "v1", accepts: ["v1"],
    }
    CveProvided(CveProvided) {
        name: "CVEProvided", file_stem: "cve_provided",
        topic: "thoth.cve-update.cve-provided", current: "v1", accepts: ["v1"],
    }
    AdviseJustification(AdviseJustification) {
        name: "AdviseJustification", file_stem: "advise_justification",
        topic: "thoth.advise-reporter.advise-justification", current: "v1", accepts: ["v1"],
    }
    AdviserTrigger(AdviserTrigger) {
        name: "AdviserTrigger", file_stem: "adviser_trigger",
        topic: "thoth.adviser-trigger", current: "v5", accepts: ["v1", "v2", "v3", "v4", "v5"],
    }
    ProvenanceCheckerTrigger(ProvenanceCheckerTrigger) {
        name: "ProvenanceCheckerTrigger", file_stem: "provenance_checker_trigger",
        topic: "thoth.provenance-checker-trigger", current: "v4", accepts: ["v1", "v2", "v3", "v4"],
    }
    PackageExtractTrigger(PackageExtractTrigger) {
        name: "PackageExtractTrigger", file_stem: "package_extract_trigger",
        topic: "thoth.package-extract-trigger", current: "v2", accepts: ["v1", "v2"],
    }
    BuildAnalysisTrigger(BuildAnalysisTrigger) {
        name: "BuildAnalysisTrigger", file_stem: "build_analysis_trigger",
        topic: "thoth.build-analysis-trigger", current: "v1", accepts: ["v1"],
    }
    KebechetTrigger(KebechetTrigger) {
        name: "KebechetTrigger", file_stem: "kebechet_trigger",
        topic: "thoth.kebechet-trigger", current: "v1", accepts: ["v1"],
    }
    KebechetRunUrlTrigger(KebechetRunUrlTrigger) {
        name: "KebechetRunUrlTrigger", file_stem: "kebechet_run_url_trigger",
        topic: "thoth.kebechet-run-url-trigger", current: "v2", accepts: ["v1", "v2"],
    }
    InspectionCompleted(InspectionCompleted) {
        name: "InspectionCompleted", file_stem: "inspection_completed",
        topic: "thoth.inspection-completed", current: "v1", accepts: ["v1"],
    }
    ThothRepoInit(ThothRepoInit) {
        name: "ThothRepoInit", file_stem: "thoth_repo_init",
        topic: "thoth.repo-init", current: "v1", accepts: ["v1"],
    }
}

/// Message types Thoth removed: their topics may still hold old messages, which
/// we recognise and report as retired rather than as unknown or as live types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetiredKind {
    /// Replaced by AdviserTrigger with `re_run_adviser_id` (April 2021).
    AdviserReRun,
    /// The qeb-hwt GitHub app, deprecated June 2021.
    QebHwtTrigger,
}

impl RetiredKind {
    pub const ALL: &'static [RetiredKind] =
        &[RetiredKind::AdviserReRun, RetiredKind::QebHwtTrigger];

    pub fn name(self) -> &'static str {
        match self {
            Self::AdviserReRun => "AdviserReRun",
            Self::QebHwtTrigger => "QebHwtTrigger",
        }
    }

    pub fn base_topic(self) -> &'static str {
        match self {
            Self::AdviserReRun => "thoth.investigator.adviser-re-run",
            Self::QebHwtTrigger => "thoth.qebhwt-trigger",
        }
    }

    pub fn from_base_topic(base: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.base_topic() == base)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_catalogue_has_nineteen_live_types_with_distinct_topics() {
        assert_eq!(MessageKind::ALL.len(), 19);
        let topics: HashSet<_> = MessageKind::ALL
            .iter()
            .map(|k| k.base_topic())
            .chain(RetiredKind::ALL.iter().map(|k| k.base_topic()))
            .collect();
        assert_eq!(topics.len(), 19 + 2);
        for kind in MessageKind::ALL {
            assert!(kind.accepts_version(kind.current_version()), "{kind:?}");
            assert_eq!(MessageKind::from_base_topic(kind.base_topic()), Some(*kind));
        }
    }

    #[test]
    fn versions_are_those_of_thoth_messaging() {
        assert_eq!(MessageKind::AdviserTrigger.current_version(), "v5");
        assert!(MessageKind::AdviserTrigger.accepts_version("v1"));
        assert!(!MessageKind::AdviserTrigger.accepts_version("v6"));
        assert_eq!(
            MessageKind::ProvenanceCheckerTrigger.accepted_versions(),
            ["v1", "v2", "v3", "v4"]
        );
        assert_eq!(MessageKind::PackageExtractTrigger.current_version(), "v2");
        assert_eq!(MessageKind::KebechetRunUrlTrigger.current_version(), "v2");
        assert!(!MessageKind::SolvedPackage.accepts_version("v2"));
    }
}
