//! The commented starter files `obsctl init` writes.

/// A starter `obsctl.toml`: valid as written, every section explained.
pub const STARTER_TOML: &str = r#"# obsctl configuration. Validate with `obsctl config check`.
# Values may use ${VAR} or ${VAR:-default}; variables come from the environment and .env.
version = 1

[server]
listen = "127.0.0.1:5555"                 # JSON API and dashboard
token = "${OBSCTL_API_TOKEN:-}"            # bearer token (at least 16 characters); once set, every API call needs it

[mcp]
listen = "127.0.0.1:8433"                 # MCP gateway for other agents (/mcp); "off" switches it off
token = "${OBSCTL_MCP_TOKEN:-}"            # the gateway opens only with a token (this, or the API token)

[store]
url = "sqlite://data/obsctl.db"           # relative to this file

[memory]
index = "data/memory-index"               # recall index (derived; rebuilt from the store when needed)
# instance = "edge-paris"                 # this instance's name on what it learns (default: host name)

# Share memory with a central obsctl (also: MEMORY_SYNC_ENABLED, MEMORY_SYNC_URL, MEMORY_SYNC_TOKEN)
# [memory.sync]
# url = "https://central:5555"            # http:// only to loopback, or with allow_http = true
# token = "${MEMORY_SYNC_TOKEN}"          # this edge's [[memory.peer]] token on the central
# interval = "60s"

[agent]
mode = "approve"                          # observe | dry-run | approve | auto
max_mode = "auto"                         # no runbook may go above this
max_actions_per_hour = 20                 # global budget
max_actions_per_service_per_hour = 5
breaker_failures = 3                      # failed fixes in a row that stop the agent for an incident
# allow_tools = ["fs.cleanup", "process.restart", "notify.ntfy"]   # default: every tool

[agent.memory]
min_success = 0.8                         # a fix that worked this often in similar incidents...
min_attempts = 2                          # ...over at least this many tries is proposed again
shared_evidence = 0.5                     # an attempt learned on another instance counts this much (0: own only)

[agent.verify]
attempts = 6                              # re-runs of the check after a fix
backoff = "1s"                            # doubles each time, up to max_backoff
max_backoff = "10s"

[scheduler]
max_concurrency = 512                     # checks running at once
history_per_check = 1000                  # results kept per check

[fs]
allowed_roots = ["/tmp/obsctl-demo"]      # fs.cleanup never acts outside these

[commands]
allow = []                                # exact argv arrays (or lines of plain words) for `command`
                                          # checks and command.run, e.g. [["systemctl", "restart", "nginx"]]
                                          # (command.run also needs ENABLE_UNIX_TOOLS=true)
# env = { PATH = "/usr/bin:/bin" }        # the only environment commands get (default: a system PATH)

# [notify.ntfy]
# url = "https://ntfy.sh"
# topic = "my-obsctl-alerts"
# [notify.webhook]
# url = "https://hooks.example.com/obsctl"

[[service]]
name = "web"
labels = { team = "platform" }
# depends_on = ["db"]
# process = { run = ["./web", "--port", "8080"] }          # obsctl starts and supervises it
# restart_command = ["systemctl", "restart", "web"]        # or restarts it this way

  [[service.check]]
  name = "health"
  kind = "http"
  url = "http://127.0.0.1:8080/health"
  interval = "10s"
  timeout = "2s"
  expect = { status = 200, latency_under = "500ms" }
  # connection = "reuse"     # keep connections alive between runs (default "fresh": DNS, connect and TLS each run)
  fail_after = 3
  recover_after = 2

  [[service.check]]
  name = "scratch"
  kind = "disk"
  path = "/tmp/obsctl-demo"
  max_size = "100MB"
  interval = "30s"

# Containers (the engine at DOCKER_HOST, default unix:///var/run/docker.sock):
# [[service]]
# name = "shop"
#   [[service.check]]
#   name = "web"
#   kind = "docker"
#   container = "shop-web"          # or label = "team=shop", or compose_project = "shop"
#   max_restarts = 3                # crashes within restart_window before container-restarting
#   [[service.check]]
#   name = "db-reachable"
#   kind = "docker_run"             # runs in a throwaway container, removed afterwards
#   image = "postgres:16"
#   run = ["pg_isready", "-h", "db.internal"]
#   network = "bridge"
# [[runbook]]
# name = "restart web when it is down or unhealthy"
# when = { incident = "container-down", service = "shop" }    # also container-unhealthy
# steps = [{ tool = "docker.restart", args = { container = "shop-web" } }]
# mode = "auto"
# [[runbook]]
# name = "a crash loop goes to a person"
# when = { incident = "container-restarting", service = "shop" }
# steps = [{ tool = "notify.ntfy", args = { title = "shop-web crash loop", message = "see docker.logs" } }]
# [[runbook]]
# name = "free the docker disk"      # with a disk check on /var/lib/docker
# when = { incident = "disk-full", service = "shop" }
# steps = [{ tool = "docker.prune", args = { containers = true, images = true, build_cache = true } }]
# mode = "approve"

[[runbook]]
name = "clean scratch space"
when = { incident = "disk-full", service = "web" }
steps = [{ tool = "fs.cleanup", args = { root = "/tmp/obsctl-demo", glob = "**/*.tmp", older_than = "1h" } }]
mode = "auto"
cooldown = "5m"
"#;

/// A starter `.env.example` with the variables obsctl reads.
pub const ENV_EXAMPLE: &str = r#"# Copy to .env and fill in. Process environment variables win over this file.
OBSCTL_API_TOKEN=change-me              # bearer token for mutating API calls
# OBSCTL_CONFIG=obsctl.toml             # config file (default: ./obsctl.toml)
# OBSCTL_SERVER_LISTEN=127.0.0.1:5555
# OBSCTL_STORE_URL=sqlite://data/obsctl.db
# OBSCTL_AGENT_MODE=approve             # observe | dry-run | approve | auto
# ENABLE_UNIX_TOOLS=false               # true enables the allow-listed command.run tool
# DOCKER_HOST=unix:///var/run/docker.sock   # the container engine (tcp://host:2376 with DOCKER_TLS_VERIFY=1
# DOCKER_TLS_VERIFY=1                   # and DOCKER_CERT_PATH holding ca.pem, cert.pem, key.pem)
# DOCKER_CERT_PATH=/etc/obsctl/docker-certs
"#;
