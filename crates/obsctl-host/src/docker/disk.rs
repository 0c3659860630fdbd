//! The engine's disk: what it uses (`docker system df`), what a prune would free, and the
//! prune itself, each category only when asked (volumes never by default).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::query_parameters::{
    DataUsageOptions, ListContainersOptions, ListImagesOptions, ListVolumesOptions, PruneBuildOptions,
    PruneContainersOptions, PruneImagesOptions, PruneVolumesOptions,
};
use serde::Serialize;

use super::{Engine, EngineError};

/// `docker system df` can take a while on a big engine; so can a prune.
const DISK_TIMEOUT: Duration = Duration::from_secs(60);
const PRUNE_TIMEOUT: Duration = Duration::from_secs(300);

/// Bytes used and reclaimable per category.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Usage {
    pub count: usize,
    pub bytes: u64,
    pub reclaimable_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DiskUsage {
    pub images: Usage,
    pub containers: Usage,
    pub volumes: Usage,
    pub build_cache: Usage,
}

impl DiskUsage {
    pub fn total_bytes(&self) -> u64 {
        self.images.bytes + self.containers.bytes + self.volumes.bytes + self.build_cache.bytes
    }
}

/// What to prune: stopped containers, dangling images and unused build cache by default;
/// unused volumes only when asked by name. With a label, only what carries it (and no build
/// cache, which has no labels).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PruneScope {
    pub containers: bool,
    pub images: bool,
    pub build_cache: bool,
    pub volumes: bool,
    /// `key` or `key=value`.
    pub label: Option<String>,
}

impl Default for PruneScope {
    fn default() -> Self {
        Self { containers: true, images: true, build_cache: true, volumes: false, label: None }
    }
}

impl PruneScope {
    /// Whether something with `labels` is in scope.
    fn admits(&self, labels: Option<&HashMap<String, String>>) -> bool {
        self.label
            .as_deref()
            .is_none_or(|l| super::label_selected(l, |k| labels.and_then(|m| m.get(k)).map(String::as_str)))
    }

    /// The engine's prune filters: the label, plus `extra`.
    fn filters(&self, extra: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut f: HashMap<String, Vec<String>> =
            extra.iter().map(|(k, v)| (k.to_string(), vec![v.to_string()])).collect();
        if let Some(label) = &self.label {
            f.insert("label".into(), vec![label.clone()]);
        }
        f
    }
}

/// One thing a prune removes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PruneItem {
    /// `container`, `image`, `build_cache` or `volume`.
    pub kind: &'static str,
    pub id: String,
    /// A name or tag people know it by.
    pub name: String,
    pub bytes: u64,
}

/// What a prune of `scope` would remove now, and the bytes it would free.
#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    pub scope: PruneScope,
    pub items: Vec<PruneItem>,
    pub bytes: u64,
}

/// What a prune removed: the items of the plan made just before that the engine says it
/// deleted (so `bytes` counts each layer once, as the plan does), and the engine's own counts,
/// which for images include layers other images still use.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PruneReport {
    pub removed: Vec<PruneItem>,
    pub bytes: u64,
    /// Deleted items the plan did not know (made after it): listed, not counted in `bytes`.
    pub unplanned: Vec<String>,
    pub engine_reported: EngineReported,
}

/// The engine's `SpaceReclaimed` per category.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EngineReported {
    pub containers: u64,
    pub images: u64,
    pub build_cache: u64,
    pub volumes: u64,
}

fn bytes(v: Option<i64>) -> u64 {
    v.unwrap_or_default().max(0) as u64
}

/// What the list calls say, from which usage and plans are computed.
struct Inventory {
    containers: Vec<bollard::models::ContainerSummary>,
    images: Vec<bollard::models::ImageSummary>,
    volumes: Vec<bollard::models::Volume>,
    /// Build cache and volume totals: only engines of API 1.52 and later report them this way.
    df: bollard::models::SystemDataUsageResponse,
}

