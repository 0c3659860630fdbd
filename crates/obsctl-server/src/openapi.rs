//! The route registry that builds the router and its OpenAPI 3 document together, so the
//! document cannot drift from the code.

use std::sync::Arc;

use axum::handler::Handler;
use axum::http::Method;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ErrorBody;
use crate::routing::Routes;

pub(crate) struct Api {
    routes: Routes,
    paths: Map<String, Value>,
    generator: SchemaGenerator,
}

/// What the document says about one operation.
pub(crate) struct Op {
    pub summary: &'static str,
    pub auth: bool,
    pub request: Option<Schema>,
    pub query: Vec<Value>,
    pub response: Schema,
    /// A file to download of this media type, instead of JSON.
    pub download: Option<&'static str>,
}

impl Api {
    pub fn new() -> Self {
        Self { routes: Routes::default(), paths: Map::new(), generator: SchemaSettings::openapi3().into_generator() }
    }

    pub fn schema<T: JsonSchema>(&mut self) -> Schema {
        self.generator.subschema_for::<T>()
    }

    /// Query parameters described by the fields of `Q`, required where `Q` requires them.
    pub fn query<Q: JsonSchema>(&mut self) -> Vec<Value> {
        let root = self.generator.root_schema_for::<Q>();
        let required: Vec<&str> = root
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let props = root.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        props
            .into_iter()
            .map(|(name, schema)| {
                let description = schema.get("description").cloned().unwrap_or(Value::Null);
                let mut schema = schema;
                if let Some(o) = schema.as_object_mut() {
                    o.remove("description");
                    o.remove("nullable"); // an absent parameter is how a query says "none"
                }
                let required = required.contains(&name.as_str());
                json!({"name": name, "in": "query", "required": required, "schema": schema, "description": description})
            })
            .collect()
    }

    pub fn route<H, T>(mut self, method: Method, path: &'static str, op: Op, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        // OpenAPI names operations in lower case (`get`, `post`).
        let verb = method.as_str().to_ascii_lowercase();
        self.routes = self.routes.add(method, path, handler);
        let error = self.schema::<ErrorBody>();
        let mut params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(op.query);
        let mut operation = json!({
            "operationId": format!("{verb}{}", path.replace(['/', '{', '}', '.'], "_")),
            "summary": op.summary,
            "parameters": params,
            "responses": {
                "200": match op.download {
                    Some(media) => json!({"description": "success", "content": {media: {"schema": {"type": "string", "format": "binary"}}}}),
                    None => json!({"description": "success", "content": {"application/json": {"schema": op.response}}}),
                },
                "default": {"description": "error", "content": {"application/json": {"schema": error}}},
            },
        });
        if let Some(req) = op.request {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": req}}});
        }
        if op.auth {
            operation["security"] = json!([{"bearer": []}]);
        } else {
            // Reads need the token (or a dashboard session) once any credential is configured.
            operation["security"] = json!([{}, {"bearer": []}]);
        }
        let entry = self.paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[verb.as_str()] = operation;
        self
    }

    pub fn finish(mut self) -> (Routes, Value) {
        let mut schemas = Value::Object(self.generator.take_definitions(true));
        let mut paths = Value::Object(std::mem::take(&mut self.paths));
        only_schema_objects(&mut schemas);
        only_schema_objects(&mut paths);
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "obsctl API", "version": env!("CARGO_PKG_VERSION"), "description": "The obsctl control plane: status, checks, incidents, actions and approvals. Mutations need the bearer token; once any credential is configured, reads need it (or a dashboard session) too."},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        });
        (self.routes, doc)
    }
}

/// OpenAPI 3.0 has no boolean schemas: `true` (any value, which schemars writes for a JSON
/// value) becomes `{}` wherever a schema stands.
fn only_schema_objects(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if child.as_bool() == Some(true) && matches!(key.as_str(), "items" | "schema" | "additionalProperties")
                {
                    *child = json!({});
                } else if key == "properties"
                    && let Some(props) = child.as_object_mut()
                {
                    for p in props.values_mut() {
                        if p.as_bool() == Some(true) {
                            *p = json!({});
                        } else {
                            only_schema_objects(p);
                        }
                    }
                } else {
                    only_schema_objects(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(only_schema_objects),
        _ => {}
    }
}

/// Narrows the document to this installation: the tools its registry has and the services and
/// checks its config names, so every value the document allows is one the server accepts.
pub(crate) fn specialize(doc: &mut Value, state: &AppState) {
    let tools: Vec<Value> = state.registry.specs().iter().map(|t| json!(t.name)).collect();
    let services: Vec<Value> = state.config.services.iter().map(|s| json!(s.name)).collect();
    let checks: Vec<Value> = state.config.checks.iter().map(|c| json!(c.name)).collect();
    let schemas = &mut doc["components"]["schemas"];
    if let Some(tool) = schemas.pointer_mut("/ProposedStep/properties/tool") {
        tool["enum"] = Value::Array(tools);
    }
    for pointer in ["/SilenceRequest/properties/service", "/SilenceRequest/anyOf/0/properties/service"] {
        if let Some(service) = schemas.pointer_mut(pointer) {
            service["enum"] = Value::Array(services.clone());
        }
    }
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for (path, item) in paths.iter_mut() {
        let Some(ops) = item.as_object_mut() else { continue };
        for op in ops.values_mut() {
            let Some(params) = op["parameters"].as_array_mut() else { continue };
            for p in params.iter_mut().filter(|p| p["in"] == "path") {
                let names = match (p["name"].as_str(), path.starts_with("/api/checks/")) {
                    (Some("service"), true) => &services,
                    (Some("name"), true) => &checks,
                    _ => continue,
                };
                p["schema"]["enum"] = Value::Array(names.clone());
            }
        }
    }
}

pub(crate) async fn serve(doc: Arc<Value>) -> axum::Json<Value> {
    axum::Json((*doc).clone())
}
