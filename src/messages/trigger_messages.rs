//! Messages that ask for one piece of user-facing or analysis work (an advise,
//! a provenance check, an image extraction, a Kebechet run, ...), plus the
//! advise-reporter's metrics message.
//!
//! Optional fields serialise as `null`, as pydantic v1 does; boolean defaults
//! are those of thoth-messaging. Fields older schema versions had and the
//! current one dropped (AdviserTrigger's `github_*`) are kept by the parser as
//! extra fields of the message, not here.

use serde::{Deserialize, Serialize};

use super::catalogue::Validate;
use crate::package::OriginUrl;
use crate::terms::SourceType;

use super::fields::{
    self, InspectionId, InvalidField, JobId, PackageRelease, Sensitive, optional_job_id,
};

/// A JSON object carried as-is (Kebechet metadata, justifications, stack info, webhook bodies).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

fn default_true() -> bool {
    true
}

/// advise-reporter's count of one justification message across advises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdviseJustification {
    pub message: String,
    pub justification_type: String,
    pub count: i64,
    pub adviser_version: String,
}

impl Validate for AdviseJustification {
    fn validate(&self) -> Result<(), InvalidField> {
        Ok(())
    }
}

/// A request for an advise (a resolved, recommended software stack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdviserTrigger {
    pub recommendation_type: String,
    #[serde(default)]
    pub dev: bool,
    #[serde(default)]
    pub debug: bool,
    #[serde(default)]
    pub authenticated: bool,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub limit_latest_versions: Option<u64>,
    #[serde(default)]
    pub re_run_adviser_id: Option<String>,
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub kebechet_metadata: Option<JsonObject>,
    #[serde(default)]
    pub justification: Option<Vec<JsonObject>>,
    #[serde(default)]
    pub stack_info: Option<Vec<JsonObject>>,
}

impl AdviserTrigger {
    pub fn job(&self) -> Result<Option<JobId>, InvalidField> {
        optional_job_id(self.job_id.as_deref())
    }

    pub fn source(&self) -> Result<Option<SourceType>, InvalidField> {
        self.source_type
            .as_deref()
            .map(|raw| {
                SourceType::parse(raw).ok_or_else(|| {
                    InvalidField::new(
                        "source_type",
                        format_args!("{raw:?} is not one of CLI, KEBECHET, S2I, JUPYTER_NOTEBOOK"),
                    )
                })
            })
            .transpose()
    }

    /// The repository the advise is about, an http(s) URL by [`OriginUrl`]'s rule (issue 8:
    /// a quote, a newline or `{{ }}` in it would reach the adviser's Workflow parameters).
    /// Absent, empty or blank is none.
    pub fn origin(&self) -> Result<Option<OriginUrl>, InvalidField> {
        self.origin
            .as_deref()
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| fields::http_url("origin", raw))
            .transpose()
    }

    pub fn re_run_of(&self) -> Result<Option<JobId>, InvalidField> {
        self.re_run_adviser_id
            .as_deref()
            .map(|raw| fields::job_id("re_run_adviser_id", raw))
            .transpose()
    }
}

impl Validate for AdviserTrigger {
    fn validate(&self) -> Result<(), InvalidField> {
        self.job()?;
        self.re_run_of()?;
        self.origin()?;
        // Thoth's handler refuses a Kebechet advise without an origin: the
        // result could not be delivered anywhere.
        if self.source()? == Some(SourceType::Kebechet) && self.origin.is_none() {
            return Err(InvalidField::new(
                "origin",
                "is required when source_type is KEBECHET",
            ));
        }
        Ok(())
    }
}

/// A request to check where the packages of a lock file come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceCheckerTrigger {
    #[serde(default)]
    pub debug: bool,
    #[serde(default)]
    pub authenticated: bool,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub whitelisted_sources: Option<Vec<String>>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub kebechet_metadata: Option<JsonObject>,
    #[serde(default)]
    pub justification: Option<Vec<JsonObject>>,
    #[serde(default)]
    pub stack_info: Option<Vec<JsonObject>>,
}

impl ProvenanceCheckerTrigger {
    pub fn job(&self) -> Result<Option<JobId>, InvalidField> {
        optional_job_id(self.job_id.as_deref())
    }
}

impl Validate for ProvenanceCheckerTrigger {
    fn validate(&self) -> Result<(), InvalidField> {
        self.job().map(drop)
    }
}

