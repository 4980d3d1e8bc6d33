//! The HTTP surface: routing of Kubernetes REST paths, content negotiation
//! (JSON, Table), request options, and watch streams.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri, header};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::audit::{self, AuditLog, AuditRecord};
use super::discovery;
use super::error::ApiError;
use super::faults::Faults;
use super::meta;
use super::openapi;
use super::openapi_v2::{self, Representation};
use super::openapi_v2_protobuf;
use super::protobuf;
use super::resource::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{
    DeleteOptions, EventType, FieldValidation, Filter, ListOptions, PatchType, Propagation, Store,
    WatchFrom, WatchRecord, WriteOptions, encode_event,
};
use super::table::{self, IncludeObject};

pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) faults: Faults,
    pub(crate) address: String,
    pub(crate) bookmark_interval: Duration,
    /// How long a read from a resourceVersion not yet reached waits for it.
    pub(crate) future_version_wait: Duration,
    /// Serve `/openapi/v3`; without it clients fall back to `/openapi/v2`, as with older servers.
    pub(crate) openapi_v3: bool,
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
    /// How many reads are waiting for a resourceVersion the server has not reached.
    pub(crate) waiting_reads: Arc<AtomicUsize>,
    /// Where served resource requests are recorded, when the audit log is on.
    pub(crate) audit: Option<AuditLog>,
}

/// Counts a waiting read for as long as it lives.
struct WaitingRead<'a>(&'a AtomicUsize);

impl<'a> WaitingRead<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for WaitingRead<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Root,
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    GroupVersion(String, String),
    OpenApi,
    Resource(ResourcePath),
}

#[derive(Debug, PartialEq, Eq)]
struct ResourcePath {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn resource_path(group: &str, version: &str, rest: &[&str]) -> Option<Route> {
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if *plural != "status" && *plural != "finalize" => {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(name.to_string()), None),
        [plural, name, sub] => (plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(Route::Resource(ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        plural: plural.to_string(),
        name,
        subresource,
    }))
}

fn route(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [] => Some(Route::Root),
        ["version"] => Some(Route::Version),
        ["healthz" | "livez" | "readyz", ..] => Some(Route::Health),
        ["openapi", ..] => Some(Route::OpenApi),
        ["api"] => Some(Route::CoreVersions),
        ["api", version] => Some(Route::GroupVersion(String::new(), version.to_string())),
        ["api", version, rest @ ..] => resource_path("", version, rest),
        ["apis"] => Some(Route::Groups),
        ["apis", group] => Some(Route::Group(group.to_string())),
        ["apis", group, version] => {
            Some(Route::GroupVersion(group.to_string(), version.to_string()))
        }
        ["apis", group, version, rest @ ..] => resource_path(group, version, rest),
        _ => None,
    }
}

fn json_response(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|part| part.contains("as=Table") && !part.contains("v1beta1"))
        })
}

/// Aggregated discovery is not served: answer 406 unless a plain-JSON fallback is acceptable.
fn check_discovery_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if accept.is_empty()
        || accept.iter().any(|a| {
            let media = a.split(';').next().unwrap_or("").trim();
            (media == "application/json" || media == "*/*" || media == "application/*")
                && !a.contains("as=")
        })
    {
        Ok(())
    } else {
        Err(ApiError::not_acceptable(
            "only the following media types are accepted: application/json",
        ))
    }
}

type Query = HashMap<String, String>;

