//! Round-robin counters (and ticket-number sequences): one atomic counter per key.
//!
//! With REDIS_URL, `INCR` on a key shared by every instance; in the embedded default, a map in
//! memory. Either way a counter that does not exist (first use, a Redis restart, `FLUSHALL`) is
//! re-seeded from the event log before it is incremented, so rotation continues where the log
//! says it stood. The log is the fence: the store refuses a counter value already recorded for a
//! role, and the caller takes the next one.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;
use async_trait::async_trait;

/// An atomic counter per key.
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Increments the counter and returns the new value, or `None` if the counter does not
    /// exist (then call [`Counters::seed_and_next`]).
    async fn next(&self, key: &str) -> anyhow::Result<Option<u64>>;
    /// [`Counters::next`] for several keys at once: one round trip where the backing service
    /// allows it (a create takes its ticket number and its round-robin turn together).
    async fn next_many(&self, keys: &[String]) -> anyhow::Result<Vec<Option<u64>>> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.next(key).await?);
        }
        Ok(values)
    }
    /// Raises the counter to at least `seed` (creating it), then increments it.
    async fn seed_and_next(&self, key: &str, seed: u64) -> anyhow::Result<u64>;
    /// The current values of some keys (missing ones are absent).
    async fn current(&self, keys: &[String]) -> anyhow::Result<HashMap<String, u64>>;
    /// Checks the backing service answers.
    async fn ping(&self) -> anyhow::Result<()>;
    /// `memory` or `redis`.
    fn kind(&self) -> &'static str;
}

/// In-process counters: the embedded default, for one instance.
#[derive(Default)]
pub struct MemoryCounters {
    values: Mutex<HashMap<String, u64>>,
}

#[async_trait]
impl Counters for MemoryCounters {
    async fn next(&self, key: &str) -> anyhow::Result<Option<u64>> {
        let mut values = self.values.lock().map_err(|_| anyhow::anyhow!("counter lock poisoned"))?;
        Ok(values.get_mut(key).map(|v| {
            *v = v.saturating_add(1);
            *v
        }))
    }

    async fn seed_and_next(&self, key: &str, seed: u64) -> anyhow::Result<u64> {
        let mut values = self.values.lock().map_err(|_| anyhow::anyhow!("counter lock poisoned"))?;
        let v = values.entry(key.to_owned()).or_insert(seed);
        *v = (*v).max(seed).saturating_add(1);
        Ok(*v)
    }

    async fn current(&self, keys: &[String]) -> anyhow::Result<HashMap<String, u64>> {
        let values = self.values.lock().map_err(|_| anyhow::anyhow!("counter lock poisoned"))?;
        Ok(keys.iter().filter_map(|k| values.get(k).map(|v| (k.clone(), *v))).collect())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// Counters in Redis, shared by every instance. Keys are `{prefix}counter:{key}`.
pub struct RedisCounters {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    next_many: redis::Script,
    seed: redis::Script,
}

impl RedisCounters {
    /// Connects.
    pub async fn connect(client: &redis::Client, prefix: &str) -> anyhow::Result<Self> {
        let conn = redis::aio::ConnectionManager::new(client.clone()).await.context("connecting to Redis")?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            // INCR each key only if it exists: a missing key must be re-seeded from the log
            // first. One round trip for every key, atomic as a whole.
            next_many: redis::Script::new(
                "local values = {}
                 for i, key in ipairs(KEYS) do
                   if redis.call('EXISTS', key) == 1 then values[i] = redis.call('INCR', key) else values[i] = false end
                 end
                 return values",
            ),
            seed: redis::Script::new(
                "local v = tonumber(redis.call('GET', KEYS[1]) or '0')
                 if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
                 return redis.call('INCR', KEYS[1])",
            ),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}counter:{key}", self.prefix)
    }
}

#[async_trait]
impl Counters for RedisCounters {
    async fn next(&self, key: &str) -> anyhow::Result<Option<u64>> {
        Ok(self.next_many(&[key.to_owned()]).await?.into_iter().next().flatten())
    }

    async fn next_many(&self, keys: &[String]) -> anyhow::Result<Vec<Option<u64>>> {
        let mut invocation = self.next_many.prepare_invoke();
        for key in keys {
            invocation.key(self.key(key));
        }
        let mut conn = self.conn.clone();
        let values: Vec<Option<u64>> = invocation.invoke_async(&mut conn).await.context("Redis INCR")?;
        anyhow::ensure!(values.len() == keys.len(), "Redis answered {} counters for {} keys", values.len(), keys.len());
        Ok(values)
    }

    async fn seed_and_next(&self, key: &str, seed: u64) -> anyhow::Result<u64> {
        let mut conn = self.conn.clone();
        Ok(self.seed.key(self.key(key)).arg(seed).invoke_async(&mut conn).await.context("Redis seed")?)
    }

    async fn current(&self, keys: &[String]) -> anyhow::Result<HashMap<String, u64>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.conn.clone();
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let values: Vec<Option<u64>> = redis::cmd("MGET").arg(&full).query_async(&mut conn).await?;
        Ok(keys.iter().zip(values).filter_map(|(k, v)| v.map(|v| (k.clone(), v))).collect())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the service relies on, for either implementation: a missing key answers `None`
    /// and stays missing (the caller seeds it from the log), `next_many` answers per key.
    async fn keeps_the_contract(counters: &dyn Counters) {
        let keys = ["a", "b", "c"].map(String::from);
        assert_eq!(counters.next_many(&keys).await.unwrap(), vec![None, None, None]);
        assert_eq!(counters.seed_and_next("a", 10).await.unwrap(), 11);
        assert_eq!(counters.seed_and_next("c", 0).await.unwrap(), 1);
        // A seed below the counter does not lower it.
        assert_eq!(counters.seed_and_next("c", 0).await.unwrap(), 2);
        assert_eq!(counters.next_many(&keys).await.unwrap(), vec![Some(12), None, Some(3)]);
        assert_eq!(counters.next("b").await.unwrap(), None);
        let current = counters.current(&keys).await.unwrap();
        assert_eq!(current, HashMap::from([("a".to_owned(), 12), ("c".to_owned(), 3)]));
        assert_eq!(counters.next_many(&[]).await.unwrap(), Vec::<Option<u64>>::new());
    }

    #[tokio::test]
    async fn memory_counters_keep_the_contract() {
        keeps_the_contract(&MemoryCounters::default()).await;
    }

    #[tokio::test]
    async fn redis_counters_keep_the_contract() {
        let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let prefix = format!("test:counters:{}:", uuid::Uuid::now_v7());
        keeps_the_contract(&RedisCounters::connect(&client, &prefix).await.unwrap()).await;
    }
}
