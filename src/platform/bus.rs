//! The in-process event bus: typed events that modules publish after their transaction commits
//! and other modules subscribe to, without knowing each other's internals. One broadcast channel
//! per event type; a slow subscriber that falls behind loses the oldest events and the loss is
//! logged and counted (`maestro_bus_lagged_total`), never blocks the publisher.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

const CHANNEL_CAPACITY: usize = 4096;

/// A typed event. `NAME` labels logs and metrics.
pub trait Event: Clone + Send + Sync + 'static {
    const NAME: &'static str;
}

#[derive(Clone, Default)]
pub struct Bus {
    channels: Arc<RwLock<HashMap<TypeId, Box<dyn Any + Send + Sync>>>>,
}

impl Bus {
    pub fn new() -> Bus {
        Bus::default()
    }

    fn sender<E: Event>(&self) -> broadcast::Sender<E> {
        if let Ok(map) = self.channels.read()
            && let Some(existing) = map.get(&TypeId::of::<E>())
            && let Some(sender) = existing.downcast_ref::<broadcast::Sender<E>>()
        {
            return sender.clone();
        }
        let mut map = self
            .channels
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(TypeId::of::<E>())
            .or_insert_with(|| Box::new(broadcast::channel::<E>(CHANNEL_CAPACITY).0))
            .downcast_ref::<broadcast::Sender<E>>()
            .cloned()
            .unwrap_or_else(|| broadcast::channel::<E>(CHANNEL_CAPACITY).0)
    }

    /// Publishes to current subscribers; returns how many received it.
    pub fn publish<E: Event>(&self, event: E) -> usize {
        metrics::counter!("maestro_bus_events_total", "event" => E::NAME).increment(1);
        self.sender::<E>().send(event).unwrap_or(0)
    }

    pub fn subscribe<E: Event>(&self) -> broadcast::Receiver<E> {
        self.sender::<E>().subscribe()
    }

    /// Subscribes now (so no event published after this call is missed) and returns the loop
    /// that feeds each event to `handler` until `cancel` fires. Handler errors are logged.
    pub fn handler_loop<E, F>(
        &self,
        name: &'static str,
        cancel: CancellationToken,
        handler: F,
    ) -> BoxFuture<'static, anyhow::Result<()>>
    where
        E: Event,
        F: Fn(E) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync + 'static,
    {
        let mut rx = self.subscribe::<E>();
        Box::pin(async move {
            loop {
                let event = tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    received = rx.recv() => received,
                };
                match event {
                    Ok(event) => {
                        if let Err(error) = handler(event).await {
                            tracing::warn!(handler = name, event = E::NAME, error = %format!("{error:#}"), "event handler failed");
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        metrics::counter!("maestro_bus_lagged_total", "event" => E::NAME)
                            .increment(missed);
                        tracing::warn!(
                            handler = name,
                            event = E::NAME,
                            missed,
                            "event handler fell behind; events dropped"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Ping(u32);
    impl Event for Ping {
        const NAME: &'static str = "test.ping";
    }

    #[derive(Clone, Debug)]
    struct Other;
    impl Event for Other {
        const NAME: &'static str = "test.other";
    }

    #[tokio::test]
    async fn subscribers_receive_only_their_event_type() {
        let bus = Bus::new();
        let mut pings = bus.subscribe::<Ping>();
        assert_eq!(bus.publish(Other), 0);
        assert_eq!(bus.publish(Ping(7)), 1);
        assert_eq!(pings.recv().await.unwrap(), Ping(7));
    }

    #[tokio::test]
    async fn handler_loops_run_until_cancelled() {
        let bus = Bus::new();
        let cancel = CancellationToken::new();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen_c = seen.clone();
        let task = tokio::spawn(
            bus.handler_loop::<Ping, _>("test", cancel.clone(), move |p| {
                let seen = seen_c.clone();
                Box::pin(async move {
                    seen.lock().unwrap().push(p.0);
                    Ok(())
                })
            }),
        );
        bus.publish(Ping(1));
        bus.publish(Ping(2));
        for _ in 0..50 {
            if seen.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        cancel.cancel();
        task.await.unwrap().unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    }
}