fn parse_query(uri: &Uri) -> Query {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// A boolean query parameter as apimachinery decodes it (runtime.Convert_Slice_string_To_bool):
/// absent, `0` or `false` in any case is false; any other value, even empty, is true.
fn flag(query: &Query, key: &str) -> bool {
    query
        .get(key)
        .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// An integer query parameter as apimachinery decodes it (strconv.ParseInt, base 10). A
/// malformed value is a 400 whose message is Go's parse error, unwrapped, as the real
/// server answers (handlers/get.go: DecodeParameters error -> NewBadRequest(err.Error())).
fn integer(query: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    let Some(raw) = query.get(key) else {
        return Ok(None);
    };
    raw.parse::<i64>().map(Some).map_err(|err| {
        let why = match err.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        ApiError::bad_request(format!("strconv.ParseInt: parsing \"{raw}\": {why}"))
    })
}

/// Checks the integer fields of ListOptions, which every list, watch and deletecollection
/// decodes whether it uses them or not.
fn list_integers(query: &Query) -> Result<(Option<i64>, Option<i64>), ApiError> {
    Ok((integer(query, "limit")?, integer(query, "timeoutSeconds")?))
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match dispatch(&shared, &method, &uri, &headers, body).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = uri.path();
    let Some(route) = route(path) else {
        return Err(ApiError::path_not_found(path));
    };
    let types = shared.store.types();
    let read_only = |document: Option<Value>| -> Result<Response, ApiError> {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({path})"
            )));
        }
        check_discovery_accept(headers)?;
        document
            .map(|d| json_response(StatusCode::OK, &d))
            .ok_or_else(|| ApiError::path_not_found(path))
    };
    match route {
        Route::Root => read_only(Some(
            json!({"paths": ["/api", "/api/v1", "/apis", "/version"]}),
        )),
        Route::Version => read_only(Some(discovery::version())),
        Route::Health => Ok((StatusCode::OK, "ok").into_response()),
        Route::OpenApi if path.trim_matches('/') == "openapi/v2" => {
            openapi_v2_response(method, headers, &types)
        }
        Route::OpenApi => match path.trim_matches('/').strip_prefix("openapi/v3") {
            Some("") if shared.openapi_v3 => read_only(Some(openapi::root(&types))),
            Some(rest) if shared.openapi_v3 && !rest.is_empty() => {
                read_only(openapi::group_version(&types, rest))
            }
            _ => Err(ApiError::path_not_found(path)),
        },
        Route::CoreVersions => read_only(Some(discovery::core_versions(&shared.address))),
        Route::Groups => read_only(Some(discovery::group_list(&types))),
        Route::Group(group) => read_only(discovery::group(&types, &group)),
        Route::GroupVersion(group, version) => {
            read_only(discovery::resource_list(&types, &group, &version))
        }
        Route::Resource(target) => {
            let record = shared.audit.as_ref().map(|log| {
                let watch = flag(&parse_query(uri), "watch");
                let record = AuditRecord {
                    user: audit::user(headers),
                    verb: audit::verb(method, target.name.is_some(), watch).to_string(),
                    group: target.group.clone(),
                    version: target.version.clone(),
                    resource: target.plural.clone(),
                    subresource: target.subresource.clone(),
                    namespace: target.namespace.clone(),
                    name: target.name.clone(),
                    code: 0,
                };
                (log, record)
            });
            let answer = match shared.faults.before_request().await {
                Ok(()) => resource_request(shared, method, uri, headers, body, target).await,
                Err(err) => Err(err),
            };
            if let Some((log, mut record)) = record {
                record.code = match &answer {
                    Ok(response) => response.status().as_u16(),
                    Err(err) => err.code,
                };
                log.push(record);
            }
            answer
        }
    }
}

/// `/openapi/v2` in JSON or gnostic protobuf, as the client's `Accept` prefers;
/// 406 when it accepts neither.
fn openapi_v2_response(
    method: &Method,
    headers: &HeaderMap,
    types: &[Arc<ResourceType>],
) -> Result<Response, ApiError> {
    if method != Method::GET {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource (/openapi/v2)",
        ));
    }
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let document = openapi_v2::document(types);
    match openapi_v2::negotiate(accept) {
        Some(Representation::Json) => Ok(json_response(StatusCode::OK, &document)),
        Some(Representation::Protobuf) => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, openapi_v2::PROTOBUF_CONTENT_TYPE)],
            openapi_v2_protobuf::encode(&document),
        )
            .into_response()),
        None => Err(ApiError::not_acceptable(format!(
            "only the following media types are accepted: application/json, {}",
            openapi_v2::PROTOBUF_MEDIA_TYPE
        ))),
    }
}

fn subject_name(target: &ResourcePath) -> &str {
    target.name.as_deref().unwrap_or("")
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return protobuf::decode(body).map_err(|e| ApiError::unsupported_media_type(e.to_string()));
    }
    if content_type.contains("protobuf") || content_type.contains("cbor") {
        // As a server without these serializers would: clients (client-go) then fall back to JSON.
        return Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type})"
        )));
    }
    let parsed = match serde_json::from_slice::<Value>(body) {
        Ok(value) => Ok(value),
        Err(json_err) if content_type.contains("yaml") => std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string()))
            .map_err(|yaml_err| format!("{json_err}; as YAML: {yaml_err}")),
        Err(json_err) => Err(json_err.to_string()),
    };
    parsed.map_err(|why| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded: {why}"
        ))
    })
}