impl Engine {
    async fn inventory(&self) -> Result<Inventory, EngineError> {
        let options = ListContainersOptions { all: true, size: true, ..Default::default() };
        let containers = self.call(DISK_TIMEOUT, |d| async move { d.list_containers(Some(options)).await }).await?;
        let options = ListImagesOptions { all: false, shared_size: true, ..Default::default() };
        let images = self.call(DISK_TIMEOUT, |d| async move { d.list_images(Some(options)).await }).await?;
        let volumes = self
            .call(DISK_TIMEOUT, |d| async move { d.list_volumes(None::<ListVolumesOptions>).await })
            .await?
            .volumes
            .unwrap_or_default();
        let df = self.call(DISK_TIMEOUT, |d| async move { d.df(None::<DataUsageOptions>).await }).await?;
        Ok(Inventory { containers, images, volumes, df })
    }

    /// What the engine's images, containers, volumes and build cache take on disk.
    pub async fn disk_usage(&self) -> Result<DiskUsage, EngineError> {
        let inv = self.inventory().await?;
        let plan = plan(&inv, &PruneScope { volumes: true, ..Default::default() });
        let reclaim = |kind: &str| plan.items.iter().filter(|i| i.kind == kind).map(|i| i.bytes).sum::<u64>();
        let volume_bytes = inv.df.volume_usage.as_ref().map(|u| bytes(u.total_size)).unwrap_or_default();
        let cache = inv.df.build_cache_usage.as_ref();
        Ok(DiskUsage {
            images: Usage {
                count: inv.images.len(),
                bytes: inv.images.iter().map(|i| unshared(i) + i.shared_size.max(0) as u64).sum(),
                reclaimable_bytes: reclaim("image"),
            },
            containers: Usage {
                count: inv.containers.len(),
                bytes: inv.containers.iter().map(|c| bytes(c.size_rw)).sum(),
                reclaimable_bytes: reclaim("container"),
            },
            volumes: Usage { count: inv.volumes.len(), bytes: volume_bytes, reclaimable_bytes: reclaim("volume") },
            build_cache: Usage {
                count: cache.map(|c| c.total_count.unwrap_or_default().max(0) as usize).unwrap_or_default(),
                bytes: cache.map(|c| bytes(c.total_size)).unwrap_or_default(),
                reclaimable_bytes: cache.map(|c| bytes(c.reclaimable)).unwrap_or_default(),
            },
        })
    }

    /// `disk_usage`, reused while younger than `max_age`: sizing every container's layer is
    /// work for the engine, and a page that shows it should not ask on every view.
    pub async fn disk_usage_within(&self, max_age: std::time::Duration) -> Result<DiskUsage, EngineError> {
        let cached = self.disk.lock().ok().and_then(|d| d.clone()).filter(|(at, _)| at.elapsed() <= max_age);
        if let Some((_, usage)) = cached {
            return Ok(usage);
        }
        let usage = self.disk_usage().await?;
        if let Ok(mut d) = self.disk.lock() {
            *d = Some((std::time::Instant::now(), usage.clone()));
        }
        Ok(usage)
    }

    /// What `prune(scope)` would remove now; changes nothing.
    pub async fn prune_plan(&self, scope: PruneScope) -> Result<PrunePlan, EngineError> {
        Ok(plan(&self.inventory().await?, &scope))
    }

