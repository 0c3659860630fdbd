//! The MCP gateway: obsctl's tools and its control plane for other agents and people's
//! assistants, on the official SDK (`rmcp`), over stdio (`obsctl mcp`) and streamable HTTP
//! (`/mcp` on `[mcp] listen`, see `http.rs`).
//!
//! Architecture invariant: no MCP path acts outside the gate or approves anything. A tool that
//! changes things becomes a proposed plan for an incident, journaled and audited with the
//! client's identity (`mcp:<client name>`); read-only tools run through `Agent::read_tool`.

mod catalog;
mod http;
mod registry;
mod resources;

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    Implementation, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::AppState;
pub use http::{gateway_credentials, serve_http};

/// One MCP session's view of obsctl. Cheap to make: one per HTTP session or stdio connection.
#[derive(Clone)]
pub struct Gateway {
    state: AppState,
    catalog: Arc<catalog::Catalog>,
}

impl Gateway {
    pub fn new(state: AppState) -> Self {
        Self { catalog: Arc::new(catalog::Catalog::new()), state }
    }

    /// Every tool the gateway offers: the control plane's, then the registry's.
    pub fn tools(&self) -> Vec<rmcp::model::Tool> {
        let mut tools = self.catalog.tools();
        tools.extend(registry::tools(&self.state.registry));
        tools
    }

    /// Calls tool `name` for `caller`. A failure the caller should read comes back as a result
    /// with `is_error`; only an unknown tool is a protocol error.
    pub async fn call(&self, name: &str, args: Value, caller: &str) -> Result<CallToolResult, ErrorData> {
        if let Some(result) = self.catalog.call(&self.state, name, &args, caller).await {
            return Ok(result);
        }
        if let Some(tool) = self.state.registry.get(name) {
            return Ok(registry::call(&self.state, tool.as_ref(), args, caller).await);
        }
        Err(ErrorData::invalid_params(format!("unknown tool {name:?}; tools/list names every tool"), None))
    }
}

/// Who is calling, for the journal and the audit log: `mcp:` and the client's name from its
/// handshake, reduced to safe characters.
fn caller(context: &RequestContext<RoleServer>) -> String {
    let name = context
        .meta
        .client_info()
        .map(|i| i.name)
        .or_else(|| context.peer.peer_info().map(|p| p.client_info.name.clone()))
        .unwrap_or_default();
    let name: String =
        name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(64).collect();
    format!("mcp:{}", if name.is_empty() { "client" } else { &name })
}

/// A JSON value as a tool result: structured, and as text for clients that read only text.
pub(crate) fn json_result(value: Value, is_error: bool) -> CallToolResult {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    let mut result = if is_error {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    // Structured content must be an object; lists are wrapped.
    result.structured_content = Some(if value.is_object() { value } else { serde_json::json!({ "items": value }) });
    result
}

impl ServerHandler for Gateway {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().enable_prompts().build())
            .with_server_info(Implementation::new("obsctl", env!("CARGO_PKG_VERSION")).with_title("obsctl gateway"))
            .with_instructions(
                "obsctl watches services and fixes what it can. Read with obsctl.status, obsctl.incidents, \
                 obsctl.incident, obsctl.recall and the graph tools. Tools that change things take an \
                 incident_id and pass obsctl's policy gate: in approve mode they are queued for a person \
                 and return the action ids, never a result.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Value::Object(request.arguments.unwrap_or_default());
        let caller = caller(&context);
        tracing::info!(tool = %request.name, caller, "MCP tool call");
        self.call(&request.name, args, &caller).await.map(CallToolResponse::from)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        resources::list(&self.state).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.state, &request.uri).await.map(ReadResourceResponse::from)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(resources::prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        resources::prompt(&self.state, &request.name, request.arguments.unwrap_or_default())
            .await
            .map(GetPromptResponse::from)
    }
}

/// Serves the gateway on stdin/stdout until the client closes it (`obsctl mcp`).
pub async fn serve_stdio(state: AppState) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let running = Gateway::new(state).serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
