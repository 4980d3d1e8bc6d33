//! Package indexes, package versions with their flags, and artifacts.

use std::collections::BTreeMap;
use std::fmt;

use sqlx::Row;
use sqlx::postgres::PgConnection;

use super::error::{StoreError, StoreResult};
use super::stats::Sql;
use super::validate::{self, limits};
use super::{Store, StoreTx, TxObserver, autocommit};
use crate::package::{IndexUrl, PackageName, PackageVersion};

/// A package version on one index: the identity every outcome and flag hangs off.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionKey {
    pub name: PackageName,
    pub version: PackageVersion,
    pub index: IndexUrl,
}

impl VersionKey {
    pub fn new(name: PackageName, version: PackageVersion, index: IndexUrl) -> Self {
        Self {
            name,
            version,
            index,
        }
    }
}

impl fmt::Display for VersionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=={} from {}", self.name, self.version, self.index)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub key: VersionKey,
    pub is_missing: bool,
    pub provides_source_distro: bool,
    pub index_enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionFlag {
    /// The index no longer serves this version.
    IsMissing,
    /// The version has a source distribution (security indicators need one).
    ProvidesSourceDistro,
}

impl VersionFlag {
    pub fn column(self) -> &'static str {
        match self {
            Self::IsMissing => "is_missing",
            Self::ProvidesSourceDistro => "provides_source_distro",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUpdate {
    pub version: VersionKey,
    pub flag: VersionFlag,
    pub value: bool,
}

/// A sha256 digest as 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(String);

impl Sha256 {
    pub fn parse(raw: &str) -> StoreResult<Self> {
        let trimmed = raw.trim();
        if trimmed.len() != 64 || !trimmed.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid {
                field: "artifact sha256",
                value: trimmed.chars().take(80).collect(),
                reason: "a sha256 digest is 64 hexadecimal digits",
            });
        }
        Ok(Self(trimmed.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactUpdate {
    pub version: VersionKey,
    pub sha256: Sha256,
    pub artifact_name: Option<String>,
    pub present: bool,
}

/// Parallel arrays of version identities, the shape `UNNEST` takes.
#[derive(Default)]
pub(super) struct VersionColumns<'a> {
    pub urls: Vec<&'a str>,
    pub names: Vec<&'a str>,
    pub versions: Vec<&'a str>,
    /// The producer's spellings, for new rows' `version_as_sent`.
    pub versions_as_sent: Vec<&'a str>,
}

impl<'a> VersionColumns<'a> {
    pub fn push(&mut self, key: &'a VersionKey) -> StoreResult<()> {
        self.urls.push(key.index.as_str());
        self.names.push(key.name.as_str());
        self.versions.push(key.version.as_str());
        self.versions_as_sent.push(key.version.as_sent());
        Ok(())
    }

    /// The columns of `keys`, every key checked against the column limits first.
    pub fn from_keys(keys: impl IntoIterator<Item = &'a VersionKey>) -> StoreResult<Self> {
        let mut columns = Self::default();
        for key in keys {
            columns.push(key)?;
        }
        Ok(columns)
    }
}

const ENSURE_INDEXES: Sql = Sql {
    name: "packages.ensure_indexes",
    text: "INSERT INTO package_index (url)
           SELECT DISTINCT t.url FROM UNNEST($1::text[]) AS t(url)
           WHERE NOT EXISTS (SELECT 1 FROM package_index i WHERE i.url = t.url)
           ORDER BY t.url
           ON CONFLICT (url) DO NOTHING",
};

// Ids are looked up by scalar subqueries, which PostgreSQL runs as one unique-index probe per row
// whatever its statistics say; as joins, a freshly filled table with stale statistics got plans that
// scanned every version of an index for each row (1,000 rows/s instead of tens of thousands).
const ENSURE_VERSIONS: Sql = Sql {
    name: "packages.ensure_versions",
    text: "INSERT INTO package_version (index_id, package_name, package_version, version_as_sent)
           SELECT DISTINCT ON (s.name, s.version, s.index_id) s.index_id, s.name, s.version, s.sent
           FROM (SELECT (SELECT i.id FROM package_index i WHERE i.url = t.url) AS index_id,
                        t.name, t.version, t.sent
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                      AS t(url, name, version, sent)) s
           WHERE (SELECT v.id FROM package_version v
                  WHERE v.package_name = s.name AND v.package_version = s.version
                    AND v.index_id = s.index_id) IS NULL
           ORDER BY 2, 3, 1
           ON CONFLICT (package_name, package_version, index_id) DO NOTHING",
};

/// The id of the version named by `t.url`, `t.name`, `t.version`, as one index probe per row.
///
/// A statement that filters or joins on this id reads it from a subquery ending in `OFFSET 0`: without
/// that fence PostgreSQL inlines the subquery and evaluates the probe twice per row, once for the
/// output and once for the `WHERE`/join condition (seen in EXPLAIN ANALYZE as two SubPlans with 1,000
/// loops each on a 1,000-row batch, a third of the statement's time).
macro_rules! version_id_of_t {
    () => {
        "(SELECT v.id FROM package_version v
          WHERE v.package_name = t.name AND v.package_version = t.version
            AND v.index_id = (SELECT i.id FROM package_index i WHERE i.url = t.url))"
    };
}
pub(super) use version_id_of_t;

const SET_FLAGS: Sql = Sql {
    name: "packages.set_flags",
    text: concat!(
        "UPDATE package_version v
         SET is_missing = COALESCE(s.is_missing, v.is_missing),
             provides_source_distro = COALESCE(s.provides_source_distro, v.provides_source_distro),
             updated_at = now()
         FROM (SELECT ",
        version_id_of_t!(),
        " AS id, t.is_missing, t.provides_source_distro
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $5::bool[])
                    AS t(url, name, version, is_missing, provides_source_distro)
               OFFSET 0) s
         WHERE v.id = s.id
           AND (v.is_missing <> COALESCE(s.is_missing, v.is_missing)
                OR v.provides_source_distro <> COALESCE(s.provides_source_distro, v.provides_source_distro))"
    ),
};

const SET_INDEX_ENABLED: Sql = Sql {
    name: "packages.set_index_enabled",
    text: "INSERT INTO package_index (url, enabled) VALUES ($1, $2)
           ON CONFLICT (url) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now()
           WHERE package_index.enabled <> EXCLUDED.enabled",
};

const INDEXES: Sql = Sql {
    name: "packages.indexes",
    text: "SELECT url, enabled FROM package_index WHERE enabled OR NOT $1 ORDER BY url",
};

const VERSION: Sql = Sql {
    name: "packages.version",
    text: "SELECT v.is_missing, v.provides_source_distro, i.enabled
           FROM package_version v JOIN package_index i ON i.id = v.index_id
           WHERE i.url = $1 AND v.package_name = $2 AND v.package_version = $3",
};

const VERSIONS_OF: Sql = Sql {
    name: "packages.versions_of",
    text: "SELECT i.url, v.version_as_sent, v.is_missing, v.provides_source_distro, i.enabled
           FROM package_version v JOIN package_index i ON i.id = v.index_id
           WHERE v.package_name = $1
           ORDER BY i.url, v.package_version",
};

const RECORD_ARTIFACTS: Sql = Sql {
    name: "packages.record_artifacts",
    text: concat!(
        "INSERT INTO artifact (version_id, sha256, artifact_name, present)
         SELECT s.version_id, s.sha256, s.artifact_name, s.present
         FROM (SELECT ",
        version_id_of_t!(),
        " AS version_id, t.sha256, t.artifact_name, t.present
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[])
                    AS t(url, name, version, sha256, artifact_name, present)
               OFFSET 0) s
         WHERE s.version_id IS NOT NULL
         ORDER BY 1, 2
         ON CONFLICT (version_id, sha256) DO UPDATE
         SET present = EXCLUDED.present,
             artifact_name = COALESCE(EXCLUDED.artifact_name, artifact.artifact_name),
             updated_at = now()
         WHERE artifact.present <> EXCLUDED.present
            OR artifact.artifact_name IS DISTINCT FROM COALESCE(EXCLUDED.artifact_name, artifact.artifact_name)"
    ),
};

