//! What admission asks the store before deciding a batch: for many versions at once,
//! whether each is known, flagged, solved (by which solvers) and analysed.

use std::collections::HashMap;

use super::Store;
use super::error::StoreResult;
use super::packages::{VersionColumns, VersionKey, get};
use super::stats::Sql;
use super::validate;

/// The store's knowledge of one version on one index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionKnowledge {
    pub is_missing: bool,
    pub provides_source_distro: bool,
    /// Solvers with a recorded outcome, failures included, sorted.
    pub solved_by: Vec<String>,
    /// Whether a security-indicator outcome is recorded, errors included.
    pub analysed: bool,
}

const VERSION_KNOWLEDGE: Sql = Sql {
    name: "knowledge.versions",
    text: "SELECT t.url, t.name, t.version, v.is_missing, v.provides_source_distro,
                  COALESCE((SELECT array_agg(o.solver_name ORDER BY o.solver_name)
                            FROM solver_outcome o WHERE o.version_id = v.id),
                           ARRAY[]::varchar[])::text[] AS solved_by,
                  EXISTS (SELECT 1 FROM security_indicator_outcome s WHERE s.version_id = v.id)
                      AS analysed
           FROM (SELECT DISTINCT * FROM UNNEST($1::text[], $2::text[], $3::text[])
                     AS u(url, name, version)) t
           JOIN package_index i ON i.url = t.url
           JOIN package_version v
             ON v.index_id = i.id AND v.package_name = t.name AND v.package_version = t.version",
};

impl Store {
    /// The knowledge of each of `keys` the store has a row for; versions it has
    /// never seen are absent from the map. One statement per [`validate::MAX_BATCH`] keys.
    pub async fn version_knowledge(
        &self,
        keys: &[VersionKey],
    ) -> StoreResult<HashMap<VersionKey, VersionKnowledge>> {
        let mut out = HashMap::new();
        for chunk in keys.chunks(validate::MAX_BATCH) {
            let columns = VersionColumns::from_keys(chunk)?;
            let rows = self
                .observer()
                .run(
                    VERSION_KNOWLEDGE,
                    sqlx::query(VERSION_KNOWLEDGE.text)
                        .bind(&columns.urls)
                        .bind(&columns.names)
                        .bind(&columns.versions)
                        .fetch_all(self.pool()),
                )
                .await?;
            let by_text: HashMap<(&str, &str, &str), &VersionKey> = chunk
                .iter()
                .map(|k| ((k.index.as_str(), k.name.as_str(), k.version.as_str()), k))
                .collect();
            for row in &rows {
                let url: String = get(row, VERSION_KNOWLEDGE, "url")?;
                let name: String = get(row, VERSION_KNOWLEDGE, "name")?;
                let version: String = get(row, VERSION_KNOWLEDGE, "version")?;
                let Some(key) = by_text.get(&(url.as_str(), name.as_str(), version.as_str()))
                else {
                    continue;
                };
                out.insert(
                    (*key).clone(),
                    VersionKnowledge {
                        is_missing: get(row, VERSION_KNOWLEDGE, "is_missing")?,
                        provides_source_distro: get(
                            row,
                            VERSION_KNOWLEDGE,
                            "provides_source_distro",
                        )?,
                        solved_by: get(row, VERSION_KNOWLEDGE, "solved_by")?,
                        analysed: get(row, VERSION_KNOWLEDGE, "analysed")?,
                    },
                );
            }
        }
        Ok(out)
    }
}