/// Whether an image is meant to run an application or to build one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvironmentType {
    Runtime,
    Buildtime,
}

impl EnvironmentType {
    fn from_field(field: &str, raw: &str) -> Result<Self, InvalidField> {
        match raw {
            "runtime" => Ok(Self::Runtime),
            "buildtime" => Ok(Self::Buildtime),
            other => Err(InvalidField::new(
                field,
                format_args!("{other:?} is neither \"runtime\" nor \"buildtime\""),
            )),
        }
    }
}

/// A container image reference: no whitespace or control characters, since it
/// becomes a Workflow parameter.
fn check_image(field: &str, raw: &str) -> Result<(), InvalidField> {
    if raw.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidField::new(
            field,
            format_args!("{raw:?} is not a container image reference"),
        ));
    }
    Ok(())
}

/// A request to extract the installed packages of a container image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageExtractTrigger {
    pub image: String,
    pub environment_type: String,
    #[serde(default = "default_true")]
    pub is_external: bool,
    #[serde(default = "default_true")]
    pub verify_tls: bool,
    #[serde(default)]
    pub debug: bool,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub registry_user: Option<String>,
    #[serde(default)]
    pub registry_password: Option<Sensitive>,
    #[serde(default)]
    pub graph_sync: bool,
}

impl PackageExtractTrigger {
    pub fn environment(&self) -> Result<EnvironmentType, InvalidField> {
        EnvironmentType::from_field("environment_type", &self.environment_type)
    }

    pub fn job(&self) -> Result<Option<JobId>, InvalidField> {
        optional_job_id(self.job_id.as_deref())
    }
}

impl Validate for PackageExtractTrigger {
    fn validate(&self) -> Result<(), InvalidField> {
        check_image("image", &self.image)?;
        self.environment()?;
        self.job().map(drop)
    }
}

/// A request to analyse a build log and the images before and after the build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildAnalysisTrigger {
    #[serde(default)]
    pub base_image: Option<String>,
    #[serde(default)]
    pub base_image_analysis_id: Option<String>,
    #[serde(default)]
    pub base_registry_password: Option<Sensitive>,
    #[serde(default)]
    pub base_registry_user: Option<String>,
    #[serde(default = "default_true")]
    pub base_registry_verify_tls: bool,
    #[serde(default)]
    pub output_image: Option<String>,
    #[serde(default)]
    pub output_image_analysis_id: Option<String>,
    #[serde(default)]
    pub output_registry_password: Option<Sensitive>,
    #[serde(default)]
    pub output_registry_user: Option<String>,
    #[serde(default = "default_true")]
    pub output_registry_verify_tls: bool,
    #[serde(default)]
    pub buildlog_document_id: Option<String>,
    #[serde(default)]
    pub buildlog_parser_id: Option<String>,
    #[serde(default)]
    pub environment_type: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub debug: bool,
    #[serde(default)]
    pub job_id: Option<String>,
}

impl BuildAnalysisTrigger {
    pub fn environment(&self) -> Result<Option<EnvironmentType>, InvalidField> {
        self.environment_type
            .as_deref()
            .map(|raw| EnvironmentType::from_field("environment_type", raw))
            .transpose()
    }

    pub fn job(&self) -> Result<Option<JobId>, InvalidField> {
        optional_job_id(self.job_id.as_deref())
    }
}

impl Validate for BuildAnalysisTrigger {
    fn validate(&self) -> Result<(), InvalidField> {
        for (field, image) in [
            ("base_image", &self.base_image),
            ("output_image", &self.output_image),
        ] {
            if let Some(image) = image {
                check_image(field, image)?;
            }
        }
        self.environment()?;
        self.job().map(drop)
    }
}

/// A forge webhook (GitHub, GitLab, ...) for Kebechet to act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KebechetTrigger {
    /// `{"event": ..., "service": ..., "payload": <the forge's webhook body>}`.
    pub webhook_payload: JsonObject,
    #[serde(default)]
    pub job_id: Option<String>,
}

impl KebechetTrigger {
    pub fn job(&self) -> Result<Option<JobId>, InvalidField> {
        optional_job_id(self.job_id.as_deref())
    }

    /// `payload.repository.full_name` of the webhook (`owner/repo`), when present.
    pub fn repository_full_name(&self) -> Option<&str> {
        self.webhook_payload
            .get("payload")?
            .get("repository")?
            .get("full_name")?
            .as_str()
    }
}

