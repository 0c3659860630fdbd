//! One module per command; `run` dispatches.

mod actions;
mod backup;
mod config;
mod dashboard;
mod demo;
mod demo_service;
mod graph;
mod handoff;
mod health;
mod incidents;
mod mcp;
mod memory;
mod memory_io;
mod periodic;
mod serve;
mod serving;
mod silence;
mod telemetry;
mod version;

use crate::cli::{AgentCommand, Cli, Command, ConfigCommand, DashboardCommand, McpCommand, TelemetryCommand};

/// Runs the command; the exit code (0 ok, 1 a check or fix failed).
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Init { dir, force } => config::init(&dir, force),
        Command::Config(ConfigCommand::Check { file }) => config::check(file.as_deref().or(config)),
        Command::Serve { listen, mcp_listen } => serve::run(config, listen, mcp_listen).await,
        Command::Mcp { cmd: None } => mcp::run(config).await,
        Command::Mcp { cmd: Some(McpCommand::Servers { json }) } => mcp::servers(config, json).await,
        Command::Health { serving: true, .. } => serving::run(config).await,
        Command::Health { json, .. } => health::run(config, json).await,
        Command::Agent(AgentCommand::PeriodicCheck { issue, dry_run, json }) => {
            periodic::run(config, issue, dry_run, json).await
        }
        Command::Incidents(cmd) => incidents::run(config, cmd).await,
        Command::Actions(cmd) => actions::run(config, cmd).await,
        Command::Silence(cmd) => silence::run(config, cmd).await,
        Command::Memory(cmd) => memory::run(config, cmd).await,
        Command::Graph(cmd) => graph::run(config, cmd).await,
        Command::Dashboard { cmd: Some(DashboardCommand::HashPassword), .. } => dashboard::hash_password(),
        Command::Dashboard { cmd: None, print } => dashboard::open(config, print).await,
        Command::Backup { out } => backup::backup(config, out).await,
        Command::Restore { file, store, config_out } => backup::restore(config, &file, store, config_out).await,
        Command::Reset { yes, no_backup } => backup::reset(config, yes, no_backup).await,
        Command::Telemetry(TelemetryCommand::Check { env, json, flow, flow_timeout, report, online }) => {
            let flow = flow.then_some(flow_timeout);
            telemetry::check(telemetry::CheckArgs { env, json, flow, online, report }).await
        }
        Command::Telemetry(TelemetryCommand::Init { dir, service, force }) => {
            telemetry::init(&dir, service.as_deref(), force)
        }
        Command::Telemetry(TelemetryCommand::Rules { json }) => telemetry::rules(json),
        Command::Version { json } => version::version(json),
        Command::Completions { shell } => version::completions(shell),
        Command::DemoService { port, poison } => demo_service::run(port, poison).await,
    }
}
