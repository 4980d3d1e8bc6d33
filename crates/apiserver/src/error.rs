//! Errors as the API server reports them: `Status` objects with a reason, an
//! HTTP code and details, in exactly the shape `kube::Error::Api` parses.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

#[cfg(test)]
use super::schema::FieldError;

/// Identifies the object an error is about, for `Status.details`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Subject {
    pub(crate) group: String,
    /// The resource's plural, as the API server puts it in `details.kind`.
    pub(crate) resource: String,
    pub(crate) name: String,
}

impl Subject {
    pub(crate) fn new(group: &str, resource: &str, name: &str) -> Self {
        Self {
            group: group.to_string(),
            resource: resource.to_string(),
            name: name.to_string(),
        }
    }

    /// `solverruns.example.com` or `namespaces` for the core group.
    pub(crate) fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// One `StatusCause` of a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) field: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub(crate) details: Box<Details>,
}

/// What goes into `Status.details`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Details {
    pub(crate) subject: Option<Subject>,
    /// Kind shown in `details.kind` when it is not a resource (e.g. `SolverRun` for 422).
    pub(crate) kind: Option<String>,
    pub(crate) causes: Vec<Cause>,
    pub(crate) retry_after_seconds: Option<u32>,
}

impl ApiError {
    fn plain(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: Box::default(),
        }
    }

    fn about(mut self, subject: Subject) -> Self {
        self.details.subject = Some(subject);
        self
    }

    pub(crate) fn not_found(subject: Subject) -> Self {
        let message = format!(
            "{} \"{}\" not found",
            subject.group_resource(),
            subject.name
        );
        Self::plain(404, "NotFound", message).about(subject)
    }

    pub(crate) fn already_exists(subject: Subject) -> Self {
        let message = format!(
            "{} \"{}\" already exists",
            subject.group_resource(),
            subject.name
        );
        Self::plain(409, "AlreadyExists", message).about(subject)
    }

    pub(crate) fn conflict(subject: Subject, why: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{}\": {why}",
            subject.group_resource(),
            subject.name
        );
        Self::plain(409, "Conflict", message).about(subject)
    }

    pub(crate) fn stale(subject: Subject) -> Self {
        Self::conflict(
            subject,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// A 422 about one kind/name, listing every refused field.
    #[cfg(test)]
    pub(crate) fn invalid(kind: &str, subject: Subject, errors: &[FieldError]) -> Self {
        let causes: Vec<Cause> = errors
            .iter()
            .map(|e| Cause {
                reason: e.reason.cause_reason().to_string(),
                message: e.message.clone(),
                field: e.field.clone(),
            })
            .collect();
        Self::invalid_causes(kind, subject, causes)
    }

    pub(crate) fn invalid_causes(kind: &str, subject: Subject, causes: Vec<Cause>) -> Self {
        let group_kind = if subject.group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{}", subject.group)
        };
        let rendered: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let list = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        let message = format!("{group_kind} \"{}\" is invalid: {list}", subject.name);
        let mut err = Self::plain(422, "Invalid", message).about(subject);
        err.details.kind = Some(kind.to_string());
        err.details.causes = causes;
        err
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::plain(400, "BadRequest", message)
    }

    pub(crate) fn forbidden(subject: Subject, why: &str) -> Self {
        let message = format!(
            "{} \"{}\" is forbidden: {why}",
            subject.group_resource(),
            subject.name
        );
        Self::plain(403, "Forbidden", message).about(subject)
    }

    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::plain(405, "MethodNotAllowed", message)
    }

    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::plain(415, "UnsupportedMediaType", message)
    }

    pub(crate) fn not_acceptable(message: impl Into<String>) -> Self {
        Self::plain(406, "NotAcceptable", message)
    }

    /// 410: the requested resourceVersion has left the retained window.
    pub(crate) fn gone(message: impl Into<String>) -> Self {
        Self::plain(410, "Expired", message)
    }

    pub(crate) fn too_many_requests(retry_after_seconds: u32) -> Self {
        let mut err = Self::plain(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        err.details.retry_after_seconds = Some(retry_after_seconds);
        err
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::plain(500, "InternalError", message)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Self::plain(504, "Timeout", message)
    }

    /// 504 for a read from a resourceVersion the server has not reached in time, shaped as
    /// storage.NewTooLargeResourceVersionError (apiserver/pkg/storage/errors.go) shapes it.
    pub(crate) fn resource_version_too_large(asked: u64, current: u64) -> Self {
        let mut err = Self::timeout(format!(
            "Timeout: Too large resource version: {asked}, current: {current}"
        ));
        err.details.retry_after_seconds = Some(1);
        err.details.causes = vec![Cause {
            reason: "ResourceVersionTooLarge".into(),
            message: "Too large resource version".into(),
            field: String::new(),
        }];
        err
    }

    pub(crate) fn path_not_found(path: &str) -> Self {
        Self::plain(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// The `Status` object of this error.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = serde_json::Map::new();
        if let Some(subject) = &self.details.subject {
            details.insert("name".into(), json!(subject.name));
            if !subject.group.is_empty() {
                details.insert("group".into(), json!(subject.group));
            }
            let kind = self
                .details
                .kind
                .clone()
                .unwrap_or_else(|| subject.resource.clone());
            details.insert("kind".into(), json!(kind));
        }
        if !self.details.causes.is_empty() {
            let causes: Vec<Value> = self
                .details
                .causes
                .iter()
                .map(|c| {
                    // StatusCause.field is omitempty.
                    let mut cause = json!({"reason": c.reason, "message": c.message});
                    if !c.field.is_empty() {
                        cause["field"] = json!(c.field);
                    }
                    cause
                })
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(seconds) = self.details.retry_after_seconds {
            details.insert("retryAfterSeconds".into(), json!(seconds));
        }
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_status().to_string();
        let mut response = (
            code,
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(seconds) = self.details.retry_after_seconds
            && let Ok(value) = http::HeaderValue::from_str(&seconds.to_string())
        {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FieldErrorReason;

    #[test]
    fn invalid_lists_every_field_like_the_api_server() {
        let subject = Subject::new("example.com", "solverruns", "x");
        let one = ApiError::invalid(
            "SolverRun",
            subject.clone(),
            &[FieldError {
                field: "spec.packageName".into(),
                reason: FieldErrorReason::Required,
                message: "Required value".into(),
            }],
        );
        assert_eq!(
            one.message,
            "SolverRun.example.com \"x\" is invalid: spec.packageName: Required value"
        );
        let status = one.to_status();
        assert_eq!(status["details"]["kind"], "SolverRun");
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "FieldValueRequired"
        );
        assert_eq!(status["code"], 422);
        let two = ApiError::invalid_causes(
            "SolverRun",
            subject,
            vec![
                Cause {
                    reason: "a".into(),
                    message: "m1".into(),
                    field: "f1".into(),
                },
                Cause {
                    reason: "b".into(),
                    message: "m2".into(),
                    field: "f2".into(),
                },
            ],
        );
        assert!(
            two.message.ends_with("is invalid: [f1: m1, f2: m2]"),
            "{}",
            two.message
        );
    }

    #[test]
    fn not_found_names_core_resources_without_a_group() {
        let err = ApiError::not_found(Subject::new("", "namespaces", "ops"));
        assert_eq!(err.message, "namespaces \"ops\" not found");
        let status = err.to_status();
        assert_eq!(status["details"]["kind"], "namespaces");
        assert!(status["details"].get("group").is_none());
    }
}
