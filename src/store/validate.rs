//! Checks applied before any write, so that bad input is refused as a whole with a reason instead of
//! failing half-way through a batch inside PostgreSQL.

use chrono::TimeDelta;

use super::error::StoreError;

/// Column limits; they match the `VARCHAR(n)` declarations in `migrations/`. Those of
/// constrained values come from the value's rule (`crate::package`), so a column is as wide
/// as every value the type admits; a test checks the migrations declare at least as much.
pub mod limits {
    use crate::package::{
        DocumentIdRule, Domain, NamespaceRule, PackageNameRule, PackageVersionRule, SolverNameRule,
    };

    pub const SOLVER_NAME: usize = SolverNameRule::RULE.max_len;
    pub const DOCUMENT_ID: usize = DocumentIdRule::RULE.max_len;
    pub const PACKAGE_NAME: usize = PackageNameRule::RULE.max_len;
    /// The producer's spelling (`package_version.version_as_sent`).
    pub const VERSION_AS_SENT: usize = PackageVersionRule::RULE.max_len;
    /// The normal form (`package_version.package_version`). PEP 440 normalisation may lengthen
    /// a spelling (`1r` → `1.post0`), so the rule refuses a spelling that could outgrow its
    /// limit unless it is a normal form already (`package::Lengthening`): a normal form is
    /// never longer than the rule's limit. (The column, 120 wide, has room to spare.)
    pub const PACKAGE_VERSION: usize = PackageVersionRule::RULE.max_len;
    pub const ARTIFACT_NAME: usize = 500;
    pub const SOURCE_TYPE: usize = 100;
    pub const NAMESPACE: usize = NamespaceRule::RULE.max_len;
    pub const OBJECT_NAME: usize = 253;
    pub const MESSAGE: usize = 2000;
    pub const TOPIC: usize = 249;
    pub const MESSAGE_TYPE: usize = 100;
    pub const MESSAGE_VERSION: usize = 50;
    pub const FLAG: usize = 200;
    pub const REASON: usize = 2000;
    pub const DEDUP_KEY: usize = 500;
    pub const MESSAGE_KEY: usize = 500;
    /// No index URL can overflow its column: the rule admits no character canonicalisation
    /// would percent-encode (so a canonical form is never longer than the URL as sent), and
    /// `Constrained::parse` refuses any normal form longer than the rule's limit besides.
    pub const INDEX_URL: usize = crate::package::MAX_INDEX_URL_LEN;
}

/// Most rows one batched statement takes; keeps statements and their parameter arrays bounded.
pub const MAX_BATCH: usize = 10_000;

pub fn text(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::Empty { field });
    }
    optional_text(field, Some(value), max)
}

pub fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), StoreError> {
    let Some(value) = value else { return Ok(()) };
    // VARCHAR(n) counts characters, not bytes.
    let actual = value.chars().count();
    if actual > max {
        return Err(StoreError::TooLong { field, max, actual });
    }
    if value.contains('\0') {
        return Err(StoreError::NulCharacter { field });
    }
    Ok(())
}

/// Turns raw bytes (a Kafka key or header, say) into text the store accepts, or says why not.
pub fn text_from_bytes(field: &'static str, bytes: &[u8]) -> Result<String, StoreError> {
    let text =
        std::str::from_utf8(bytes).map_err(|source| StoreError::NotUtf8 { field, source })?;
    if text.contains('\0') {
        return Err(StoreError::NulCharacter { field });
    }
    Ok(text.to_string())
}

/// Durations are stored as whole milliseconds and must not be negative.
pub fn duration_millis(
    field: &'static str,
    value: Option<TimeDelta>,
) -> Result<Option<i64>, StoreError> {
    let Some(value) = value else { return Ok(None) };
    let millis = value.num_milliseconds();
    if value < TimeDelta::zero() {
        return Err(StoreError::NegativeDuration { field, millis });
    }
    Ok(Some(millis))
}

pub fn batch_size(len: usize) -> Result<(), StoreError> {
    if len > MAX_BATCH {
        return Err(StoreError::BatchTooLarge {
            max: MAX_BATCH,
            actual: len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        assert!(text("solver name", &"é".repeat(200), 200).is_ok());
        let err = text("solver name", &"é".repeat(201), 200).unwrap_err();
        assert_eq!(
            err.to_string(),
            "solver name exceeds 200 characters (it has 201)"
        );
    }

    #[test]
    fn empty_and_nul_are_refused() {
        assert!(matches!(
            text("topic", "", 10),
            Err(StoreError::Empty { field: "topic" })
        ));
        assert!(matches!(
            optional_text("reason", Some("a\0b"), 10),
            Err(StoreError::NulCharacter { field: "reason" })
        ));
        assert!(optional_text("reason", None, 1).is_ok());
    }

    #[test]
    fn bytes_must_be_utf8() {
        let err = text_from_bytes("message key", &[0x66, 0xff, 0x6f]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("message key is not valid UTF-8"),
            "{err}"
        );
        assert_eq!(text_from_bytes("message key", b"ok").unwrap(), "ok");
    }

    #[test]
    fn negative_durations_are_refused() {
        let err = duration_millis("duration", Some(TimeDelta::milliseconds(-5))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "duration must not be negative (duration is -5 ms)"
        );
        assert_eq!(
            duration_millis("duration", Some(TimeDelta::seconds(2))).unwrap(),
            Some(2000)
        );
    }
}