fn write_options(query: &Query, headers: &HeaderMap) -> Result<WriteOptions, ApiError> {
    let field_manager = query.get("fieldManager").cloned().unwrap_or_else(|| {
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .unwrap_or("unknown")
            .to_string()
    });
    // Warn is what the real server does when the client does not say.
    let field_validation = match query.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            )));
        }
    };
    Ok(WriteOptions {
        field_manager,
        dry_run: query.get("dryRun").is_some_and(|v| v == "All"),
        force: flag(query, "force"),
        field_validation,
        warnings: Default::default(),
    })
}

/// A write's answer with one `Warning: 299 - "..."` header per collected warning.
fn written(code: StatusCode, object: &Value, options: &WriteOptions) -> Response {
    let mut response = json_response(code, object);
    for warning in options.warnings.take() {
        let quoted = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = http::HeaderValue::from_str(&format!("299 - \"{quoted}\"")) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

fn filter(query: &Query, namespace: Option<&str>) -> Result<Filter, ApiError> {
    let labels = match query.get("labelSelector").filter(|s| !s.is_empty()) {
        Some(raw) => {
            Some(LabelSelector::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        None => None,
    };
    let fields = match query.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(raw) => {
            Some(FieldSelector::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        None => None,
    };
    Ok(Filter {
        namespace: namespace.map(str::to_string),
        labels,
        fields,
    })
}

async fn resource_request(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    target: ResourcePath,
) -> Result<Response, ApiError> {
    let path = uri.path();
    let rt = shared
        .store
        .resolve(&target.group, &target.version, &target.plural)
        .ok_or_else(|| ApiError::path_not_found(path))?;
    if (target.namespace.is_some() && !rt.namespaced)
        || (rt.namespaced && target.namespace.is_none() && target.name.is_some())
    {
        return Err(ApiError::path_not_found(path));
    }
    let subresource = match target.subresource.as_deref() {
        None => None,
        Some("status") if rt.status_subresource => Some("status"),
        Some(_) => return Err(ApiError::path_not_found(path)),
    };
    let query = parse_query(uri);
    let namespace = target.namespace.clone().unwrap_or_default();
    let store = &shared.store;
    let table = wants_table(headers);
    match (method.clone(), target.name.as_deref()) {
        (Method::GET, None) if flag(&query, "watch") => {
            watch(shared, rt, target.namespace.as_deref(), &query, table).await
        }
        (Method::GET, None) => list(shared, &rt, target.namespace.as_deref(), &query, table).await,
        (Method::GET, Some(name)) => {
            let object = store.get(&rt, &namespace, name)?;
            if table {
                let include = IncludeObject::parse(query.get("includeObject").map(String::as_str));
                let metadata = json!({"resourceVersion": meta::resource_version(&object)});
                return Ok(json_response(
                    StatusCode::OK,
                    &table::table(&rt, &[&object], metadata, include),
                ));
            }
            Ok(json_response(StatusCode::OK, &object))
        }
        (Method::POST, None) => {
            let object = parse_body(headers, &body)?;
            let options = write_options(&query, headers)?;
            let created = store.create(&rt, &namespace, object, &options)?;
            Ok(written(StatusCode::CREATED, &created, &options))
        }
        (Method::PUT, Some(name)) => {
            let object = parse_body(headers, &body)?;
            let options = write_options(&query, headers)?;
            let (object, created) =
                store.update(&rt, &namespace, name, object, subresource, &options)?;
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(written(code, &object, &options))
        }
        (Method::PATCH, Some(name)) => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim();
            let patch_type = match content_type {
                "application/merge-patch+json" => PatchType::Merge,
                "application/json-patch+json" => PatchType::Json,
                "application/strategic-merge-patch+json" => PatchType::Strategic,
                "application/apply-patch+yaml"
                | "application/apply-patch+json"
                | "application/apply-patch+cbor" => PatchType::Apply,
                other => {
                    return Err(ApiError::unsupported_media_type(format!(
                        "the body of the request was in an unknown format ({other}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                    )));
                }
            };
            let mut patch_headers = headers.clone();
            if patch_type == PatchType::Apply {
                patch_headers.insert(
                    header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/yaml"),
                );
            }
            let patch = parse_body(&patch_headers, &body)?;
            let options = write_options(&query, headers)?;
            let (object, created) = store.patch(
                &rt,
                &namespace,
                name,
                patch_type,
                &patch,
                subresource,
                &options,
            )?;
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(written(code, &object, &options))
        }
        (Method::DELETE, name) => {
            let options = delete_options(&query, &body)?;
            match name {
                Some(name) if subresource.is_none() => {
                    let object = store.delete(&rt, &namespace, name, &options)?;
                    Ok(json_response(StatusCode::OK, &object))
                }
                Some(_) => Err(ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                )),
                None => {
                    list_integers(&query)?;
                    let list = ListOptions {
                        filter: filter(&query, target.namespace.as_deref())?,
                        ..ListOptions::default()
                    };
                    let deleted = store.delete_collection(&rt, &list, &options)?;
                    let rv = store.current_rv();
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": deleted}),
                    ))
                }
            }
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            method,
            subject_name(&target)
        ))),
    }
}

fn delete_options(query: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    integer(query, "gracePeriodSeconds")?;
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else if body.starts_with(b"k8s\0") {
        // client-go's typed clients send DeleteOptions in protobuf.
        protobuf::decode(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let policy = query
        .get("propagationPolicy")
        .map(String::as_str)
        .or_else(|| body.get("propagationPolicy").and_then(Value::as_str));
    let orphan_dependents = body.get("orphanDependents").and_then(Value::as_bool);
    let orphan = orphan_dependents == Some(true);
    let propagation = match policy {
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some("Background") => Propagation::Background,
        None if orphan => Propagation::Orphan,
        None => Propagation::Background,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            )));
        }
    };
    let dry_run = query.get("dryRun").is_some_and(|v| v == "All")
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        propagation_given: policy.is_some() || orphan_dependents.is_some(),
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run,
    })
}