const ARTIFACT_PRESENT: Sql = Sql {
    name: "packages.artifact_present",
    text: "SELECT a.present
           FROM artifact a
           JOIN package_version v ON v.id = a.version_id
           JOIN package_index i ON i.id = v.index_id
           WHERE i.url = $1 AND v.package_name = $2 AND v.package_version = $3 AND a.sha256 = $4",
};

/// Creates the index and version rows `keys` name when they are missing (in a stable order, so that
/// concurrent batches lock rows in the same order).
pub(super) async fn ensure_versions(
    conn: &mut PgConnection,
    observer: &mut TxObserver,
    columns: &VersionColumns<'_>,
) -> StoreResult<u64> {
    if columns.urls.is_empty() {
        return Ok(0);
    }
    observer
        .run(
            ENSURE_INDEXES,
            sqlx::query(ENSURE_INDEXES.text)
                .bind(&columns.urls)
                .execute(&mut *conn),
        )
        .await?;
    let inserted = observer
        .run(
            ENSURE_VERSIONS,
            sqlx::query(ENSURE_VERSIONS.text)
                .bind(&columns.urls)
                .bind(&columns.names)
                .bind(&columns.versions)
                .bind(&columns.versions_as_sent)
                .execute(&mut *conn),
        )
        .await?;
    Ok(inserted.rows_affected())
}

