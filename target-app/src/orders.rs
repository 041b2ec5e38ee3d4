//! The orders the service accepted, kept so `GET /api/orders/{id}` can read
//! them back: a bounded store that forgets the oldest order first.
//!
//! One mutex over a map and an insertion queue: an insert or a lookup holds it
//! for a hash-map operation, and the store never holds more than its capacity
//! (memory is allocated as orders arrive, not up front).

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use uuid::Uuid;

/// Orders kept by default (`--order-store-size`).
pub const DEFAULT_ORDER_STORE_SIZE: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

/// Largest store the command line accepts (`--order-store-size`).
pub const MAX_ORDER_STORE_SIZE: u32 = 1_000_000;

/// An accepted order: the answer to `POST /api/orders`, and to
/// `GET /api/orders/{id}` while the store still holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub order_id: Uuid,
    pub product_id: u32,
    pub quantity: u32,
    pub total_cents: u64,
    pub status: &'static str,
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The store grew by one.
    Added,
    /// The oldest order was forgotten to make room: the store did not grow.
    Evicted,
    /// An order with the same id was replaced: the store did not grow.
    Replaced,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<Uuid, Order>,
    /// Ids in insertion order, oldest first; the same ids as `by_id`.
    age: VecDeque<Uuid>,
}

/// At most `capacity` orders, the oldest evicted first (by insertion).
#[derive(Debug)]
pub struct OrderStore {
    capacity: NonZeroUsize,
    inner: Mutex<Inner>,
}

impl Default for OrderStore {
    fn default() -> Self {
        Self::new(DEFAULT_ORDER_STORE_SIZE)
    }
}

impl OrderStore {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The most orders the store holds.
    pub fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }

    /// The lock; a panic while it was held cannot leave the map and the
    /// queue out of step (each operation changes them together or not at
    /// all), so a poisoned lock is still used.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores `order`, evicting the oldest one when the store is full. An
    /// order whose id is already stored replaces it and keeps its age.
    pub fn insert(&self, order: Order) -> Inserted {
        let mut inner = self.lock();
        let id = order.order_id;
        if let Some(slot) = inner.by_id.get_mut(&id) {
            *slot = order;
            return Inserted::Replaced;
        }
        let mut done = Inserted::Added;
        if inner.by_id.len() >= self.capacity.get()
            && let Some(oldest) = inner.age.pop_front()
        {
            inner.by_id.remove(&oldest);
            done = Inserted::Evicted;
        }
        inner.by_id.insert(id, order);
        inner.age.push_back(id);
        done
    }

    /// The order with `id`, unless it is unknown or was evicted.
    pub fn get(&self, id: &Uuid) -> Option<Order> {
        self.lock().by_id.get(id).cloned()
    }

    /// Orders held now.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(n: u128) -> Order {
        Order {
            order_id: Uuid::from_u128(n),
            product_id: 1,
            quantity: u32::try_from(n % 100).unwrap() + 1,
            total_cents: 100,
            status: "confirmed",
        }
    }

    fn size(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    #[test]
    fn the_oldest_order_is_evicted_first() {
        let store = OrderStore::new(size(3));
        for n in 1..=3 {
            assert_eq!(store.insert(order(n)), Inserted::Added);
        }
        // Reading an order does not make it younger: eviction is by insertion.
        assert_eq!(store.get(&Uuid::from_u128(1)), Some(order(1)));
        for n in 4..=5 {
            assert_eq!(store.insert(order(n)), Inserted::Evicted);
        }
        let held: Vec<u128> = (1..=5)
            .filter(|&n| store.get(&Uuid::from_u128(n)).is_some())
            .collect();
        assert_eq!(held, [3, 4, 5]);
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn a_store_of_one_keeps_the_last_order() {
        let store = OrderStore::new(size(1));
        assert!(store.is_empty());
        assert_eq!(store.insert(order(1)), Inserted::Added);
        assert_eq!(store.insert(order(2)), Inserted::Evicted);
        assert_eq!(store.get(&Uuid::from_u128(1)), None);
        assert_eq!(store.get(&Uuid::from_u128(2)), Some(order(2)));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_repeated_id_replaces_without_growing_or_evicting() {
        let store = OrderStore::new(size(2));
        store.insert(order(1));
        store.insert(order(2));
        let mut again = order(1);
        again.quantity = 42;
        assert_eq!(store.insert(again.clone()), Inserted::Replaced);
        assert_eq!(store.get(&Uuid::from_u128(1)), Some(again));
        // Order 1 kept its age: it is the next to go.
        assert_eq!(store.insert(order(3)), Inserted::Evicted);
        assert_eq!(store.get(&Uuid::from_u128(1)), None);
        assert!(store.get(&Uuid::from_u128(2)).is_some());
        // The queue holds each id once, so the store stays at its capacity.
        let inner = store.lock();
        assert_eq!((inner.by_id.len(), inner.age.len()), (2, 2));
    }

    #[test]
    fn many_inserts_stay_bounded() {
        let store = OrderStore::new(size(100));
        let evicted = (0..10_000)
            .filter(|&n| store.insert(order(n)) == Inserted::Evicted)
            .count();
        assert_eq!(evicted, 10_000 - 100);
        let inner = store.lock();
        assert_eq!((inner.by_id.len(), inner.age.len()), (100, 100));
        assert!(inner.by_id.contains_key(&Uuid::from_u128(9_999)));
        assert!(!inner.by_id.contains_key(&Uuid::from_u128(9_899)));
        assert!(inner.by_id.contains_key(&Uuid::from_u128(9_900)));
    }
}