    /// Removes what `scope` names, in the order that frees most: containers first, so the
    /// dangling images only they used go too.
    pub async fn prune(&self, scope: PruneScope) -> Result<PruneReport, EngineError> {
        let plan = plan(&self.inventory().await?, &scope);
        let mut deleted: Vec<(&'static str, String)> = Vec::new();
        let mut engine = EngineReported::default();
        if scope.containers {
            let options = PruneContainersOptions { filters: Some(scope.filters(&[])) };
            let r = self.call(PRUNE_TIMEOUT, |d| async move { d.prune_containers(Some(options)).await }).await?;
            deleted.extend(r.containers_deleted.unwrap_or_default().into_iter().map(|id| ("container", id)));
            engine.containers = bytes(r.space_reclaimed);
        }
        if scope.images {
            let options = PruneImagesOptions { filters: Some(scope.filters(&[("dangling", "true")])) };
            let r = self.call(PRUNE_TIMEOUT, |d| async move { d.prune_images(Some(options)).await }).await?;
            // The answer lists the image and each of its layers; the image id is what the plan has.
            let images = r.images_deleted.unwrap_or_default().into_iter().filter_map(|i| i.deleted);
            deleted.extend(
                images.filter(|id| plan.items.iter().any(|p| p.kind == "image" && &p.id == id)).map(|id| ("image", id)),
            );
            engine.images = bytes(r.space_reclaimed);
        }
        if scope.build_cache && scope.label.is_none() {
            match self.call(PRUNE_TIMEOUT, |d| async move { d.prune_build(None::<PruneBuildOptions>).await }).await {
                Ok(r) => {
                    if r.caches_deleted.is_some_and(|c| !c.is_empty()) {
                        deleted.push(("build_cache", String::new()));
                    }
                    engine.build_cache = bytes(r.space_reclaimed);
                }
                // Podman and engines without BuildKit have no build cache to prune.
                Err(EngineError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if scope.volumes {
            let options = PruneVolumesOptions { filters: Some(scope.filters(&[])) };
            let r = self.call(PRUNE_TIMEOUT, |d| async move { d.prune_volumes(Some(options)).await }).await?;
            deleted.extend(r.volumes_deleted.unwrap_or_default().into_iter().map(|name| ("volume", name)));
            engine.volumes = bytes(r.space_reclaimed);
        }
        self.invalidate();
        if let Ok(mut d) = self.disk.lock() {
            *d = None;
        }
        let mut report = PruneReport { engine_reported: engine, ..Default::default() };
        for (kind, id) in deleted {
            match plan.items.iter().find(|p| p.kind == kind && p.id == id) {
                Some(item) => {
                    report.bytes += item.bytes;
                    report.removed.push(item.clone());
                }
                None => report.unplanned.push(format!("{kind} {id}")),
            }
        }
        Ok(report)
    }
}

/// What an image alone takes: its size less the layers it shares with other images.
fn unshared(image: &bollard::models::ImageSummary) -> u64 {
    (image.size - image.shared_size.max(0)).max(0) as u64
}

/// The prune plan the inventory implies: stopped containers (their writable layer), untagged
/// images that no remaining container uses (their unshared size), unused build cache, and
/// volumes no container mounts.
fn plan(inv: &Inventory, scope: &PruneScope) -> PrunePlan {
    use bollard::models::ContainerSummaryStateEnum as State;
    let mut items = Vec::new();
    let stopped = |c: &&bollard::models::ContainerSummary| {
        matches!(c.state, Some(State::EXITED | State::CREATED | State::DEAD)) && scope.admits(c.labels.as_ref())
    };
    if scope.containers {
        items.extend(inv.containers.iter().filter(stopped).map(|c| {
            PruneItem {
                kind: "container",
                id: c.id.clone().unwrap_or_default(),
                name: c
                    .names
                    .as_ref()
                    .and_then(|n| n.first())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                bytes: bytes(c.size_rw),
            }
        }));
    }
    let remaining = || inv.containers.iter().filter(move |c| !scope.containers || !stopped(c));
    if scope.images {
        let used: HashSet<&str> = remaining().filter_map(|c| c.image_id.as_deref()).collect();
        for image in &inv.images {
            let untagged = image.repo_tags.iter().all(|t| t == "<none>:<none>");
            if untagged && !used.contains(image.id.as_str()) && scope.admits(Some(&image.labels)) {
                items.push(PruneItem {
                    kind: "image",
                    id: image.id.clone(),
                    name: "<none>".into(),
                    bytes: unshared(image),
                });
            }
        }
    }
    if scope.build_cache
        && scope.label.is_none()
        && let Some(cache) = &inv.df.build_cache_usage
        && bytes(cache.reclaimable) > 0
    {
        let name = format!(
            "{} unused build cache records",
            cache.total_count.unwrap_or_default() - cache.active_count.unwrap_or_default()
        );
        items.push(PruneItem { kind: "build_cache", id: String::new(), name, bytes: bytes(cache.reclaimable) });
    }
    if scope.volumes {
        let mounted: HashSet<&str> =
            remaining().flat_map(|c| c.mounts.iter().flatten()).filter_map(|m| m.name.as_deref()).collect();
        for v in &inv.volumes {
            if !mounted.contains(v.name.as_str()) && scope.admits(Some(&v.labels)) {
                let size = bytes(v.usage_data.as_ref().map(|u| u.size));
                items.push(PruneItem { kind: "volume", id: v.name.clone(), name: v.name.clone(), bytes: size });
            }
        }
    }
    let bytes = items.iter().map(|i| i.bytes).sum();
    PrunePlan { scope: scope.clone(), items, bytes }
}
