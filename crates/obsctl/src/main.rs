//! The obsctl binary: reads argv and the environment, sets up logging, runs one command.

use clap::Parser;
use obsctl::cli::{Cli, Command, LogFormat};
use obsctl::commands;

/// Log levels from quietest to loudest.
const LEVELS: [&str; 5] =
    ["error", "warn", "info,sqlx=warn,hyper=warn,reqwest=warn", "debug,sqlx=info,hyper=info,reqwest=info", "trace"];

/// `serve` logs what it does (info); every other command speaks through what it prints and
/// logs only warnings, unless asked for more with `-v` (issue 27: 14 migration lines and
/// "rebuilt recall index" on stderr for an ordinary command); `demo` tells its story alone,
/// errors aside (issue 28: its narration came interleaved with "incident opened" warnings).
fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let base = match cli.command {
        Command::Demo(_) => 0,
        Command::Serve { .. } if !cli.quiet => 2,
        _ => 1,
    };
    let default = LEVELS[(base + usize::from(cli.verbose)).min(LEVELS.len() - 1)];
    let filter = EnvFilter::try_from_env("OBSCTL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.compact().init(),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