impl Validate for KebechetTrigger {
    fn validate(&self) -> Result<(), InvalidField> {
        self.job().map(drop)
    }
}

/// Why Kebechet is asked to look at a repository (thoth-common's `InternalTriggerEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KebechetJustification {
    Cve = 1,
    HashMismatch = 2,
    MissingPackage = 3,
    MissingVersion = 4,
    NewRelease = 5,
}

impl KebechetJustification {
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::Cve),
            2 => Some(Self::HashMismatch),
            3 => Some(Self::MissingPackage),
            4 => Some(Self::MissingVersion),
            5 => Some(Self::NewRelease),
            _ => None,
        }
    }
}

/// The package event that made kebechet-administrator pick a repository.
/// Every field may be `null`; unknown fields are dropped, as Thoth's model does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KebechetRunUrlMetadata {
    #[serde(default)]
    pub message_justification: Option<i64>,
    #[serde(default)]
    pub package_name: Option<String>,
    #[serde(default)]
    pub package_version: Option<String>,
    #[serde(default)]
    pub package_index: Option<String>,
}

/// A request to run Kebechet on one repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KebechetRunUrlTrigger {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub service_name: Option<String>,
    #[serde(default)]
    pub installation_id: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
    /// Never `null` in thoth-messaging's model: an absent object means every
    /// field unset, and is written back as an object of `null`s, as Thoth's
    /// producers write it; an explicit `null` is refused, as Thoth refuses it.
    #[serde(default)]
    pub metadata: KebechetRunUrlMetadata,
}

impl KebechetRunUrlTrigger {
    pub fn job(&self) -> Result<Option<JobId>, InvalidField> {
        optional_job_id(self.job_id.as_deref())
    }

    pub fn repository_url(&self) -> Result<Option<OriginUrl>, InvalidField> {
        self.url
            .as_deref()
            .map(|raw| fields::http_url("url", raw))
            .transpose()
    }

    pub fn justification(&self) -> Result<Option<KebechetJustification>, InvalidField> {
        let Some(code) = self.metadata.message_justification else {
            return Ok(None);
        };
        KebechetJustification::from_code(code)
            .map(Some)
            .ok_or_else(|| {
                InvalidField::new(
                    "metadata.message_justification",
                    format_args!("{code} is not a known justification code (1 to 5)"),
                )
            })
    }

    /// The package the metadata names, when it names all three of name, version and index.
    pub fn package(&self) -> Result<Option<PackageRelease>, InvalidField> {
        let meta = &self.metadata;
        let name = meta
            .package_name
            .as_deref()
            .map(|raw| fields::package_name("metadata.package_name", raw))
            .transpose()?;
        let version = meta
            .package_version
            .as_deref()
            .map(|raw| fields::package_version("metadata.package_version", raw))
            .transpose()?;
        let index = meta
            .package_index
            .as_deref()
            .map(|raw| fields::index_url("metadata.package_index", raw))
            .transpose()?;
        Ok(match (name, version, index) {
            (Some(name), Some(version), Some(index)) => Some(PackageRelease {
                name,
                version,
                index,
            }),
            _ => None,
        })
    }
}

impl Validate for KebechetRunUrlTrigger {
    fn validate(&self) -> Result<(), InvalidField> {
        self.job()?;
        self.repository_url()?;
        self.justification()?;
        self.package().map(drop)
    }
}

/// An Amun inspection has finished and its results should be synced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionCompleted {
    pub inspection_id: String,
    #[serde(default)]
    pub force_sync: bool,
}

impl InspectionCompleted {
    pub fn inspection(&self) -> Result<InspectionId, InvalidField> {
        InspectionId::parse("inspection_id", &self.inspection_id)
    }
}

impl Validate for InspectionCompleted {
    fn validate(&self) -> Result<(), InvalidField> {
        self.inspection().map(drop)
    }
}

/// A request to set a repository up for Thoth (configuration, pipelines).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThothRepoInit {
    pub project_url: String,
    #[serde(default)]
    pub job_id: Option<String>,
}

impl ThothRepoInit {
    pub fn project(&self) -> Result<OriginUrl, InvalidField> {
        fields::http_url("project_url", &self.project_url)
    }

    pub fn job(&self) -> Result<Option<JobId>, InvalidField> {
        optional_job_id(self.job_id.as_deref())
    }
}

impl Validate for ThothRepoInit {
    fn validate(&self) -> Result<(), InvalidField> {
        self.project()?;
        self.job().map(drop)
    }
}
