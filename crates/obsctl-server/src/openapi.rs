//! The route registry that builds the router and its OpenAPI 3 document together, so the
//! document cannot drift from the code.

use std::sync::Arc;

use axum::handler::Handler;
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
}

impl Api {
    pub fn new() -> Self {
        Self { routes: Routes::default(), paths: Map::new(), generator: SchemaSettings::openapi3().into_generator() }
    }

    pub fn schema<T: JsonSchema>(&mut self) -> Schema {
        self.generator.subschema_for::<T>()
    }

    /// Query parameters described by the fields of `Q`.
    pub fn query<Q: JsonSchema>(&mut self) -> Vec<Value> {
        let root = SchemaGenerator::default().into_root_schema_for::<Q>();
        let props = root.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        props
            .into_iter()
            .map(|(name, schema)| {
                let description = schema.get("description").cloned().unwrap_or(Value::Null);
                let mut schema = schema;
                if let Some(o) = schema.as_object_mut() {
                    o.remove("description");
                }
                json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
            })
            .collect()
    }

    pub fn route<H, T>(mut self, method: &'static str, path: &'static str, op: Op, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let upper = match method {
            "get" => "GET",
            "post" => "POST",
            "delete" => "DELETE",
            _ => "ANY",
        };
        self.routes = self.routes.add(upper, path, handler);
        let error = self.schema::<ErrorBody>();
        let mut params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(op.query);
        let mut operation = json!({
            "operationId": format!("{method}{}", path.replace(['/', '{', '}', '.'], "_")),
            "summary": op.summary,
            "parameters": params,
            "responses": {
                "200": {"description": "success", "content": {"application/json": {"schema": op.response}}},
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
        entry[method] = operation;
        self
    }

    pub fn finish(mut self) -> (Routes, Value) {
        let schemas = self.generator.take_definitions(true);
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "obsctl API", "version": env!("CARGO_PKG_VERSION"), "description": "The obsctl control plane: status, checks, incidents, actions and approvals. Mutations need the bearer token; once any credential is configured, reads need it (or a dashboard session) too."},
            "paths": self.paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        });
        (self.routes, doc)
    }
}

pub(crate) async fn serve(doc: Arc<Value>) -> axum::Json<Value> {
    axum::Json((*doc).clone())
}
