//! Telling subscribers that the log has grown. Only *positions* travel: subscribers read the
//! events themselves from the log, so a nudge that is lost, late or duplicated can delay an event
//! but never drop or repeat one.
//!
//! Two positions: the log's head (live event streams follow it) and the last commit that changed
//! what is active — a rule set published, a rule module uploaded or activated (the rule-set
//! follower of every instance reads the log only then, not after every ticket).
//!
//! In-process, `watch` channels; with REDIS_URL, every instance also publishes its commits'
//! positions on Redis channels and listens to the others'. Publishing is a background task that
//! sends the newest positions with one `PUBLISH` in flight at a time: commits that land while one
//! is in flight share the next, and no response waits for Redis to hear about its commit.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The positions this instance last told the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Heads {
    log: i64,
    rules: i64,
}

/// The Redis channels: `{prefix}events` carries the log's head, `{prefix}rules` the position of
/// a commit that changed rule sets or modules.
#[derive(Clone)]
struct Channels {
    events: String,
    rules: String,
}

/// The log head, as far as this instance knows.
pub struct Fanout {
    head: watch::Sender<i64>,
    rules: watch::Sender<i64>,
    /// What the publisher task is to tell the other instances (with REDIS_URL).
    outbox: Option<watch::Sender<Heads>>,
    closing: CancellationToken,
}

impl Fanout {
    /// In-process only.
    pub fn local(head: i64) -> Self {
        Self {
            head: watch::Sender::new(head),
            rules: watch::Sender::new(head),
            outbox: None,
            closing: CancellationToken::new(),
        }
    }

    /// In-process plus Redis pub/sub on `{prefix}events` and `{prefix}rules`.
    pub async fn with_redis(client: &redis::Client, prefix: &str, head: i64) -> anyhow::Result<Self> {
        let conn = redis::aio::ConnectionManager::new(client.clone()).await?;
        let channels = Channels { events: format!("{prefix}events"), rules: format!("{prefix}rules") };
        let start = Heads { log: head, rules: head };
        let (outbox, pending) = watch::channel(start);
        let mut this = Self::local(head);
        this.outbox = Some(outbox);
        tokio::spawn(publish(conn, channels.clone(), pending, start));
        let (log, rules) = (this.head.clone(), this.rules.clone());
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&client, &channels, &log, &rules).await {
                    tracing::warn!(error = format!("{e:#}"), "Redis subscription lost; reconnecting");
                }
                if log.is_closed() && rules.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Ok(this)
    }

    /// Records that the log reached `position` here (`rules_changed`: with a commit that
    /// published a rule set or uploaded or activated a module), and has the other instances
    /// told. Returns at once: the telling is the publisher task's.
    pub fn published(&self, position: i64, rules_changed: bool) {
        raise(&self.head, position);
        if rules_changed {
            raise(&self.rules, position);
        }
        if let Some(outbox) = &self.outbox {
            outbox.send_if_modified(|heads| {
                let before = *heads;
                heads.log = heads.log.max(position);
                if rules_changed {
                    heads.rules = heads.rules.max(position);
                }
                *heads != before
            });
        }
    }

    /// A receiver of the head.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// A receiver of the position of the last commit that changed rule sets or modules.
    pub fn subscribe_rules(&self) -> watch::Receiver<i64> {
        self.rules.subscribe()
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

    /// Number of live subscribers of the head.
    pub fn subscribers(&self) -> usize {
        self.head.receiver_count()
    }
}

/// Raises a position; receivers wake only when it grew.
fn raise(position: &watch::Sender<i64>, to: i64) {
    position.send_if_modified(|p| {
        let grew = to > *p;
        *p = (*p).max(to);
        grew
    });
}

/// The publisher task: tells the other instances the newest positions, one round trip at a
/// time, until the [`Fanout`] is dropped. A failed `PUBLISH` is not retried: the others' 5 s
/// polls catch up, and the next commit publishes a newer position anyway.
async fn publish(
    mut conn: redis::aio::ConnectionManager,
    channels: Channels,
    mut pending: watch::Receiver<Heads>,
    mut told: Heads,
) {
    while pending.changed().await.is_ok() {
        let heads = *pending.borrow_and_update();
        // Rules first: a listener that has read a head has read any rules position up to it.
        let mut pipe = redis::pipe();
        if heads.rules > told.rules {
            pipe.publish(&channels.rules, heads.rules).ignore();
        }
        if heads.log > told.log {
            pipe.publish(&channels.events, heads.log).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(error = %e, "could not publish to Redis; other instances catch up on their next poll");
        }
        told = heads;
    }
}

async fn listen(
    client: &redis::Client,
    channels: &Channels,
    log: &watch::Sender<i64>,
    rules: &watch::Sender<i64>,
) -> anyhow::Result<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&[&channels.events, &channels.rules]).await?;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let Ok(position) = message.get_payload::<i64>() else { continue };
        if message.get_channel_name() == channels.rules {
            raise(rules, position);
        }
        raise(log, position);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (bounded, so a lost nudge fails instead of hanging) until `rx` holds at least `want`.
    async fn reaches(rx: &mut watch::Receiver<i64>, want: i64) -> i64 {
        let seen = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|p| *p >= want)).await;
        *seen.expect("the position never arrived").expect("the sender is gone")
    }

    #[tokio::test]
    async fn only_activating_commits_move_the_rules_position() {
        let fanout = Fanout::local(3);
        let (head, rules) = (fanout.subscribe(), fanout.subscribe_rules());
        fanout.published(5, false);
        assert_eq!((*head.borrow(), *rules.borrow()), (5, 3));
        fanout.published(6, true);
        assert_eq!((*head.borrow(), *rules.borrow()), (6, 6));
        // Positions never go back.
        fanout.published(4, true);
        assert_eq!((*head.borrow(), *rules.borrow()), (6, 6));
    }

    #[tokio::test]
    async fn another_instance_hears_the_newest_positions_through_redis() {
        let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let prefix = format!("test:fanout:{}:", uuid::Uuid::now_v7());
        let (a, b) = (
            Fanout::with_redis(&client, &prefix, 0).await.unwrap(),
            Fanout::with_redis(&client, &prefix, 0).await.unwrap(),
        );
        let (mut head, mut rules) = (b.subscribe(), b.subscribe_rules());
        // B's subscription is up once it hears anything: nudge until it does.
        let mut next = 1;
        while tokio::time::timeout(Duration::from_millis(100), head.changed()).await.is_err() {
            a.published(next, false);
            next += 1;
        }
        let start = *head.borrow_and_update();
        // A burst: B ends at the newest position, whatever the burst shared.
        for p in start + 1..=start + 200 {
            a.published(p, false);
        }
        assert_eq!(reaches(&mut head, start + 200).await, start + 200);
        assert_eq!(*rules.borrow(), 0, "no activating commit yet");
        a.published(start + 201, true);
        assert_eq!(reaches(&mut rules, start + 201).await, start + 201);
        // A later ordinary commit: once B has its head, B would have read a rules position too.
        a.published(start + 202, false);
        reaches(&mut head, start + 202).await;
        assert_eq!(*rules.borrow_and_update(), start + 201);
    }
}
