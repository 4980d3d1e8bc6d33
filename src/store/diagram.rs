//! `thoth-operator db schema`: the live schema (read from pg_catalog) as a Mermaid ER diagram, a
//! Markdown page around it (committed as docs/schema.md) or a Graphviz graph.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Store;
use super::error::StoreResult;
use super::packages::get;
use super::stats::Sql;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaFormat {
    /// A Mermaid `erDiagram`.
    Mermaid,
    /// A Markdown page with the Mermaid diagram and each table's purpose (docs/schema.md).
    Markdown,
    /// A Graphviz `digraph` (`dot -Tsvg`).
    Dot,
}

const COLUMNS: Sql = Sql {
    name: "schema.columns",
    text: "SELECT c.relname::text AS table_name, a.attname::text AS column_name,
                  format_type(a.atttypid, a.atttypmod) AS data_type, a.attnotnull AS not_null,
                  COALESCE(obj_description(c.oid, 'pg_class'), '') AS table_comment
           FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0
             AND NOT a.attisdropped AND c.relname NOT LIKE '\\_sqlx%'
           ORDER BY c.relname, a.attnum",
};

const KEYS: Sql = Sql {
    name: "schema.keys",
    text: "SELECT c.relname::text AS table_name, con.contype::text AS kind, a.attname::text AS column_name,
                  COALESCE(r.relname::text, '') AS referenced_table
           FROM pg_constraint con
           JOIN pg_class c ON c.oid = con.conrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_class r ON r.oid = con.confrelid
           CROSS JOIN LATERAL unnest(con.conkey) AS k(attnum)
           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
           WHERE n.nspname = current_schema() AND con.contype IN ('p', 'u', 'f')
             AND c.relname NOT LIKE '\\_sqlx%'
           ORDER BY c.relname, con.conname, a.attname",
};

#[derive(Debug, Default)]
struct Column {
    name: String,
    data_type: String,
    nullable: bool,
    keys: Vec<&'static str>,
}

#[derive(Debug, Default)]
struct Table {
    comment: String,
    columns: Vec<Column>,
}

#[derive(Debug)]
struct Relation {
    from: String,
    column: String,
    to: String,
    nullable: bool,
}

/// Compact, space-free type names (Mermaid attribute types cannot contain spaces).
fn short_type(pg: &str) -> String {
    pg.replace("character varying", "varchar")
        .replace("timestamp with time zone", "timestamptz")
        .replace("character(", "char(")
        .replace(' ', "_")
}

impl Store {
    /// Renders the schema of the database the store is connected to.
    pub async fn schema(&self, format: SchemaFormat) -> StoreResult<String> {
        let column_rows = self
            .observer()
            .run(COLUMNS, sqlx::query(COLUMNS.text).fetch_all(self.pool()))
            .await?;
        let key_rows = self
            .observer()
            .run(KEYS, sqlx::query(KEYS.text).fetch_all(self.pool()))
            .await?;
        let mut tables: BTreeMap<String, Table> = BTreeMap::new();
        for row in &column_rows {
            let table: String = get(row, COLUMNS, "table_name")?;
            let not_null: bool = get(row, COLUMNS, "not_null")?;
            let data_type: String = get(row, COLUMNS, "data_type")?;
            let entry = tables.entry(table).or_default();
            entry.comment = get(row, COLUMNS, "table_comment")?;
            entry.columns.push(Column {
                name: get(row, COLUMNS, "column_name")?,
                data_type: short_type(&data_type),
                nullable: !not_null,
                keys: Vec::new(),
            });
        }
        let mut relations = Vec::new();
        for row in &key_rows {
            let table: String = get(row, KEYS, "table_name")?;
            let kind: String = get(row, KEYS, "kind")?;
            let column: String = get(row, KEYS, "column_name")?;
            let referenced: String = get(row, KEYS, "referenced_table")?;
            let label = match kind.as_str() {
                "p" => "PK",
                "u" => "UK",
                _ => "FK",
            };
            let Some(col) = tables
                .get_mut(&table)
                .and_then(|t| t.columns.iter_mut().find(|c| c.name == column))
            else {
                continue;
            };
            if !col.keys.contains(&label) {
                col.keys.push(label);
            }
            if label == "FK" {
                relations.push(Relation {
                    from: table.clone(),
                    column: column.clone(),
                    to: referenced,
                    nullable: col.nullable,
                });
            }
        }
        for table in tables.values_mut() {
            for column in &mut table.columns {
                column
                    .keys
                    .sort_by_key(|k| ["PK", "FK", "UK"].iter().position(|x| x == k));
            }
        }
        Ok(match format {
            SchemaFormat::Mermaid => mermaid(&tables, &relations),
            SchemaFormat::Markdown => markdown(&tables, &relations),
            SchemaFormat::Dot => dot(&tables, &relations),
        })
    }
}

fn mermaid(tables: &BTreeMap<String, Table>, relations: &[Relation]) -> String {
    let mut out = String::from("erDiagram\n");
    for (name, table) in tables {
        let _ = writeln!(out, "    {name} {{");
        for column in &table.columns {
            let _ = write!(out, "        {} {}", column.data_type, column.name);
            if !column.keys.is_empty() {
                let _ = write!(out, " {}", column.keys.join(", "));
            }
            if column.nullable {
                out.push_str(" \"nullable\"");
            }
            out.push('\n');
        }
        out.push_str("    }\n");
    }
    for r in relations {
        let parent = if r.nullable { "|o" } else { "||" };
        let _ = writeln!(
            out,
            "    {} {parent}--o{{ {} : \"{}\"",
            r.to, r.from, r.column
        );
    }
    out
}

fn markdown(tables: &BTreeMap<String, Table>, relations: &[Relation]) -> String {
    let mut out = String::from(
        "# Knowledge store schema\n\n\
         Generated from a freshly migrated database by \
         `thoth-operator db schema --format markdown > docs/schema.md`; do not edit by hand \
         (a test fails when this file and `migrations/` disagree).\n\n```mermaid\n",
    );
    out.push_str(&mermaid(tables, relations));
    out.push_str("```\n\n| table | purpose |\n|---|---|\n");
    for (name, table) in tables {
        let _ = writeln!(out, "| `{name}` | {} |", table.comment.replace('|', "\\|"));
    }
    out
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn dot(tables: &BTreeMap<String, Table>, relations: &[Relation]) -> String {
    let mut out = String::from(
        "digraph schema {\n    rankdir=LR;\n    node [shape=plaintext, fontname=\"monospace\"];\n",
    );
    for (name, table) in tables {
        let _ = write!(
            out,
            "    {name} [label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\">\
             <tr><td bgcolor=\"lightgrey\"><b>{name}</b></td></tr>"
        );
        for column in &table.columns {
            let keys = if column.keys.is_empty() {
                String::new()
            } else {
                format!(" {}", column.keys.join(","))
            };
            let null = if column.nullable { " ?" } else { "" };
            let _ = write!(
                out,
                "<tr><td align=\"left\">{} {}{}{}</td></tr>",
                html_escape(&column.name),
                html_escape(&column.data_type),
                null,
                keys
            );
        }
        out.push_str("</table>>];\n");
    }
    for r in relations {
        let _ = writeln!(
            out,
            "    {} -> {} [label=\"{}\"];",
            r.from,
            r.to,
            html_escape(&r.column)
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_have_no_spaces() {
        assert_eq!(short_type("character varying(200)"), "varchar(200)");
        assert_eq!(short_type("timestamp with time zone"), "timestamptz");
        assert_eq!(short_type("character(64)"), "char(64)");
        assert_eq!(short_type("double precision"), "double_precision");
    }
}