impl StoreTx {
    /// Makes sure each version (and its index) has a row; returns how many versions were new.
    pub async fn ensure_versions(&mut self, keys: &[VersionKey]) -> StoreResult<u64> {
        validate::batch_size(keys.len())?;
        if keys.is_empty() {
            return Ok(0);
        }
        let columns = VersionColumns::from_keys(keys)?;
        ensure_versions(&mut self.tx, &mut self.observer, &columns).await
    }

    /// Sets flags on versions, creating the version rows that are missing. Several updates of one flag
    /// of one version in a batch: the last wins. Returns how many version rows changed; setting a flag
    /// to the value it already has changes nothing (not even `updated_at`).
    pub async fn set_flags(&mut self, updates: &[FlagUpdate]) -> StoreResult<u64> {
        validate::batch_size(updates.len())?;
        if updates.is_empty() {
            return Ok(0);
        }
        // One row per version, so that UPDATE .. FROM sees each target once.
        let mut merged: BTreeMap<&VersionKey, (Option<bool>, Option<bool>)> = BTreeMap::new();
        for update in updates {
            let entry = merged.entry(&update.version).or_default();
            match update.flag {
                VersionFlag::IsMissing => entry.0 = Some(update.value),
                VersionFlag::ProvidesSourceDistro => entry.1 = Some(update.value),
            }
        }
        let columns = VersionColumns::from_keys(merged.keys().copied())?;
        ensure_versions(&mut self.tx, &mut self.observer, &columns).await?;
        let missing: Vec<Option<bool>> = merged.values().map(|v| v.0).collect();
        let sdist: Vec<Option<bool>> = merged.values().map(|v| v.1).collect();
        let changed = self
            .observer
            .run(
                SET_FLAGS,
                sqlx::query(SET_FLAGS.text)
                    .bind(&columns.urls)
                    .bind(&columns.names)
                    .bind(&columns.versions)
                    .bind(&missing)
                    .bind(&sdist)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(changed.rows_affected())
    }

    /// Enables or disables an index, creating it when unknown; says whether anything changed.
    pub async fn set_index_enabled(
        &mut self,
        index: &IndexUrl,
        enabled: bool,
    ) -> StoreResult<bool> {
        let changed = self
            .observer
            .run(
                SET_INDEX_ENABLED,
                sqlx::query(SET_INDEX_ENABLED.text)
                    .bind(index.as_str())
                    .bind(enabled)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(changed.rows_affected() > 0)
    }

    /// Records artifacts and their `present` flag; returns how many artifact rows were new or changed.
    pub async fn record_artifacts(&mut self, artifacts: &[ArtifactUpdate]) -> StoreResult<u64> {
        validate::batch_size(artifacts.len())?;
        if artifacts.is_empty() {
            return Ok(0);
        }
        for artifact in artifacts {
            validate::optional_text(
                "artifact name",
                artifact.artifact_name.as_deref(),
                limits::ARTIFACT_NAME,
            )?;
        }
        let mut merged: BTreeMap<(&VersionKey, &Sha256), &ArtifactUpdate> = BTreeMap::new();
        for artifact in artifacts {
            merged.insert((&artifact.version, &artifact.sha256), artifact);
        }
        let columns = VersionColumns::from_keys(merged.keys().map(|(v, _)| *v))?;
        ensure_versions(&mut self.tx, &mut self.observer, &columns).await?;
        let sha256: Vec<&str> = merged.keys().map(|(_, s)| s.as_str()).collect();
        let names: Vec<Option<&str>> = merged
            .values()
            .map(|a| a.artifact_name.as_deref())
            .collect();
        let present: Vec<bool> = merged.values().map(|a| a.present).collect();
        let changed = self
            .observer
            .run(
                RECORD_ARTIFACTS,
                sqlx::query(RECORD_ARTIFACTS.text)
                    .bind(&columns.urls)
                    .bind(&columns.names)
                    .bind(&columns.versions)
                    .bind(&sha256)
                    .bind(&names)
                    .bind(&present)
                    .execute(&mut *self.tx),
            )
            .await?;
        Ok(changed.rows_affected())
    }
}

autocommit! {
    /// [`StoreTx::ensure_versions`] in a transaction of its own.
    fn ensure_versions(keys: &[VersionKey]) -> u64 = 0, if keys.is_empty();
    /// [`StoreTx::set_flags`] in a transaction of its own.
    fn set_flags(updates: &[FlagUpdate]) -> u64 = 0, if updates.is_empty();
    /// [`StoreTx::set_index_enabled`] in a transaction of its own.
    fn set_index_enabled(index: &IndexUrl, enabled: bool) -> bool;
    /// [`StoreTx::record_artifacts`] in a transaction of its own.
    fn record_artifacts(artifacts: &[ArtifactUpdate]) -> u64 = 0, if artifacts.is_empty();
}

impl Store {
    /// Known indexes with their `enabled` flag, optionally only the enabled ones.
    pub async fn indexes(&self, enabled_only: bool) -> StoreResult<Vec<(IndexUrl, bool)>> {
        let rows = self
            .observer()
            .run(
                INDEXES,
                sqlx::query(INDEXES.text)
                    .bind(enabled_only)
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let url: String = get(row, INDEXES, "url")?;
                Ok((IndexUrl::parse(&url)?, get(row, INDEXES, "enabled")?))
            })
            .collect()
    }

    pub async fn version(&self, key: &VersionKey) -> StoreResult<Option<VersionRecord>> {
        let row = self
            .observer()
            .run(
                VERSION,
                sqlx::query(VERSION.text)
                    .bind(key.index.as_str())
                    .bind(key.name.as_str())
                    .bind(key.version.as_str())
                    .fetch_optional(self.pool()),
            )
            .await?;
        row.map(|row| {
            Ok(VersionRecord {
                key: key.clone(),
                is_missing: get(&row, VERSION, "is_missing")?,
                provides_source_distro: get(&row, VERSION, "provides_source_distro")?,
                index_enabled: get(&row, VERSION, "enabled")?,
            })
        })
        .transpose()
    }

    /// Every known version of a package on every index.
    pub async fn versions_of(&self, name: &PackageName) -> StoreResult<Vec<VersionRecord>> {
        let rows = self
            .observer()
            .run(
                VERSIONS_OF,
                sqlx::query(VERSIONS_OF.text)
                    .bind(name.as_str())
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let url: String = get(row, VERSIONS_OF, "url")?;
                // The spelling as sent: its normal form is the row's key, and the solver asks
                // the index by the spelling.
                let version: String = get(row, VERSIONS_OF, "version_as_sent")?;
                Ok(VersionRecord {
                    key: VersionKey::new(
                        name.clone(),
                        PackageVersion::parse(&version)?,
                        IndexUrl::parse(&url)?,
                    ),
                    is_missing: get(row, VERSIONS_OF, "is_missing")?,
                    provides_source_distro: get(row, VERSIONS_OF, "provides_source_distro")?,
                    index_enabled: get(row, VERSIONS_OF, "enabled")?,
                })
            })
            .collect()
    }