/// Waits, as the watch cache does before serving a read from a resourceVersion it has not
/// reached (storage/cacher/watch_cache.go waitUntilFreshAndBlock, blockTimeout), until the
/// server reaches `wanted`; then answers 504 "Too large resource version".
async fn wait_until_fresh(shared: &Shared, wanted: u64) -> Result<(), ApiError> {
    let (mut current, mut changes) = shared.store.subscribe();
    let deadline = tokio::time::Instant::now() + shared.future_version_wait;
    let _waiting = (current < wanted).then(|| WaitingRead::new(&shared.waiting_reads));
    while current < wanted {
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => current = shared.store.current_rv(),
            Ok(Err(RecvError::Closed)) | Err(_) => {
                current = shared.store.current_rv();
                if current < wanted {
                    return Err(ApiError::resource_version_too_large(wanted, current));
                }
            }
        }
    }
    Ok(())
}

async fn list(
    shared: &Shared,
    rt: &ResourceType,
    namespace: Option<&str>,
    query: &Query,
    table: bool,
) -> Result<Response, ApiError> {
    // Storage pages only for a positive limit; zero or negative lists everything.
    let limit = list_integers(query)?
        .0
        .filter(|n| *n > 0)
        .and_then(|n| usize::try_from(n).ok());
    let exact = match query.get("resourceVersionMatch").map(String::as_str) {
        None | Some("") | Some("NotOlderThan") => false,
        Some("Exact") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
            )));
        }
    };
    let options = ListOptions {
        filter: filter(query, namespace)?,
        limit,
        continue_token: query.get("continue").filter(|c| !c.is_empty()).cloned(),
        resource_version: query.get("resourceVersion").cloned(),
        exact,
    };
    if options.continue_token.is_none()
        && let Some(wanted) = options
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse::<u64>().ok())
    {
        wait_until_fresh(shared, wanted).await?;
    }
    let result = shared.store.list(rt, &options)?;
    let mut metadata = json!({"resourceVersion": result.resource_version.to_string()});
    if let Some(token) = &result.continue_token {
        metadata["continue"] = json!(token);
    }
    if let Some(remaining) = result.remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    if table {
        let include = IncludeObject::parse(query.get("includeObject").map(String::as_str));
        let objects: Vec<&Value> = result.items.iter().map(|o| o.as_ref()).collect();
        return Ok(json_response(
            StatusCode::OK,
            &table::table(rt, &objects, metadata, include),
        ));
    }
    // Items are written one by one so a large list is not cloned into one Value first.
    let mut out = Vec::with_capacity(256 + result.items.len() * 512);
    out.extend_from_slice(
        format!(
            "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
            json!(rt.list_kind()),
            json!(rt.api_version()),
            metadata
        )
        .as_bytes(),
    );
    for (i, item) in result.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, item.as_ref())
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    out.extend_from_slice(b"]}");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

/// How one watcher renders events.
struct WatchView {
    rt: Arc<ResourceType>,
    filter: Filter,
    table: Option<IncludeObject>,
}

