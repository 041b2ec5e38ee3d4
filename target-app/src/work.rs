//! The simulated business logic: a product catalogue behind a slow "database",
//! and an order pipeline (validate, payment, inventory) where one payment in ten
//! takes the slow path, as in the observability tutorials this service mirrors.
//!
//! Every wait is multiplied by [`WorkConfig::scale`], so benchmarks can set it
//! to zero and measure the server alone.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use rand::Rng;
use serde::Serialize;

use crate::spans::Spans;

/// Settings of the simulated work.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkConfig {
    /// Multiplies every simulated wait: 1.0 is realistic, 0.0 is no waiting.
    pub scale: f64,
    /// Share of payments (0..=1) that the simulated provider declines.
    pub payment_failure_rate: f64,
}

impl Default for WorkConfig {
    fn default() -> Self {
        Self {
            scale: 1.0,
            payment_failure_rate: 0.0,
        }
    }
}

/// A product of the catalogue.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Product {
    pub id: u32,
    pub name: &'static str,
    pub price_cents: u32,
}

const NAMES: [&str; 20] = [
    "Laptop",
    "Mouse",
    "Keyboard",
    "Monitor",
    "Headphones",
    "Webcam",
    "Microphone",
    "Desk",
    "Chair",
    "Lamp",
    "Cable",
    "Dock",
    "Tablet",
    "Phone",
    "Charger",
    "Speaker",
    "Router",
    "Drive",
    "Memory",
    "Backpack",
];

/// The in-memory catalogue: ids 1 to 20.
pub fn catalogue() -> Vec<Product> {
    NAMES
        .iter()
        .zip(1u32..)
        .map(|(name, id)| Product {
            id,
            name,
            price_cents: 999 + id * 1_000,
        })
        .collect()
}

/// The attributes of a query on the products table.
fn db_select() -> [KeyValue; 3] {
    [
        KeyValue::new("db.system.name", "sqlite"),
        KeyValue::new("db.operation.name", "SELECT"),
        KeyValue::new("db.collection.name", "products"),
    ]
}

/// Outcome of the payment step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payment {
    Approved,
    Declined,
}

/// The simulated back end.
#[derive(Debug, Clone)]
pub struct Work {
    config: WorkConfig,
    products: Arc<[Product]>,
    spans: Spans,
}

impl Work {
    /// The back end; each step runs in a child span from `spans`.
    pub fn new(config: WorkConfig, spans: Spans) -> Self {
        Self {
            config,
            products: catalogue().into(),
            spans,
        }
    }

    async fn wait(&self, base: Duration) {
        let scaled = base.mul_f64(self.config.scale.max(0.0));
        if !scaled.is_zero() {
            tokio::time::sleep(scaled).await;
        }
    }

    fn between(lo_ms: u64, hi_ms: u64) -> Duration {
        Duration::from_millis(rand::rng().random_range(lo_ms..=hi_ms))
    }

    /// Lists the catalogue (a query of 10-30 ms).
    pub async fn list_products(&self) -> Vec<Product> {
        self.spans
            .child(
                "SELECT products",
                db_select,
                self.wait(Self::between(10, 30)),
            )
            .await;
        self.products.to_vec()
    }

    /// Looks one product up (a query of 10-30 ms).
    pub async fn product(&self, id: u32) -> Option<Product> {
        let attributes = || {
            let [a, b, c] = db_select();
            [
                a,
                b,
                c,
                KeyValue::new("db.query.summary", "SELECT products WHERE id = ?"),
            ]
        };
        self.spans
            .child(
                "SELECT products",
                attributes,
                self.wait(Self::between(10, 30)),
            )
            .await;
        self.products.iter().find(|p| p.id == id).cloned()
    }

    /// Validates an order against the catalogue (1-5 ms).
    pub async fn validate(&self, product_id: u32) -> Option<Product> {
        let attributes = || [KeyValue::new("app.product.id", i64::from(product_id))];
        self.spans
            .child("validate_order", attributes, self.wait(Self::between(1, 5)))
            .await;
        self.products.iter().find(|p| p.id == product_id).cloned()
    }

    /// Charges the order: 20-50 ms, and one payment in ten takes 200-500 ms.
    pub async fn pay(&self, amount_cents: u64) -> Payment {
        let (slow, declined) = {
            let mut rng = rand::rng();
            (
                rng.random_bool(0.1),
                rng.random::<f64>() < self.config.payment_failure_rate,
            )
        };
        let attributes = || {
            [
                KeyValue::new(
                    "app.payment.amount_cents",
                    i64::try_from(amount_cents).unwrap_or(i64::MAX),
                ),
                KeyValue::new("app.payment.slow_path", slow),
                KeyValue::new("app.payment.declined", declined),
            ]
        };
        let wait = if slow {
            Self::between(200, 500)
        } else {
            Self::between(20, 50)
        };
        self.spans
            .child("process_payment", attributes, self.wait(wait))
            .await;
        if declined {
            Payment::Declined
        } else {
            Payment::Approved
        }
    }

    /// Reserves stock (5-15 ms).
    pub async fn reserve(&self, product_id: u32, quantity: u32) {
        let attributes = || {
            [
                KeyValue::new("app.product.id", i64::from(product_id)),
                KeyValue::new("app.order.quantity", i64::from(quantity)),
            ]
        };
        self.spans
            .child(
                "reserve_inventory",
                attributes,
                self.wait(Self::between(5, 15)),
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_unique_ids_one_to_twenty() {
        let c = catalogue();
        assert_eq!(c.len(), 20);
        assert!(c.iter().zip(1u32..).all(|(p, id)| p.id == id));
    }

    // With the clock paused, any sleep advances tokio's clock by exactly its length.
    #[tokio::test(start_paused = true)]
    async fn scale_multiplies_every_wait() {
        let zero = Work::new(WorkConfig::default_zero(), Spans::default());
        let start = tokio::time::Instant::now();
        for _ in 0..50 {
            zero.pay(100).await;
            zero.list_products().await;
            zero.reserve(1, 1).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);

        let real = Work::new(WorkConfig::default(), Spans::default());
        let start = tokio::time::Instant::now();
        real.list_products().await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(10) && waited <= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn declines_follow_the_rate() {
        let w = Work::new(
            WorkConfig {
                scale: 0.0,
                payment_failure_rate: 1.0,
            },
            Spans::default(),
        );
        assert_eq!(w.pay(100).await, Payment::Declined);
        let w = Work::new(WorkConfig::default_zero(), Spans::default());
        assert_eq!(w.pay(100).await, Payment::Approved);
    }

    impl WorkConfig {
        fn default_zero() -> Self {
            Self {
                scale: 0.0,
                ..Self::default()
            }
        }
    }
}
