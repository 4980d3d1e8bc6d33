//! The PostgreSQL knowledge store: the only module that speaks SQL.
