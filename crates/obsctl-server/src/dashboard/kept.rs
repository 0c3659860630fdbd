//! A value made now and then and kept: a view gets the kept one at once, and one older than its
//! freshness is still served while the next is made in the background (one at a time). Only the
//! very first views wait for it to be made, once: they queue behind the one making it (a burst of
//! visitors to a status page just started costs one read of every check's sums, not one each).
//! The status page keeps its uptime sums and its page.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub struct Kept<T> {
    current: RwLock<Option<(Instant, Arc<T>)>>,
    making: AtomicBool,
    /// Held while the first value is made.
    first: tokio::sync::Mutex<()>,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept { current: RwLock::new(None), making: AtomicBool::new(false), first: tokio::sync::Mutex::new(()) }
    }
}

impl<T: Send + Sync + 'static> Kept<T> {
    /// The kept value, or the first one `make` makes; one older than `fresh_for` is returned
    /// while `make`'s next runs on its own task (its failure is logged, the old value stays).
    pub async fn get<E, Fut>(
        self: &Arc<Self>,
        fresh_for: Duration,
        what: &'static str,
        make: impl FnOnce() -> Fut,
    ) -> Result<Arc<T>, E>
    where
        E: std::fmt::Display + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let Some((at, value)) = self.current() else {
            let _first = self.first.lock().await;
            return match self.current() {
                // Made while this view queued.
                Some((_, value)) => Ok(value),
                None => Ok(self.keep(make().await?)),
            };
        };
        if at.elapsed() > fresh_for && !self.making.swap(true, Ordering::AcqRel) {
            let (me, next) = (self.clone(), make());
            tokio::spawn(async move {
                match next.await {
                    Ok(v) => {
                        me.keep(v);
                    }
                    Err(error) => tracing::warn!(%error, "could not make the {what}; showing the last one"),
                }
                me.making.store(false, Ordering::Release);
            });
        }
        Ok(value)
    }

    fn current(&self) -> Option<(Instant, Arc<T>)> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    fn keep(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        if let Ok(mut current) = self.current.write() {
            *current = Some((Instant::now(), value.clone()));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stale value is served at once while the next is made; the first view waits.
    #[tokio::test]
    async fn a_stale_value_is_served_while_the_next_is_made() {
        let kept: Arc<Kept<u32>> = Arc::default();
        let made = |n: u32| async move { Ok::<u32, String>(n) };
        assert_eq!(*kept.get(Duration::from_secs(60), "n", || made(1)).await.unwrap(), 1);
        assert_eq!(*kept.get(Duration::from_secs(60), "n", || made(2)).await.unwrap(), 1, "still fresh");
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let slow = || async move {
            let _ = wait.await;
            Ok::<u32, String>(3)
        };
        assert_eq!(*kept.get(Duration::ZERO, "n", slow).await.unwrap(), 1, "stale, served while the next is made");
        release.send(()).unwrap();
        let mut seen = 1;
        for _ in 0..200 {
            seen = *kept.get(Duration::from_secs(60), "n", || made(9)).await.unwrap();
            if seen == 3 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(seen, 3, "the next value replaced the stale one");
    }

    /// Many first views at once: the value is made once, and every view gets it.
    #[tokio::test]
    async fn first_views_at_once_make_the_value_once() {
        use std::sync::atomic::AtomicUsize;
        let kept: Arc<Kept<u32>> = Arc::default();
        let makes = Arc::new(AtomicUsize::new(0));
        let views = (0..10).map(|_| {
            let (kept, makes) = (kept.clone(), makes.clone());
            tokio::spawn(async move {
                let make = || async move {
                    makes.fetch_add(1, Ordering::SeqCst);
                    // Slow enough for the other views to arrive meanwhile.
                    for _ in 0..50 {
                        tokio::task::yield_now().await;
                    }
                    Ok::<u32, String>(7)
                };
                *kept.get(Duration::from_secs(60), "n", make).await.unwrap()
            })
        });
        for view in views.collect::<Vec<_>>() {
            assert_eq!(view.await.unwrap(), 7);
        }
        assert_eq!(makes.load(Ordering::SeqCst), 1, "made once");
    }
}