impl WatchView {
    fn line(&self, event_type: &str, object: &Value) -> Bytes {
        match self.table {
            Some(include) => {
                let metadata = json!({"resourceVersion": meta::resource_version(object)});
                encode_event(
                    event_type,
                    &table::table(&self.rt, &[object], metadata, include),
                )
            }
            None if object.get("apiVersion").and_then(Value::as_str)
                == Some(self.rt.api_version().as_str()) =>
            {
                encode_event(event_type, object)
            }
            None => {
                let mut served = object.clone();
                served["apiVersion"] = json!(self.rt.api_version());
                encode_event(event_type, &served)
            }
        }
    }

    /// The event this watcher sees for a record, if any: a selector watch sees
    /// an object entering the selection as ADDED and leaving it as DELETED.
    fn render(&self, record: &WatchRecord) -> Option<Bytes> {
        if record.key != self.rt.storage_key() {
            return None;
        }
        if let Some(ns) = &self.filter.namespace
            && self.rt.namespaced
            && &record.namespace != ns
        {
            return None;
        }
        let plain = self.table.is_none()
            && record.object.get("apiVersion").and_then(Value::as_str)
                == Some(self.rt.api_version().as_str());
        if !self.filter.has_selectors() {
            return Some(if plain {
                record.encoded()
            } else {
                self.line(record.event.as_str(), &record.object)
            });
        }
        let now_matches = self.filter.matches(&record.object);
        match record.event {
            EventType::Added | EventType::Deleted => {
                now_matches.then(|| self.line(record.event.as_str(), &record.object))
            }
            EventType::Modified => {
                let matched = record
                    .previous
                    .as_deref()
                    .is_some_and(|p| self.filter.matches(p));
                match (matched, now_matches) {
                    (true, true) => Some(self.line("MODIFIED", &record.object)),
                    (false, true) => Some(self.line("ADDED", &record.object)),
                    (true, false) => {
                        let mut last = record.previous.as_deref().cloned().unwrap_or(Value::Null);
                        meta::set_meta(&mut last, "resourceVersion", json!(record.rv.to_string()));
                        Some(self.line("DELETED", &last))
                    }
                    (false, false) => None,
                }
            }
        }
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut object = json!({
            "kind": self.rt.kind,
            "apiVersion": self.rt.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
        });
        if initial_events_end {
            object["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        encode_event("BOOKMARK", &object)
    }
}

/// How long before a watch's `timeoutSeconds` ends its last bookmark is sent.
const PRE_TIMEOUT_BOOKMARK: Duration = Duration::from_secs(2);

async fn watch(
    shared: &Arc<Shared>,
    rt: Arc<ResourceType>,
    namespace: Option<&str>,
    query: &Query,
    table: bool,
) -> Result<Response, ApiError> {
    // Zero means the server's default; a negative timeout has already passed.
    let timeout = match list_integers(query)?.1 {
        None | Some(0) => Duration::from_secs(1800),
        Some(seconds) => Duration::from_secs(u64::try_from(seconds).unwrap_or(0)),
    };
    let filter = filter(query, namespace)?;
    let send_initial = flag(query, "sendInitialEvents");
    let bookmarks = flag(query, "allowWatchBookmarks");
    let rv = query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or("");
    if send_initial && query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan")
    {
        return Err(ApiError::invalid_causes(
            "ListOptions",
            super::error::Subject::new("meta.k8s.io", "", ""),
            vec![super::error::Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: \"\": sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into(),
                field: "resourceVersionMatch".into(),
            }],
        ));
    }
    let requested =
        match rv {
            "" | "0" => None,
            raw => Some(raw.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version \"{raw}\""))
            })?),
        };
    // A streaming list waits for its version as a list does (cacher.go
    // waitUntilWatchCacheFreshAndForceAllEvents); the failure is the stream's one event,
    // as every error after the version parses is on the real server.
    if send_initial
        && let Some(wanted) = requested
        && let Err(err) = wait_until_fresh(shared, wanted).await
    {
        return Ok(stream_response(Body::from(encode_event(
            "ERROR",
            &err.to_status(),
        ))));
    }
    let from = match requested {
        Some(rv) if !send_initial => WatchFrom::After(rv),
        _ => WatchFrom::Current,
    };
    // A plain watch from a version ahead of the server opens at once and, as the watch
    // cache's watcher does, sends nothing (not even a bookmark) until changes pass it.
    let skip_through = match from {
        WatchFrom::After(rv) => rv,
        WatchFrom::Current => 0,
    };
    let view = WatchView {
        rt: rt.clone(),
        filter: filter.clone(),
        table: table.then(|| IncludeObject::parse(query.get("includeObject").map(String::as_str))),
    };
    let start = match shared.store.watch(&rt, from, &filter) {
        Ok(start) => start,
        Err(err) if err.code == 410 => {
            // A real server answers 200 and sends the expiry as the first event; kube-runtime relists on it.
            let line = encode_event("ERROR", &err.to_status());
            return Ok(stream_response(Body::from(line)));
        }
        Err(err) => return Err(err),
    };
    let faults = shared.faults.clone();
    let cut_after = faults.config().cut_watches_after;
    let bookmark_interval = shared.bookmark_interval;
    let mut shutdown = shared.shutdown.clone();
    let stream = async_stream::stream! {
        let now = tokio::time::Instant::now();
        let deadline = now + timeout;
        // As the real watch cache does, a last bookmark ~2s before the timeout lets the
        // client resume from the newest version rather than relist.
        let pre_timeout = deadline.checked_sub(PRE_TIMEOUT_BOOKMARK).unwrap_or(now).max(now);
        let mut pre_timeout_sent = false;
        let mut sent = 0usize;
        let mut seen_rv = start.resource_version;
        let mut receiver = start.receiver;
        let cut = |sent: usize| cut_after.is_some_and(|n| sent >= n);
        for object in &start.initial {
            if cut(sent) {
                faults.note_cut_watch();
                return;
            }
            yield Ok::<Bytes, std::convert::Infallible>(view.line("ADDED", object));
            sent += 1;
        }
        if send_initial {
            yield Ok(view.bookmark(seen_rv, true));
        }
        for record in &start.backlog {
            if let Some(line) = view.render(record) {
                if cut(sent) {
                    faults.note_cut_watch();
                    return;
                }
                yield Ok(line);
                sent += 1;
            }
        }
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + bookmark_interval, bookmark_interval);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = shutdown.changed() => break,
                _ = ticker.tick(), if bookmarks && seen_rv >= skip_through => {
                    yield Ok(view.bookmark(seen_rv, false));
                }
                _ = tokio::time::sleep_until(pre_timeout), if bookmarks && !pre_timeout_sent => {
                    pre_timeout_sent = true;
                    if seen_rv >= skip_through {
                        yield Ok(view.bookmark(seen_rv, false));
                    }
                }
                received = receiver.recv() => match received {
                    Ok(record) => {
                        seen_rv = seen_rv.max(record.rv);
                        if record.rv <= skip_through {
                            continue;
                        }
                        if let Some(line) = view.render(&record) {
                            if cut(sent) {
                                faults.note_cut_watch();
                                break;
                            }
                            yield Ok(line);
                            sent += 1;
                        }
                    }
                    // A watcher too slow for the broadcast buffer is closed, as the real server closes slow watchers.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
                },
            }
        }
    };
    Ok(stream_response(Body::from_stream(stream)))
}