    /// Whether the version is flagged missing from its index (unknown versions are not).
    pub async fn is_missing(&self, key: &VersionKey) -> StoreResult<bool> {
        Ok(self.version(key).await?.is_some_and(|v| v.is_missing))
    }

    /// The artifact's `present` flag, or `None` when the artifact is unknown.
    pub async fn artifact_present(
        &self,
        key: &VersionKey,
        sha256: &Sha256,
    ) -> StoreResult<Option<bool>> {
        let row = self
            .observer()
            .run(
                ARTIFACT_PRESENT,
                sqlx::query(ARTIFACT_PRESENT.text)
                    .bind(key.index.as_str())
                    .bind(key.name.as_str())
                    .bind(key.version.as_str())
                    .bind(sha256.as_str())
                    .fetch_optional(self.pool()),
            )
            .await?;
        row.map(|row| get(&row, ARTIFACT_PRESENT, "present"))
            .transpose()
    }
}

/// Reads a column, turning a type mismatch into an error that names the query.
pub(super) fn get<'r, T>(row: &'r sqlx::postgres::PgRow, sql: Sql, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|e| StoreError::CorruptRow {
        query: sql.name,
        reason: format!("column {column}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_checked_and_lowercased() {
        let upper = "AB".repeat(32);
        assert_eq!(Sha256::parse(&upper).unwrap().as_str(), "ab".repeat(32));
        let err = Sha256::parse("abc").unwrap_err();
        assert!(err.to_string().contains("64 hexadecimal digits"), "{err}");
        assert!(Sha256::parse(&"g".repeat(64)).is_err());
    }
}
