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

use crate::faults::{Faults, Step};
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
    /// The live fault plan: its step faults slow a step inside its span.
    faults: Faults,
}

/// The attribute a step's span carries when a step fault slowed it: the
/// injected latency in milliseconds.
pub const FAULT_ATTRIBUTE: &str = "app.fault.latency_ms";

impl Work {
    /// The back end; each step runs in a child span from `spans`.
    pub fn new(config: WorkConfig, spans: Spans, faults: Faults) -> Self {
        Self {
            config,
            products: catalogue().into(),
            spans,
            faults,
        }
    }

    /// The step fault latency this run of `step` draws, if any.
    fn fault(&self, step: Step) -> Option<Duration> {
        let plan = self.faults.current();
        if plan.steps.is_empty() {
            return None;
        }
        plan.step_delay(step, &mut rand::rng())
    }

    /// Runs one step in a child span named `name` with `attributes`: the
    /// simulated wait `base` (scaled) and a step fault's latency (not
    /// scaled: it is the fault's), marked on the span.
    async fn step<A>(
        &self,
        name: &'static str,
        step: Step,
        attributes: impl FnOnce() -> A,
        base: Duration,
    ) where
        A: IntoIterator<Item = KeyValue>,
    {
        let extra = self.fault(step);
        let attributes = move || {
            attributes().into_iter().chain(extra.map(|d| {
                KeyValue::new(
                    FAULT_ATTRIBUTE,
                    i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
                )
            }))
        };
        let work = async {
            self.wait(base).await;
            if let Some(d) = extra {
                tokio::time::sleep(d).await;
            }
        };
        self.spans.child(name, attributes, work).await;
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
        self.step(
            "SELECT products",
            Step::Select,
            db_select,
            Self::between(10, 30),
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
        self.step(
            "SELECT products",
            Step::Select,
            attributes,
            Self::between(10, 30),
        )
        .await;
        self.products.iter().find(|p| p.id == id).cloned()
    }

    /// Validates an order against the catalogue (1-5 ms).
    pub async fn validate(&self, product_id: u32) -> Option<Product> {
        let attributes = || [KeyValue::new("app.product.id", i64::from(product_id))];
        self.step(
            "validate_order",
            Step::Validate,
            attributes,
            Self::between(1, 5),
        )
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
        self.step("process_payment", Step::Payment, attributes, wait)
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
        self.step(
            "reserve_inventory",
            Step::Inventory,
            attributes,
            Self::between(5, 15),
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
        let zero = Work::new(
            WorkConfig::default_zero(),
            Spans::default(),
            Faults::default(),
        );
        let start = tokio::time::Instant::now();
        for _ in 0..50 {
            zero.pay(100).await;
            zero.list_products().await;
            zero.reserve(1, 1).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);

        let real = Work::new(WorkConfig::default(), Spans::default(), Faults::default());
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
            Faults::default(),
        );
        assert_eq!(w.pay(100).await, Payment::Declined);
        let w = Work::new(
            WorkConfig::default_zero(),
            Spans::default(),
            Faults::default(),
        );
        assert_eq!(w.pay(100).await, Payment::Approved);
    }

    // A step fault slows its step only, by its latency (not scaled), for
    // its share of the runs.
    #[tokio::test(start_paused = true)]
    async fn a_step_fault_slows_its_step_for_its_share() {
        let faults = Faults::default();
        let w = Work::new(WorkConfig::default_zero(), Spans::default(), faults.clone());
        faults.set(crate::faults::FaultPlan {
            steps: vec![crate::faults::StepFault {
                step: Step::Payment,
                share: 1.0,
                latency: Duration::from_millis(200),
            }],
            ..Default::default()
        });
        let start = tokio::time::Instant::now();
        w.pay(100).await;
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        let start = tokio::time::Instant::now();
        w.reserve(1, 1).await;
        w.validate(1).await;
        w.list_products().await;
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "other steps are not slowed"
        );
        faults.set(crate::faults::FaultPlan {
            steps: vec![crate::faults::StepFault {
                step: Step::Inventory,
                share: 0.25,
                latency: Duration::from_millis(100),
            }],
            ..Default::default()
        });
        let start = tokio::time::Instant::now();
        for _ in 0..2000 {
            w.reserve(1, 1).await;
        }
        let hit = start.elapsed().as_millis() / 100;
        assert!((400..600).contains(&hit), "{hit} of 2000 runs slowed");
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
