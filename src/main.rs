//! The `mcp-gateway` command: parse the command line, load configuration, then serve, check specs, list tools,
//! make one call, write the demo workers or list and approve upstream tool pins. Everything else lives in the
//! library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcp_gateway::auth::Caller;
use mcp_gateway::config::Config;
use mcp_gateway::federation::pins::{self, Pins};
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
    /// The pinned definitions of upstream MCP servers' tools and their held changes ({data_dir}/upstream_pins.db).
    Upstream {
        #[command(subcommand)]
        action: UpstreamAction,
    },
}

#[derive(Subcommand)]
enum UpstreamAction {
    /// List the pinned tools, then the held changes (not served until approved) with the fields that changed.
    List,
    /// Approve the held changes of an upstream: the offered definitions become the pins and are served.
    Approve {
        /// The upstream (`name` in its spec).
        name: String,
        /// Only this tool (its upstream name); repeat for several. Without it, every held change of NAME.
        #[arg(long = "tool", value_name = "T")]
        tools: Vec<String>,
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
        Command::Upstream { action } => upstream(&config, action),
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

fn upstream(config: &Config, action: UpstreamAction) -> ExitCode {
    let path = Pins::path_in(&config.data_dir);
    // Neither command creates the file: no file means no upstream tool was ever seen.
    let pins = if path.exists() { Pins::open(&path).map(Some) } else { Ok(None) };
    let outcome = match (pins, action) {
        (Err(e), _) => Err(e),
        (Ok(None), UpstreamAction::List) => {
            println!("no upstream tool is pinned yet ({} does not exist)", path.display());
            Ok(ExitCode::SUCCESS)
        }
        (Ok(Some(pins)), UpstreamAction::List) => list_pins(&pins),
        (Ok(pins), UpstreamAction::Approve { name, tools }) => approve_pins(pins.as_ref(), &name, &tools),
    };
    outcome.unwrap_or_else(|e| {
        eprintln!("{e}");
        ExitCode::FAILURE
    })
}

fn list_pins(pins: &Pins) -> Result<ExitCode, String> {
    let pinned = pins.list()?;
    let held = pins.held(None)?;
    println!("{} pinned tool(s) in {}", pinned.len(), pins.path().display());
    let rows = pinned.iter().map(|pin| {
        let digest = pin.digest.get(..12).unwrap_or(&pin.digest).to_owned();
        vec![pin.upstream.clone(), pin.tool.clone(), digest, mcp_gateway::audit::format_ms(pin.pinned_ms)]
    });
    if !pinned.is_empty() {
        print_table(&["UPSTREAM", "TOOL", "DIGEST", "PINNED"], rows);
    }
    println!();
    if held.is_empty() {
        println!("no held changes");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} held change(s), not served until `mcp-gateway upstream approve NAME [--tool T]`:", held.len());
    let rows = held.iter().map(|change| {
        let changes = pins::changes(&change.pinned, &change.offered).join(", ");
        vec![change.upstream.clone(), change.tool.clone(), mcp_gateway::audit::format_ms(change.seen_ms), changes]
    });
    print_table(&["UPSTREAM", "TOOL", "OFFERED SINCE", "CHANGES"], rows);
    Ok(ExitCode::SUCCESS)
}

fn approve_pins(pins: Option<&Pins>, name: &str, tools: &[String]) -> Result<ExitCode, String> {
    let only = (!tools.is_empty()).then_some(tools);
    let approved = match pins {
        Some(pins) => pins.approve(name, only)?,
        None => Vec::new(),
    };
    if approved.is_empty() {
        let among = only.map(|tools| format!(" among {}", tools.join(", "))).unwrap_or_default();
        eprintln!("nothing is held for upstream {name}{among}; `mcp-gateway upstream list` shows what is");
        return Ok(ExitCode::FAILURE);
    }
    for tool in &approved {
        println!("approved {name} {tool}");
    }
    for tool in tools.iter().filter(|tool| !approved.contains(tool)) {
        eprintln!("warning: nothing was held for {name} {tool}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Columns padded to their widest cell, the last one not.
fn print_table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> =
        std::iter::once(header.iter().map(|h| (*h).to_owned()).collect()).chain(rows).collect();
    let widths: Vec<usize> =
        (0..header.len()).map(|i| rows.iter().map(|row| row[i].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let Some((last, first)) = row.split_last() else { continue };
        let padded: String = first.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}  ")).collect();
        println!("{padded}{last}");
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