fn stream_response(body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_to_resources_and_subresources() {
        assert_eq!(
            route("/apis/example.com/v1alpha1/namespaces/ops/solverruns/x/status"),
            Some(Route::Resource(ResourcePath {
                group: "example.com".into(),
                version: "v1alpha1".into(),
                namespace: Some("ops".into()),
                plural: "solverruns".into(),
                name: Some("x".into()),
                subresource: Some("status".into()),
            }))
        );
        let Some(Route::Resource(ns_status)) = route("/api/v1/namespaces/ops/status") else {
            panic!()
        };
        assert_eq!(
            (
                ns_status.plural.as_str(),
                ns_status.name.as_deref(),
                ns_status.subresource.as_deref()
            ),
            ("namespaces", Some("ops"), Some("status"))
        );
        let Some(Route::Resource(events)) = route("/api/v1/namespaces/ops/events") else {
            panic!()
        };
        assert_eq!(
            (
                events.namespace.as_deref(),
                events.plural.as_str(),
                events.name
            ),
            (Some("ops"), "events", None)
        );
        assert_eq!(route("/apis/g"), Some(Route::Group("g".into())));
    }

    #[test]
    fn aggregated_discovery_without_fallback_is_not_acceptable() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
                .parse()
                .unwrap(),
        );
        assert_eq!(check_discovery_accept(&headers).unwrap_err().code, 406);
        headers.insert(
            header::ACCEPT,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
                .parse()
                .unwrap(),
        );
        assert!(check_discovery_accept(&headers).is_ok());
    }
}
