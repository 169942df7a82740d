//! The `maestro` command: `serve` (default), `migrate`, `seed`, `config`, `user …`, `token`,
//! `healthcheck`, `openapi`, and the client commands `project update` / `project status`. Errors print one line that says what to fix.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use maestro::config::{LoadOptions, Settings};
use maestro::platform::Platform;
use maestro::platform::auth::Role;
use maestro::server::Application;

/// mimalloc: per-thread free lists, so the per-request allocations of the read path cost less
/// than with glibc malloc (measured in docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "maestro", version, about = "Maestro platform server", long_about = None)]
struct Cli {
    /// Directory holding default.toml and <MAESTRO_ENV>.toml.
    #[arg(
        long,
        global = true,
        default_value = "config",
        env = "MAESTRO_CONFIG_DIR"
    )]
    config_dir: PathBuf,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Print an access token for a user (for scripts).
    Token {
        #[arg(long)]
        email: String,
    },
    /// Exit 0 if the local server answers /healthz (used by the container HEALTHCHECK).
    Healthcheck {
        /// Defaults to http://127.0.0.1:<server.port>/healthz.
        #[arg(long)]
        url: Option<String>,
    },
    /// Print the OpenAPI document for the current configuration.
    Openapi,
    /// Kubernetes environments (the k8s module) without a server.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Test healing (the healing module) without a server.
    #[command(subcommand)]
    Healing(HealingCommand),
    /// Import the starter catalog (templates.storage_path) into tenant `default`; re-running
    /// changes nothing.
    Seed {
        /// Catalog folder (default: templates.storage_path).
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Sign in to a Maestro server for the client commands (`maestro project …`): the sign-in
    /// is kept in ~/.config/maestro/credentials.json (or $MAESTRO_CREDENTIALS), mode 0600.
    Login {
        #[arg(long, env = "MAESTRO_SERVER")]
        server: String,
        #[arg(long)]
        email: String,
    },
    /// Keep a generated project current with its template (talks to a Maestro server; token
    /// from MAESTRO_TOKEN or `maestro login`).
    #[command(subcommand)]
    Project(ProjectCommand),
    // Issue 14: imports from git.
    /// Templates on a running server (token from MAESTRO_TOKEN).
    #[command(subcommand)]
    Template(TemplateCommand),
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Update the project in DIR to a newer template version: packs the working tree
    /// (respecting .gitignore), asks the server for a three-way update, applies the patch
    /// (conflict markers where both sides changed the same lines, .rej files where a hunk
    /// cannot be placed) and rewrites the answers file. Exits 1 when conflicts are left.
    Update {
        /// The project folder (default: the current folder).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Maestro's URL (default: the one in the answers file).
        #[arg(long, env = "MAESTRO_SERVER")]
        server: Option<String>,
        /// Target commit (default: the template's current version).
        #[arg(long)]
        to: Option<String>,
        /// A new or changed answer, `name=value` (JSON values like 8080 or true are typed).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Print the plan only; change nothing and record nothing.
        #[arg(long)]
        dry_run: bool,
        /// Update even if tracked files have uncommitted changes.
        #[arg(long)]
        allow_dirty: bool,
    },
    /// Which template version the project in DIR is on and how far behind it is.
    Status {
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[arg(long, env = "MAESTRO_SERVER")]
        server: Option<String>,
    },
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Import the template(s) of a git repository (POST /api/v1/templates/import) and print
    /// what was created, updated or unchanged.
    Import {
        /// The repository (https://…, ssh://…, git@host:path, or an allow-listed file:///…).
        url: String,
        /// A tag, branch or commit (default: the repository's default branch).
        #[arg(long = "ref")]
        git_ref: Option<String>,
        /// The folder in the repository holding the template(s).
        #[arg(long)]
        path: Option<String>,
        /// Category of templates without manifest.yaml.
        #[arg(long)]
        category: Option<String>,
        /// Registry name (one template only).
        #[arg(long)]
        name: Option<String>,
        /// The Maestro server, e.g. https://maestro.example.com.
        #[arg(long, env = "MAESTRO_SERVER")]
        server: String,
        /// An editor's access token.
        #[arg(long, env = "MAESTRO_TOKEN", hide_env_values = true)]
        token: String,
    },
}

