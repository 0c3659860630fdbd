//! What the targets that need a running obsctl share: one runtime (observe mode: nothing
//! acts), over a SQLite store in a temp folder, with an open incident to aim controls at.

use std::sync::OnceLock;

use obsctl::runtime::Runtime;
use obsctl_config::{LoadOptions, load};
use obsctl_core::policy::Mode;

pub const TOKEN: &str = "fuzz-token-0123456789";

pub struct World {
    pub tokio: tokio::runtime::Runtime,
    pub rt: Runtime,
    /// An open incident for controls to aim at (`api_bodies`; `tool_args` has no use for it).
    #[allow(dead_code)]
    pub incident: String,
    _dir: tempfile::TempDir,
}

pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let text = format!(
            r#"version = 1
[store]
url = "sqlite://{d}/obsctl.db"
[memory]
index = "{d}/index"
[agent]
mode = "observe"
[fs]
allowed_roots = ["{d}/root"]
[[service]]
name = "api"
  [[service.check]]
  name = "health"
  kind = "tcp"
  address = "127.0.0.1:9"
  timeout = "100ms"
  fail_after = 1
"#
        );
        std::fs::create_dir_all(dir.path().join("root")).expect("root");
        let env = [("OBSCTL_API_TOKEN".to_string(), TOKEN.to_string())].into();
        let opts = LoadOptions { file: "fuzz.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS };
        let config = load(&text, &env, &opts).expect("the fuzz config loads");
        let (rt, incident) = tokio.block_on(async {
            let rt = Runtime::build(config, Mode::Observe).await.expect("runtime");
            rt.monitor.run_check("api/health").await.expect("check");
            rt.monitor.flush().await;
            let open = rt.store.list_incidents(&Default::default()).await.expect("incidents");
            let incident = open.first().map(|i| i.id.clone()).unwrap_or_default();
            (rt, incident)
        });
        World { tokio, rt, incident, _dir: dir }
    })
}
