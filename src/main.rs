//! The `mcp-gateway` command: parse the command line, load configuration, then serve, check specs, list tools,
//! make one call or write the demo workers. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcp_gateway::auth::Caller;
use mcp_gateway::config::Config;
use mcp_gateway::http::server::{self, ConnectionLimits};
use mcp_gateway::tools::{CallCtx, Registry, catalogue_md};
use mcp_gateway::{AppState, build_app, telemetry};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's allocator: a call allocates and frees many small JSON values and buffers, often on
/// another worker thread than the one that allocated them, and glibc spent about a quarter of a ping call's
/// instructions in malloc and free (callgrind; see the Benchmark section of the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "mcp-gateway", version, about = "Serve back-ends as Model Context Protocol tools")]
struct Cli {
    /// A TOML configuration file (also GATEWAY_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Validate the configuration and every spec; list each problem with its file and JSON path.
    Check,
    /// List the tools.
    Tools {
        /// Print the Markdown catalogue instead (`mcp-gateway tools --markdown > docs/tools.md`).
        #[arg(long)]
        markdown: bool,
    },
    /// Probe the running server's /health on the configured bind address (for container health checks).
    Healthcheck,
    /// Write two example voice workers (sales and HR databases) into the workers folder.
    Demo {
        /// Replace existing demo worker files.
        #[arg(long)]
        force: bool,
    },
    /// Call one tool through the same pipeline as the server and print the result.
    Call {
        name: String,
        /// The arguments, as a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("warning: .env not loaded: {e}");
        }
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Check => check(&config),
        Command::Tools { markdown } => tools(&config, markdown),
        Command::Demo { force } => demo(&config, force),
        command => run_async(config, command),
    }
}

fn check(config: &Config) -> ExitCode {
    for name in &config.ignored_env {
        eprintln!("warning: {name} names no setting; it is ignored");
    }
    match Registry::load(&config.tool_specs, &config.template_env) {
        Ok(registry) => {
            println!(
                "ok: {} tools, {} resources, {} resource templates, {} prompts in {}",
                registry.tools().len(),
                registry.resources().len(),
                registry.templates().len(),
                registry.prompts().len(),
                config.tool_specs.display()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                println!("{problem}");
            }
            eprintln!("{} problem(s) found", problems.len());
            ExitCode::FAILURE
        }
    }
}

fn tools(config: &Config, markdown: bool) -> ExitCode {
    match Registry::load(&config.tool_specs, &config.template_env) {
        Ok(registry) if markdown => {
            print!("{}", catalogue_md::render(&registry));
            ExitCode::SUCCESS
        }
        Ok(registry) => {
            for tool in registry.tools() {
                let category = tool.spec.category.as_deref().unwrap_or("-");
                let summary = tool.spec.description.lines().next().unwrap_or("");
                println!("{:<40} {:<10} {summary}", tool.spec.name, category);
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            ExitCode::FAILURE
        }
    }
}

fn demo(config: &Config, force: bool) -> ExitCode {
    match mcp_gateway::voice_workers::demo::create(&config.voice_workers.dir, force) {
        Ok(files) => {
            for file in &files {
                println!("wrote {}", file.display());
            }
            println!("{} demo workers ready: GET /workers lists them", files.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run_async(config: Config, command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match command {
            Command::Call { name, args } => call(config, &name, &args).await,
            Command::Healthcheck => healthcheck(&config).await,
            _ => serve(config).await,
        }
    })
}

async fn call(config: Config, name: &str, args: &str) -> ExitCode {
    let args: serde_json::Value = match serde_json::from_str(args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("--args is not valid JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let state = match AppState::new(config) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // The operator at the console runs as the unrestricted local caller.
    let ctx = CallCtx::detached(uuid::Uuid::now_v7().to_string(), Caller::Anonymous);
    match state.engine.call(&ctx, name, args).await.and_then(mcp_gateway::tools::ToolOutput::into_rest) {
        Ok(result) => {
            println!("{}", serde_json::to_string_pretty(&result).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{}", serde_json::to_string_pretty(&err.to_json(&ctx.request_id)).unwrap_or_default());
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck(config: &Config) -> ExitCode {
    let mut address = config.bind;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{address}/health");
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build();
    match client.map(|c| c.get(&url)) {
        Ok(request) => match request.send().await {
            Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
            Ok(response) => {
                eprintln!("{url} answered {}", response.status());
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("{url} unreachable: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("cannot build the HTTP client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    let _telemetry = telemetry::init(&config);
    for name in &config.ignored_env {
        tracing::warn!(variable = %name, "environment variable names no setting; ignored");
    }
    let bind = config.bind;
    let state = match AppState::new(config) {
        Ok(state) => state,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let address = listener.local_addr().map_or_else(|_| bind.to_string(), |a| a.to_string());
    let tools = state.engine.registry().snapshot().tools().len();
    tracing::info!(%address, tools, "mcp-gateway listening");
    let grace = state.config.shutdown_grace;
    let limits = ConnectionLimits::of(&state.config);
    let stop = CancellationToken::new();
    let server = tokio::spawn(server::serve(listener, build_app(state.clone()), limits, stop.clone()));
    shutdown_signal().await;
    // Streams end now; in-flight requests get the grace period to finish.
    state.begin_shutdown();
    stop.cancel();
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(())) => tracing::info!("in-flight requests finished"),
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!(grace_secs = grace.as_secs(), "grace period over; remaining requests were cut"),
    }
    state.finish_shutdown();
    tracing::info!("shut down");
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