#[derive(Subcommand)]
enum EnvCommand {
    /// Print the manifests an environment request (JSON or YAML file, `-` for stdin) would
    /// apply, as YAML; no cluster or database is needed.
    Render {
        file: PathBuf,
        /// The tenant the manifests are labelled with.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The owner the manifests are labelled with.
        #[arg(long, default_value = "cli")]
        owner: String,
    },
}

#[derive(Subcommand)]
enum HealingCommand {
    /// Replay a corpus of failures with stated expected outcomes (folders holding a
    /// `case.json`) through the healing strategies, with the default tunables, and print per
    /// strategy: coverage, correct heals, abstentions, false heals. Exits 1 when a planted
    /// regression ("must_not_heal") was healed; no configuration or database is needed.
    Eval { dir: PathBuf },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (and the tenant, if it does not exist).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, env = "MAESTRO_USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List users, optionally of one tenant.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Change a user's role.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("`{raw}` is not a role; use admin, editor or viewer"))
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("maestro: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = err.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's message paragraph (minus "error: " and the usage block).
            let rendered = err.render().to_string();
            let message = rendered
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            let message = message.trim_start_matches("error: ");
            return fail(format!("{message} (see `maestro --help`)"));
        }
    };
    if let Some(Command::Healing(HealingCommand::Eval { dir })) = &cli.command {
        return healing_eval(dir);
    }
    if let Some(Command::Project(command)) = cli.command {
        return project(command);
    }
    if let Some(Command::Login { server, email }) = &cli.command {
        return login(server, email);
    }
    let settings = match Settings::load(&LoadOptions {
        config_dir: cli.config_dir.clone(),
        ..LoadOptions::default()
    }) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Reserved, not used: rendering has the stack it needs without a mapping per call.
        .thread_stack_size(maestro::render::THREAD_STACK)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings)) {
        Ok(code) => code,
        Err(e) => fail(format!("{e:#}")),
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    let deprecations = settings.deprecations();
    if !matches!(command, Command::Serve) {
        for warning in &deprecations {
            eprintln!("warning: {warning}");
        }
    }
    match command {
        Command::Serve => {
            let _telemetry = maestro::platform::telemetry::init(&settings)?;
            for warning in &deprecations {
                tracing::warn!(deprecated = true, "{warning}");
            }
            let started = std::time::Instant::now();
            let app = Application::build(settings).await?;
            tracing::info!(
                port = app.port(),
                ready_in_ms = started.elapsed().as_millis() as u64,
                backend = app.platform().db.backend().as_str(),
                modules = ?app.modules().0.iter().map(|m| m.name()).collect::<Vec<_>>(),
                "maestro is serving"
            );
            let handle = app.shutdown_handle();
            tokio::spawn(async move {
                maestro::server::shutdown_signal().await;
                handle.shutdown().await;
            });
            app.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let platform = Platform::new(settings)?;
            let applied = platform.migrate(Duration::from_secs(10)).await?;
            if applied.is_empty() {
                println!("The schema is up to date.");
            } else {
                for name in applied {
                    println!("applied {name}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config => {
            let redacted = settings.redacted();
            println!("# environment: {}", settings.environment.as_str());
            println!("{}", toml_like(&serde_json::to_value(&redacted)?));
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => {
            let platform = ready_platform(settings).await?;
            match cmd {
                UserCommand::Create {
                    tenant,
                    email,
                    password,
                    role,
                } => {
                    let user = platform
                        .auth
                        .create_user_in_tenant_named(&tenant, &email, &password, role)
                        .await
                        .map_err(api_error)?;
                    println!(
                        "created {} ({}) in tenant {tenant}: id {}",
                        user.email, user.role, user.id
                    );
                }
                UserCommand::List { tenant } => {
                    let users = platform
                        .auth
                        .list_all_users(tenant)
                        .await
                        .map_err(api_error)?;
                    println!("{:<20} {:<36} {:<8} EMAIL", "TENANT", "ID", "ROLE");
                    for (tenant, user) in users {
                        println!(
                            "{:<20} {:<36} {:<8} {}",
                            tenant, user.id, user.role, user.email
                        );
                    }
                }
                UserCommand::SetRole { email, role } => {
                    let user = platform
                        .auth
                        .set_role_by_email(&email, role)
                        .await
                        .map_err(api_error)?;
                    println!("{} is now {}", user.email, user.role);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { email } => {
            let platform = ready_platform(settings).await?;
            println!(
                "{}",
                platform
                    .auth
                    .token_for_email(&email)
                    .await
                    .map_err(api_error)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Template(TemplateCommand::Import {
            url,
            git_ref,
            path,
            category,
            name,
            server,
            token,
        }) => {
            let body = serde_json::json!({
                "url": url, "ref": git_ref, "path": path, "category": category, "name": name,
            });
            template_import(&server, &token, body).await
        }
        Command::Healthcheck { url } => {
            let url =
                url.unwrap_or_else(|| format!("http://127.0.0.1:{}/healthz", settings.server.port));
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()?;
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
                Ok(r) => {
                    eprintln!("maestro: {url} answered {}", r.status());
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => {
                    eprintln!("maestro: {url} unreachable: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Seed { path } => {
            let platform = ready_platform(settings).await?;
            let modules = maestro::modules::build(&platform).await?;
            let Some(service) = platform
                .services
                .get::<maestro::modules::templates::TemplatesService>()
            else {
                anyhow::bail!("the templates module is disabled (modules.templates = false)");
            };
            let storage = path.unwrap_or_else(|| platform.settings.templates.storage_path.clone());
            let report = maestro::modules::templates::seed::run(&service, &storage).await?;
            drop(modules);
            println!(
                "tenant default ({}): {} created, {} updated, {} unchanged, {} skipped",
                report.tenant_id,
                report.created.len(),
                report.updated.len(),
                report.unchanged.len(),
                report.skipped.len()
            );
            for name in &report.created {
                println!("created   {name}");
            }
            for name in &report.updated {
                println!("updated   {name}");
            }
            for why in &report.skipped {
                println!("skipped   {why}");
            }
            Ok(if report.skipped.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Env(EnvCommand::Render {
            file,
            tenant,
            owner,
        }) => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
            };
            // YAML is a superset of JSON: one parser reads both.
            let request: maestro::modules::k8s::model::EnvironmentRequest =
                yaml_serde::from_str(&text).map_err(|e| {
                    anyhow::anyhow!("{} is not an environment request: {e}", file.display())
                })?;
            let yaml = maestro::modules::k8s::render(&settings.k8s, &tenant, &owner, &request)
                .map_err(api_error)?;
            print!("{yaml}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Healing(HealingCommand::Eval { dir }) => Ok(healing_eval(&dir)),
        Command::Project(_) | Command::Login { .. } => {
            anyhow::bail!("client commands run before the configuration is read")
        }
        Command::Openapi => {
            let platform = Platform::new(settings)?;
            let modules = maestro::platform::health::Modules(std::sync::Arc::new(
                maestro::modules::build(&platform).await?,
            ));
            let doc = maestro::server::openapi_document(&platform, &modules);
            println!("{}", doc.to_pretty_json()?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `maestro healing eval <dir>`: pure, so it runs before (and without) the configuration.
/// `maestro login`: the password from `MAESTRO_PASSWORD` or the first line of standard input.
fn login(server: &str, email: &str) -> ExitCode {
    let password = match std::env::var("MAESTRO_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        Some(p) => p,
        None => {
            eprint!("password for {email}: ");
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_err() {
                return fail("cannot read the password from standard input");
            }
            line.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(maestro::cli::login::login(server, email, &password)) {
        Ok(path) => {
            println!(
                "signed in to {server} as {email}; kept in {}",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{e:#}")),
    }
}

/// `maestro project …`: a client of a Maestro server; no configuration or database needed.
fn project(command: ProjectCommand) -> ExitCode {
    use maestro::cli::project;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let token = std::env::var("MAESTRO_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let outcome = runtime.block_on(async {
        match command {
            ProjectCommand::Update {
                dir,
                server,
                to,
                set,
                dry_run,
                allow_dirty,
            } => {
                project::update(project::UpdateOptions {
                    dir,
                    server,
                    token,
                    to,
                    set,
                    dry_run,
                    allow_dirty,
                })
                .await
            }
            ProjectCommand::Status { dir, server } => {
                project::status(&dir, server.as_deref(), token.as_deref()).await
            }
        }
    });
    match outcome {
        Ok(code) => code,
        Err(e) => fail(format!("{e:#}")),
    }
}

fn healing_eval(dir: &std::path::Path) -> ExitCode {
    use maestro::modules::healing::{eval, strategies::Tuning};
    match eval::run(dir, &Tuning::default()) {
        Ok(report) => {
            print!("{}", report.render());
            let healed = report.regressions_healed();
            if healed > 0 {
                eprintln!("maestro: {healed} planted regression(s) were healed");
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(e),
    }
}

/// A platform with the schema applied (CLI commands that touch users).
async fn ready_platform(settings: Settings) -> anyhow::Result<Platform> {
    let platform = Platform::new(settings)?;
    platform.migrate(Duration::from_secs(10)).await?;
    Ok(platform)
}

fn api_error(e: maestro::platform::http::error::ApiError) -> anyhow::Error {
    let mut message = e.detail.clone();
    for field in &e.errors {
        message.push_str(&format!(" {}: {}.", field.field, field.message));
    }
    anyhow::anyhow!(message)
}

/// Renders the configuration as TOML-ish `section.key = value` lines (stable and greppable).
fn toml_like(value: &serde_json::Value) -> String {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => out.push(format!("{prefix} = {other}")),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out.join("\n")
}

/// `maestro template import`: one request, the outcome per template on stdout; a refusal's
/// problem detail (and each field error) on stderr with exit code 1.
async fn template_import(
    server: &str,
    token: &str,
    body: serde_json::Value,
) -> anyhow::Result<ExitCode> {
    let endpoint = format!("{}/api/v1/templates/import", server.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let response = client
        .post(&endpoint)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{endpoint} unreachable: {e}"))?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let detail = answer["detail"].as_str().unwrap_or("no detail");
        eprintln!("maestro: import refused ({status}): {detail}");
        for e in answer["errors"].as_array().into_iter().flatten() {
            eprintln!(
                "  {}: {}",
                e["field"].as_str().unwrap_or("-"),
                e["message"].as_str().unwrap_or("-")
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{} at {}",
        answer["url"].as_str().unwrap_or("-"),
        answer["commit"].as_str().unwrap_or("-")
    );
    for t in answer["templates"].as_array().into_iter().flatten() {
        println!(
            "{:<10} {} {} (id {}, folder `{}`)",
            t["status"].as_str().unwrap_or("-"),
            t["name"].as_str().unwrap_or("-"),
            t["version"].as_str().unwrap_or("-"),
            t["id"].as_str().unwrap_or("-"),
            t["source"]["path"].as_str().unwrap_or("")
        );
    }
    for s in answer["skipped"].as_array().into_iter().flatten() {
        println!("skipped    {}", s.as_str().unwrap_or("-"));
    }
    Ok(ExitCode::SUCCESS)
}
