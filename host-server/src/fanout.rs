//! Telling subscribers that the log has grown. Only the *head position* travels: subscribers
//! read the events themselves from the log, so a nudge that is lost, late or duplicated can delay
//! an event but never drop or repeat one.
//!
//! In-process, a `watch` channel; with REDIS_URL, every instance also publishes its commits'
//! head on a Redis channel and listens to the others'.

use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The log head, as far as this instance knows.
pub struct Fanout {
    head: watch::Sender<i64>,
    redis: Option<(redis::aio::ConnectionManager, String)>,
    closing: CancellationToken,
}

impl Fanout {
    /// In-process only.
    pub fn local(head: i64) -> Self {
        Self { head: watch::Sender::new(head), redis: None, closing: CancellationToken::new() }
    }

    /// In-process plus Redis pub/sub on `{prefix}events`.
    pub async fn with_redis(client: &redis::Client, prefix: &str, head: i64) -> anyhow::Result<Self> {
        let conn = redis::aio::ConnectionManager::new(client.clone()).await?;
        let channel = format!("{prefix}events");
        let this = Self {
            head: watch::Sender::new(head),
            redis: Some((conn, channel.clone())),
            closing: CancellationToken::new(),
        };
        let sender = this.head.clone();
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&client, &channel, &sender).await {
                    tracing::warn!(error = format!("{e:#}"), "Redis subscription lost; reconnecting");
                }
                if sender.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Ok(this)
    }

    /// Records that the log reached `position` here, and tells the other instances.
    pub async fn published(&self, position: i64) {
        self.raise(position);
        if let Some((conn, channel)) = &self.redis {
            let mut conn = conn.clone();
            if let Err(e) = conn.publish::<_, _, ()>(channel, position).await {
                tracing::warn!(error = %e, "could not publish to Redis; other instances catch up on their next poll");
            }
        }
    }

    fn raise(&self, position: i64) {
        self.head.send_if_modified(|h| {
            let grew = position > *h;
            *h = (*h).max(position);
            grew
        });
    }

    /// A receiver of the head.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Ends every live stream: the instance is shutting down. Subscribers reconnect elsewhere (or
    /// to the restarted instance) and resume from their `Last-Event-ID`, so nothing is lost; a
    /// graceful shutdown would otherwise wait for endless streams forever.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Cancelled when the instance shuts down.
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// Number of live subscribers.
    pub fn subscribers(&self) -> usize {
        self.head.receiver_count()
    }
}

async fn listen(client: &redis::Client, channel: &str, head: &watch::Sender<i64>) -> anyhow::Result<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        if let Ok(position) = message.get_payload::<i64>() {
            head.send_if_modified(|h| {
                let grew = position > *h;
                *h = (*h).max(position);
                grew
            });
        }
    }
    Ok(())
}
